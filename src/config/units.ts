/** Parsers for the human units gateway.yaml uses: durations (`250ms`, `5s`, `15m`, `1h`) and sizes (`64kb`, `1mb`). */
import { ConfigError } from './load.js';

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;
const DURATION_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

const SIZE = /^(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib)?$/i;
const SIZE_BYTES: Record<string, number> = {
  b: 1, kb: 1_000, kib: 1_024, mb: 1_000_000, mib: 1_048_576, gb: 1_000_000_000, gib: 1_073_741_824,
};

/** Milliseconds for a duration string, or undefined when it is not one. A bare number is seconds. */
export function parseDuration(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value * 1_000 : undefined;
  const m = DURATION.exec(value.trim());
  if (!m) return undefined;
  return Math.round(Number(m[1]) * (DURATION_MS[m[2]!] ?? NaN));
}

/** Bytes for a size string, or undefined when it is not one. A bare number is bytes. */
export function parseSize(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 ? value : undefined;
  const m = SIZE.exec(value.trim());
  if (!m) return undefined;
  return Math.floor(Number(m[1]) * (SIZE_BYTES[(m[2] ?? 'b').toLowerCase()] ?? NaN));
}

/** A duration config value in ms, or a ConfigError naming the key path. */
export function requireDuration(v: string | number, at: string): number {
  const ms = parseDuration(v);
  if (ms === undefined) throw new ConfigError(at, `is not a duration like 500ms, 5s, 15m or 1h (got ${JSON.stringify(v)})`);
  return ms;
}

/** A size config value in bytes, or a ConfigError naming the key path. */
export function requireSize(v: string | number, at: string): number {
  const b = parseSize(v);
  if (b === undefined) throw new ConfigError(at, `is not a size like 64kb or 1mb (got ${JSON.stringify(v)})`);
  return b;
}
