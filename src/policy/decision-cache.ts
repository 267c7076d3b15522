/**
 * Decisions remembered by the parts of the input the policy reads (input-reads.ts). A compiled
 * policy is a pure function of its input and the bundle's data, so two calls whose read parts are
 * equal get the same decision: the second is answered from here, without the wasm evaluation
 * (≈ 17 µs in a tight loop, ≈ 30 µs inside the loaded gateway; docs/performance.md).
 *
 * The shipped policy reads `context.time` (elevations expire), which is in whole seconds, so an
 * entry serves at most the second it was made in; it does not read the record ids in the path, so
 * an agent reading a thousand contacts in one second costs one evaluation. One cache per loaded
 * bundle: a reload starts empty. A bundle without the manifest metadata `portcullis policy build`
 * writes, or whose policy calls an impure builtin, is never cached.
 */
import { LRUCache } from 'lru-cache';
import type { Decision } from '../pipeline/context.js';
import type { PolicyInput } from './input.js';
import type { InputReads } from './input-reads.js';

/** Keys past this length (large MCP arguments) are evaluated every time rather than kept. */
const MAX_KEY_CHARS = 4096;

export interface DecisionCache {
  /** The cache key for this input, or undefined when this input is not cached. */
  key(input: PolicyInput): string | undefined;
  get(key: string): Decision | undefined;
  set(key: string, decision: Decision): void;
  readonly size: () => number;
}

export function createDecisionCache(reads: InputReads, maxEntries: number): DecisionCache | undefined {
  if (reads.impure.length > 0) return undefined;
  const paths = reads.paths;
  const cache = new LRUCache<string, Decision>({ max: maxEntries });
  // The read parts, in a fixed order, serialised in one JSON.stringify (one call per part and their
  // concatenation cost ≈ 20% more instructions per key and lookup, counted under callgrind). JSON
  // writes an absent part as null, so the indexes of the absent ones go first ("3,9,", digits and
  // commas, before the array's "["): distinct inputs never share a key, and null stays apart from absent.
  const key = paths === null
    ? (input: PolicyInput) => JSON.stringify(input)
    : (input: PolicyInput) => {
        const values: unknown[] = []; // packed, not `new Array(n)`: JSON.stringify walks a holey array slowly
        let absent = '';
        for (let i = 0; i < paths.length; i++) {
          const v = at(input, paths[i]!);
          if (v === undefined) absent += `${i},`;
          values.push(v);
        }
        return absent + JSON.stringify(values);
      };
  return {
    key(input) {
      const k = key(input);
      return k.length <= MAX_KEY_CHARS ? k : undefined;
    },
    get: (k) => cache.get(k),
    set: (k, d) => void cache.set(k, d),
    size: () => cache.size,
  };
}

function at(value: unknown, path: readonly string[]): unknown {
  let v = value;
  for (const k of path) {
    if (v === null || typeof v !== 'object' || Array.isArray(v) || !Object.hasOwn(v, k)) return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  return v;
}
