import canonicalize from 'canonicalize';
import { describe, expect, it } from 'vitest';
import { canonical } from '../../src/audit/chain.js';

// A seeded generator of JSON values with the awkward parts of RFC 8785: integer-like and non-ASCII
// keys, escapes, astral characters, exponents, negative zero, nesting.
function rng(seed: number) {
  return () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
}
const KEYS = ['a', 'b', 'B', '10', '9', '0', '€', 'é', 'ö', '\u0000', 'key with space', '🔑', 'a\nb', '\\', '"', 'hash', 'seq', '\u007f'];
const STRINGS = ['', 'plain', 'tab\there', 'quote"', 'back\\slash', 'ctl\u0001', 'é€🔑', '\u2028\u2029', '</script>'];
const NUMBERS = [0, -0, 1, -1, 1.5, 1e21, 1e-7, 123456789012345680000, 0.1 + 0.2, 2 ** 53, -1e-300, 5e-324];

function value(r: () => number, depth: number): unknown {
  const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)]!;
  const k = r();
  if (depth > 3 || k < 0.3) return pick<unknown>([...STRINGS, ...NUMBERS, true, false, null]);
  if (k < 0.6) return Array.from({ length: Math.floor(r() * 4) }, () => value(r, depth + 1));
  const o: Record<string, unknown> = {};
  for (let i = Math.floor(r() * 6); i > 0; i--) o[pick(KEYS)] = value(r, depth + 1);
  return o;
}

describe("the writer's RFC 8785 canonical JSON", () => {
  it('matches the canonicalize package on 5,000 generated values', () => {
    const r = rng(42);
    for (let i = 0; i < 5000; i++) {
      const v = value(r, 0);
      expect(canonical(v)).toBe(canonicalize(v));
    }
  });

  it('orders integer-like keys by code units, not numerically', () => {
    expect(canonical({ 10: 'a', 9: 'b', a: 1 })).toBe('{"10":"a","9":"b","a":1}');
  });

  it('refuses NaN and Infinity rather than writing null', () => {
    expect(() => canonical({ x: Number.NaN })).toThrow(/NaN/);
    expect(() => canonical([Infinity])).toThrow();
  });
});
