/**
 * Scope arithmetic for minted tokens. A scope is `<tool>:<action>` or `<tool>:*`; `tool:*` covers
 * every action of the tool, and is itself covered only by `tool:*`. A token's scope is what every
 * limit in force covers: the agent's ceiling, and on an exchange the subject token's scope.
 */
import type { ToolRoute } from '../config/compile.js';
import { OAuthError, type TokenReason } from './oauth-errors.js';

const SCOPE = /^[A-Za-z0-9][A-Za-z0-9._-]*:([a-z]+|\*)$/;
const MAX_SCOPES = 64;

export function covers(have: ReadonlySet<string>, want: string): boolean {
  if (have.has(want)) return true;
  return !want.endsWith(':*') && have.has(`${want.slice(0, want.indexOf(':'))}:*`);
}

/** The `scope` parameter (RFC 6749 §3.3), each entry a tool of the catalogue. */
export function parseRequestedScope(param: string | undefined, tools: ReadonlyMap<string, ToolRoute>): string[] | undefined {
  if (param === undefined) return undefined;
  const list = [...new Set(param.split(' ').filter(Boolean))];
  if (list.length === 0) return undefined;
  if (list.length > MAX_SCOPES) throw new OAuthError('scope_invalid', `At most ${MAX_SCOPES} scopes may be requested.`);
  for (const s of list) {
    if (!SCOPE.test(s)) throw new OAuthError('scope_invalid', `${JSON.stringify(s.slice(0, 64))} is not a scope of the form <tool>:<action> or <tool>:*.`);
    if (!tools.has(s.slice(0, s.indexOf(':')))) throw new OAuthError('scope_invalid', `Scope ${JSON.stringify(s)} names a tool this gateway does not know.`);
  }
  return list;
}

export interface ScopeLimit {
  readonly scopes: ReadonlySet<string>;
  /** The refusal when a requested scope lies outside this limit. */
  readonly reason: TokenReason;
  readonly what: string;
}

/**
 * The scopes to grant: the requested ones when every limit covers each (else refused, naming the
 * first it fails), or without a request every scope that all limits cover.
 */
export function grantScopes(requested: readonly string[] | undefined, limits: readonly ScopeLimit[]): string[] {
  if (requested !== undefined) {
    for (const s of requested) {
      const failed = limits.find((l) => !covers(l.scopes, s));
      if (failed) throw new OAuthError(failed.reason, `Scope ${JSON.stringify(s)} is beyond ${failed.what}.`);
    }
    return [...requested].sort();
  }
  const candidates = new Set(limits.flatMap((l) => [...l.scopes]));
  const granted = [...candidates].filter((s) => limits.every((l) => covers(l.scopes, s)));
  if (granted.length === 0) throw new OAuthError(limits[0]?.reason ?? 'scope_invalid', `No scope is left within ${limits.map((l) => l.what).join(' and ')}.`);
  return granted.sort();
}
