/**
 * A tool's `capture` rules: what an approval records of a held call's content for the human who
 * decides. JSON pointers (RFC 6901) are split into reference tokens once, here.
 */
import { ConfigError } from './load.js';
import { requireSize } from './units.js';
import type { RawConfig } from './schema.js';

export interface CaptureRules {
  /** Pointers to keep (as reference tokens); undefined: everything. */
  readonly fields?: readonly (readonly string[])[];
  readonly mask: readonly (readonly string[])[];
  readonly maxBytes: number;
}

const DEFAULT_MAX = 16 * 1024;

export function compileCapture(raw: RawConfig['tools'][string]['capture'], at: string): CaptureRules {
  if (!raw) return { mask: [], maxBytes: DEFAULT_MAX };
  const maxBytes = requireSize(raw.max_bytes, `${at}.max_bytes`);
  if (maxBytes > 1024 * 1024) throw new ConfigError(`${at}.max_bytes`, 'must be at most 1mb: approvals are kept in the state store');
  return { fields: raw.fields?.map(pointerTokens), mask: raw.mask.map(pointerTokens), maxBytes };
}

/** RFC 6901: "/a/b~1c/~0d" → ["a", "b/c", "~d"]; "" → [] (the whole document). */
export function pointerTokens(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer.slice(1).split('/').map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}
