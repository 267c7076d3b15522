/**
 * The audit log's files: the live file (`audit.path`, e.g. ./audit/audit.jsonl) and its rotated
 * predecessors, named `<live>.<first seq, 12 digits>` so that name order is chain order. Readers
 * (verify, shippers, the live tail's backfill) go through here.
 */
import { closeSync, existsSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { AuditRecord } from './chain.js';

export function rotatedName(live: string, firstSeq: number): string {
  return `${live}.${String(firstSeq).padStart(12, '0')}`;
}

/** The chain's files, oldest first, the live file last (when it exists). */
export function logFiles(live: string): string[] {
  const dir = dirname(live);
  const base = basename(live);
  if (!existsSync(dir)) return [];
  const rotated = readdirSync(dir)
    .filter((n) => n.startsWith(`${base}.`) && /^\d{12}$/.test(n.slice(base.length + 1)))
    .sort()
    .map((n) => join(dir, n));
  return existsSync(live) ? [...rotated, live] : rotated;
}

export interface ParsedLine {
  readonly file: string;
  readonly line: number;
  readonly text: string;
  readonly record?: AuditRecord;
  /** Set when the line is not a JSON object. */
  readonly error?: string;
  /** The file's last line has no newline: a write cut short by a crash. */
  readonly torn: boolean;
}

const NEWLINE = 0x0a;
const EMPTY: Buffer = Buffer.alloc(0);

/**
 * The complete lines of `carry` followed by `chunk`, decoded, and the bytes of the incomplete last
 * line (copied: the caller reads into `chunk` again). Lines are split as bytes — a newline byte never
 * occurs inside a multi-byte UTF-8 character — so a character split by a read is decoded whole.
 */
export function splitLines(carry: Buffer, chunk: Buffer): { lines: string[]; carry: Buffer } {
  const read = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
  const lines: string[] = [];
  let start = 0;
  for (let nl = read.indexOf(NEWLINE); nl >= 0; nl = read.indexOf(NEWLINE, start)) {
    lines.push(read.toString('utf8', start, nl));
    start = nl + 1;
  }
  return { lines, carry: start < read.length ? Buffer.from(read.subarray(start)) : EMPTY };
}

/** Every line of a file, parsed; reads in chunks so a large file never sits in memory whole. */
export function* readLines(file: string): Generator<ParsedLine> {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(1 << 20);
    let carry: Buffer = EMPTY;
    let line = 0;
    let pos = 0;
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, pos);
      if (n === 0) break;
      pos += n;
      const split = splitLines(carry, buf.subarray(0, n));
      carry = split.carry;
      for (const text of split.lines) yield parse(file, ++line, text, false);
    }
    if (carry.length > 0) yield parse(file, ++line, carry.toString('utf8'), true);
  } finally {
    closeSync(fd);
  }
}

function parse(file: string, line: number, text: string, torn: boolean): ParsedLine {
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return { file, line, text, error: 'not a JSON object', torn };
    return { file, line, text, record: v as AuditRecord, torn };
  } catch {
    return { file, line, text, error: 'not valid JSON', torn };
  }
}

/** The seq of a file's first complete record (undefined for an empty or torn-only file). */
export function firstSeq(file: string): number | undefined {
  if (statSync(file, { throwIfNoEntry: false })?.size === 0) return undefined;
  for (const l of readLines(file)) if (l.record && !l.torn && typeof l.record.seq === 'number') return l.record.seq;
  return undefined;
}

/** The last complete record of the chain's newest file that has one (to continue the chain). */
export function lastRecord(live: string): { record: AuditRecord; file: string; tornTail: boolean } | undefined {
  const files = logFiles(live);
  for (let i = files.length - 1; i >= 0; i--) {
    const file = files[i]!;
    if (statSync(file).size === 0) continue;
    let last: AuditRecord | undefined;
    let torn = false;
    for (const l of readLines(file)) {
      if (l.record && !l.torn) last = l.record;
      else if (l.torn) torn = true;
    }
    if (last) return { record: last, file, tornTail: torn && file === live };
  }
  return undefined;
}
