/**
 * `portcullis audit verify`: checks every chain across its files, the checkpoints in the log and
 * those kept apart (checkpoints.jsonl), and reports the first bad record precisely. It detects a
 * changed byte (hash), an inserted, deleted or reordered record (seq and prev), a truncated tail
 * (a checkpoint signs a seq the log no longer has) and a forged checkpoint (signature). A torn last
 * line from a crash is reported as such, not as tampering; records after the last checkpoint are
 * reported as not yet anchored.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import canonicalize from 'canonicalize';
import { GENESIS, recordHash, type AuditRecord } from './chain.js';
import { verifyCheckpoint, type CheckpointStatement } from './checkpoint-key.js';
import { readLines, type ParsedLine } from './log-files.js';

export interface VerifyProblem {
  readonly file: string;
  readonly line: number;
  readonly seq: number | null;
  readonly problem: string;
}

export interface ChainSummary {
  readonly chain: string;
  readonly first: number;
  readonly last: number;
  readonly records: number;
  readonly files: number;
  readonly lastCheckpoint: number | null;
  readonly unanchored: number;
}

export interface VerifyReport {
  readonly ok: boolean;
  readonly error?: VerifyProblem;
  readonly warnings: readonly string[];
  readonly chains: readonly ChainSummary[];
  readonly signaturesChecked: boolean;
}

type SignedCheckpoint = CheckpointStatement & { kid: string; signature: string };

class Failure extends Error {
  constructor(readonly detail: VerifyProblem) {
    super(detail.problem);
  }
}

export function loadVerificationKeys(path: string): Map<string, KeyObject> {
  const text = readFileSync(path, 'utf8');
  const keys = new Map<string, KeyObject>();
  if (text.trimStart().startsWith('{')) {
    const jwks = JSON.parse(text) as { keys?: ({ kid?: string } & Record<string, unknown>)[] };
    for (const jwk of jwks.keys ?? []) if (jwk.kid) keys.set(jwk.kid, createPublicKey({ key: jwk as never, format: 'jwk' }));
  } else {
    const key = createPublicKey(text);
    keys.set('*', key);
  }
  return keys;
}

export function verifyAudit(inputs: readonly string[], keys?: ReadonlyMap<string, KeyObject>): VerifyReport {
  const warnings: string[] = [];
  const files = new Set(inputs.map((f) => resolve(f)));
  // Checkpoints kept apart from the log are used whenever they sit next to it.
  for (const f of [...files]) {
    const cp = join(dirname(f), 'checkpoints.jsonl');
    if (existsSync(cp)) files.add(cp);
  }
  const checkpointFiles = [...files].filter((f) => basename(f) === 'checkpoints.jsonl');
  const logFiles = [...files].filter((f) => basename(f) !== 'checkpoints.jsonl');

  const external: (SignedCheckpoint & { file: string; line: number })[] = [];
  for (const f of checkpointFiles) {
    for (const l of readLines(f)) {
      if (l.record) external.push({ ...(l.record as unknown as SignedCheckpoint), file: f, line: l.line });
      else if (!l.torn) return fail({ file: f, line: l.line, seq: null, problem: `checkpoint line is ${l.error}` });
    }
  }

  // A family is one writer's files: the live file and its rotations (`<live>.<first seq>`), in order.
  const families = new Map<string, string[]>();
  for (const f of logFiles) {
    const key = f.replace(/\.\d{12}$/, '');
    families.set(key, [...(families.get(key) ?? []), f]);
  }
  const walked: ChainWalk[] = [];
  try {
    for (const [live, files] of families) {
      files.sort((a, b) => (a === live ? 1 : b === live ? -1 : a.localeCompare(b)));
      walked.push(...walkFamily(files, keys, warnings));
    }
    const chains = walked.map((w) => finishChain(w, external.filter((c) => c.chain === w.chain), keys));
    return { ok: true, warnings, chains, signaturesChecked: keys !== undefined };
  } catch (err) {
    if (err instanceof Failure) return { ok: false, error: err.detail, warnings, chains: [], signaturesChecked: keys !== undefined };
    throw err;
  }

  function fail(problem: VerifyProblem): VerifyReport {
    return { ok: false, error: problem, warnings, chains: [], signaturesChecked: keys !== undefined };
  }
}

interface ChainWalk {
  chain: string;
  first: number;
  last: number;
  lastHash: string;
  records: number;
  files: Set<string>;
  lastCheckpoint: number | null;
  /** Non-checkpoint records so far, and that count at each seq (for "not yet anchored" and external checkpoints). */
  events: number;
  at: Map<number, { hash: string; events: number }>;
}

/** Walks one writer's files in order; a new chain may start only at seq 1 from 64 zeros. */
function walkFamily(files: string[], keys: ReadonlyMap<string, KeyObject> | undefined, warnings: string[]): ChainWalk[] {
  const chains: ChainWalk[] = [];
  let w: ChainWalk | undefined;
  files.forEach((file, fi) => {
    const lines = [...readLines(file)];
    lines.forEach((l: ParsedLine, li) => {
      const at = (seq: number | null, problem: string) => new Failure({ file, line: l.line, seq, problem });
      if (!l.record) {
        if (l.torn) {
          const lastOfAll = fi === files.length - 1 && li === lines.length - 1;
          warnings.push(`${file}:${l.line}: torn last line (a write cut short by a crash)${lastOfAll ? '' : '; the chain continues intact in the next file'}`);
          return;
        }
        throw at(null, `line is ${l.error} (edited or corrupted)`);
      }
      const r = l.record;
      const seq = typeof r.seq === 'number' && Number.isInteger(r.seq) ? r.seq : null;
      if (seq === null) throw at(null, 'record has no valid seq');
      if (typeof r.chain !== 'string') throw at(seq, 'record has no chain id');
      const startsChain = seq === 1 && r.prev === GENESIS;
      if (w === undefined || (startsChain && r.chain !== w.chain)) {
        if (w === undefined && !startsChain) {
          if (seq === 1) throw at(seq, 'the first record of a chain must have prev = 64 zeros');
          warnings.push(`chain ${r.chain} starts at seq ${seq} in ${file}: earlier files were not given, so its start is not checked`);
        }
        w = { chain: r.chain, first: seq, last: seq - 1, lastHash: String(r.prev), records: 0, files: new Set(), lastCheckpoint: null, events: 0, at: new Map() };
        chains.push(w);
      } else {
        if (r.chain !== w.chain) throw at(seq, `chain id ${JSON.stringify(r.chain)} inside chain ${w.chain}: record edited`);
        if (seq > w.last + 1) throw at(seq, `seq ${w.last + 1}${seq - 1 > w.last + 1 ? `..${seq - 1}` : ''} missing: record(s) deleted`);
        if (seq <= w.last) throw at(seq, `seq ${seq} after seq ${w.last}: record inserted or reordered`);
        if (r.prev !== w.lastHash) throw at(seq, `prev does not match the hash of seq ${w.last}: record inserted, reordered or edited`);
      }
      // Recomputed with the `canonicalize` package: an implementation independent of the writer's.
      if (recordHash(r, libraryCanonical) !== r.hash) throw at(seq, 'hash does not match the record: its content was changed');
      if (r.type === 'checkpoint') {
        const cp = (r as AuditRecord & { checkpoint?: SignedCheckpoint }).checkpoint;
        if (!cp || cp.chain !== w.chain || cp.seq !== w.last || cp.hash !== w.lastHash) throw at(seq, 'checkpoint does not sign the record before it');
        if (keys && !signatureOk(cp, keys)) throw at(seq, `checkpoint signature does not verify (forged, or signed by a key not given with --key; kid ${cp.kid})`);
        w.lastCheckpoint = cp.seq;
      } else {
        w.events++;
      }
      w.at.set(seq, { hash: r.hash, events: w.events });
      w.last = seq;
      w.lastHash = r.hash;
      w.records++;
      w.files.add(file);
    });
  });
  return chains;
}

/** Applies the checkpoints kept apart from the log to a walked chain. */
function finishChain(w: ChainWalk, external: (SignedCheckpoint & { file: string; line: number })[], keys: ReadonlyMap<string, KeyObject> | undefined): ChainSummary {
  for (const c of external) {
    const at = (problem: string) => new Failure({ file: c.file, line: c.line, seq: c.seq, problem });
    if (keys && !signatureOk(c, keys)) throw at(`checkpoint signature does not verify (forged, or signed by a key not given with --key; kid ${c.kid})`);
    if (c.seq < w.first) continue; // signs a part of the chain not given
    if (c.seq > w.last) throw at(`truncated: a checkpoint signs seq ${c.seq} but the log ends at seq ${w.last}`);
    if (w.at.get(c.seq)?.hash !== c.hash) throw at(`the record at seq ${c.seq} is not the one this checkpoint signed`);
    if (w.lastCheckpoint === null || c.seq > w.lastCheckpoint) w.lastCheckpoint = c.seq;
  }
  const anchoredEvents = w.lastCheckpoint === null ? 0 : (w.at.get(w.lastCheckpoint)?.events ?? 0);
  return { chain: w.chain, first: w.first, last: w.last, records: w.records, files: w.files.size, lastCheckpoint: w.lastCheckpoint, unanchored: w.events - anchoredEvents };
}

function libraryCanonical(v: unknown): string {
  const out = canonicalize(v);
  if (out === undefined) throw new Error('cannot canonicalise an undefined value');
  return out;
}

function signatureOk(c: SignedCheckpoint, keys: ReadonlyMap<string, KeyObject>): boolean {
  const statement: CheckpointStatement = { chain: c.chain, seq: c.seq, hash: c.hash, ts: c.ts };
  const byKid = keys.has(c.kid) ? keys : keys.has('*') ? new Map([[c.kid, keys.get('*')!]]) : keys;
  return verifyCheckpoint(statement, c.signature, c.kid, byKid);
}
