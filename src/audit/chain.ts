/**
 * The hash chain (SPEC "Audit"): `hash = SHA-256(prev + "\n" + canonical JSON of the event without
 * hash)`, canonical JSON per RFC 8785, lower-case hex. The first record of a chain has `prev` = 64
 * zeros; a new file continues from the last hash of the one before, and a restarted gateway
 * continues its chain.
 *
 * Two implementations of RFC 8785 cross-check each other: the writer's own (`canonical`, below) and
 * the maintained `canonicalize` package, which `audit verify` uses to recompute every hash. The
 * writer's exists for speed: the package took 14 µs per event, a third of the audit trail's cost
 * (bench, 2026-11-23); this one relies on JSON.stringify, whose string and number forms are exactly
 * RFC 8785's (§3.2.2), and only adds the key ordering. test/audit/canonical.test.ts compares the two.
 */
import * as cryptoModule from 'node:crypto';
import { createHash } from 'node:crypto';

export const GENESIS = '0'.repeat(64);


/** A record as written: the event plus its place in the chain. */
export interface AuditRecord {
  readonly v: number;
  readonly seq: number;
  readonly ts: string;
  readonly chain: string;
  readonly prev: string;
  readonly hash: string;
  readonly type: string;
  readonly [field: string]: unknown;
}

/**
 * Set (to true) on an event object by a builder that vouches for all of it: every key, at every
 * depth, in code-unit order and none integer-like, every number finite — src/audit/events.ts does
 * for a call without captured content. The writer then skips the walk that checks it (`inOrder`,
 * ≈ 1% of the gateway's CPU) and serialises at once; JSON.stringify and Object.keys ignore symbol
 * keys, so the mark is never written. test/audit/events.test.ts holds every marked shape to the
 * canonicalize package.
 */
export const IN_ORDER: unique symbol = Symbol('portcullis.audit.in-order');

/** RFC 8785 canonical JSON: object keys ordered by UTF-16 code units, ES number and string forms. */
export function canonical(value: unknown): string {
  // Fast path: a value whose keys are already in order is its own canonical form for JSON.stringify.
  // src/audit/events.ts builds its objects in key order so that this is the common case.
  if (inOrder(value)) return JSON.stringify(value);
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new Error('RFC 8785 has no form for NaN or Infinity');
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) out += (i ? ',' : '') + (value[i] === undefined ? 'null' : canonical(value[i]));
        return out + ']';
      }
      // Explicit sort: JavaScript lists integer-like keys first whatever their code units say.
      const keys = Object.keys(value).sort();
      let out = '{';
      let first = true;
      for (const k of keys) {
        const v = (value as Record<string, unknown>)[k];
        if (v === undefined) continue;
        out += (first ? '' : ',') + JSON.stringify(k) + ':' + canonical(v);
        first = false;
      }
      return out + '}';
    }
    default:
      throw new Error(`RFC 8785 has no form for a ${typeof value}`);
  }
}

function inOrder(value: unknown): boolean {
  if (typeof value === 'number') return Number.isFinite(value);
  if (typeof value !== 'object' || value === null) return typeof value === 'string' || typeof value === 'boolean' || value === null;
  if (Array.isArray(value)) {
    for (const v of value) if (v !== undefined && !inOrder(v)) return false;
    return true;
  }
  const keys = Object.keys(value);
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    // An integer-like key is listed first by JavaScript whatever its code units: take the slow path.
    const c = k.charCodeAt(0);
    if (c >= 48 && c <= 57) return false;
    if (i > 0 && !(keys[i - 1]! < k)) return false;
    const v = (value as Record<string, unknown>)[k];
    if (v !== undefined && !inOrder(v)) return false;
  }
  return true;
}

/** One-shot SHA-256, lower-case hex (crypto.hash, Node ≥ 20.12, where available: no Hash object per call). */
export const sha256Hex: (data: string | Buffer) => string =
  typeof (cryptoModule as { hash?: unknown }).hash === 'function'
    ? (data) => (cryptoModule as unknown as { hash(alg: string, data: string | Buffer, enc: 'hex'): string }).hash('sha256', data, 'hex')
    : (data) => createHash('sha256').update(data).digest('hex');

/** The hash of a record, computed over every field except `hash`. */
export function recordHash(record: Record<string, unknown>, canonicalise: (v: unknown) => string = canonical): string {
  const { hash: _ignored, ...rest } = record;
  return createHash('sha256').update(`${String(record.prev)}\n${canonicalise(rest)}`).digest('hex');
}

/** Appends `fields` to the chain: assigns seq, prev and hash. Synchronous, so order is append order. */
export class ChainState {
  constructor(
    readonly chain: string,
    private seqValue: number,
    private prevValue: string,
  ) {}

  get seq(): number {
    return this.seqValue;
  }

  get head(): string {
    return this.prevValue;
  }

  /**
   * Returns the record's seq and its line: the canonical JSON of the event with `hash` appended
   * (valid JSON, written as is). Takes ownership of `fields`: the chain fields are set on it. An
   * event built with every key in code-unit order, the chain's included (src/audit/events.ts does,
   * with null placeholders), serialises in one native JSON.stringify; any other takes the sorting path.
   */
  seal(type: string, fields: Record<string, unknown>, ts: string): { seq: number; line: string } {
    const seq = this.seqValue + 1;
    fields.chain = this.chain;
    fields.prev = this.prevValue;
    fields.seq = seq;
    fields.ts = ts;
    fields.type = type;
    fields.v = 1;
    delete fields.hash;
    const json = (fields as { [IN_ORDER]?: boolean })[IN_ORDER] === true ? JSON.stringify(fields) : canonical(fields);
    const hash = sha256Hex(`${this.prevValue}\n${json}`);
    this.seqValue = seq;
    this.prevValue = hash;
    return { seq, line: `${json.slice(0, -1)},"hash":"${hash}"}` };
  }
}
