/**
 * The hash chain (SPEC "Audit"): `hash = SHA-256(prev + "\n" + canonical JSON of the event without
 * hash)`, canonical JSON per RFC 8785 (the maintained `canonicalize` package), lower-case hex. The
 * first record of a chain has `prev` = 64 zeros; a new file continues from the last hash of the one
 * before, and a restarted gateway continues its chain.
 */
import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';

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

export function canonical(value: unknown): string {
  const out = canonicalize(value);
  if (out === undefined) throw new Error('cannot canonicalise an undefined value');
  return out;
}

/** The hash of a record, computed over every field except `hash`. */
export function recordHash(record: Record<string, unknown>): string {
  const { hash: _ignored, ...rest } = record;
  return createHash('sha256').update(`${String(record.prev)}\n${canonical(rest)}`).digest('hex');
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

  seal(type: string, fields: Record<string, unknown>, ts: string): AuditRecord {
    const seq = this.seqValue + 1;
    const base = { v: 1, seq, ts, chain: this.chain, prev: this.prevValue, type, ...fields };
    const hash = createHash('sha256').update(`${this.prevValue}\n${canonical(base)}`).digest('hex');
    this.seqValue = seq;
    this.prevValue = hash;
    return { ...base, hash } as AuditRecord;
  }
}
