/**
 * Reads the chain's records in order, from just after a given seq, across rotated files, and keeps
 * following the live file — the one reader behind every shipping sink and the live tail. It holds
 * the file open, so a rotation (a rename) never loses its place: it reads the renamed file to its
 * end and then moves on to the new live file.
 */
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import type { AuditRecord } from './chain.js';
import { firstSeq, logFiles, splitLines } from './log-files.js';

export interface TailedRecord {
  readonly seq: number;
  readonly line: string;
  readonly record: AuditRecord;
}

const EMPTY: Buffer = Buffer.alloc(0);

export class LogTailer {
  private fd: number | undefined;
  private file: string | undefined;
  private offset = 0;
  /** The bytes of a line not yet complete: kept as bytes, so a UTF-8 character split by a read is decoded whole. */
  private carry: Buffer = EMPTY;
  private readonly buf = Buffer.alloc(256 * 1024);

  constructor(
    private readonly live: string,
    private after: number,
  ) {}

  /** Up to `max` records after the last one returned (or after the starting seq). */
  next(max: number): TailedRecord[] {
    const out: TailedRecord[] = [];
    if (this.fd === undefined && !this.openStart()) return out;
    while (out.length < max) {
      const n = readSync(this.fd!, this.buf, 0, this.buf.length, this.offset);
      if (n === 0) {
        if (!this.advanceFile()) break;
        continue;
      }
      this.offset += n;
      const { lines, carry } = splitLines(this.carry, this.buf.subarray(0, n));
      this.carry = carry;
      for (const line of lines) {
        if (line === '') continue;
        let record: AuditRecord;
        try {
          record = JSON.parse(line) as AuditRecord;
        } catch {
          continue; // a torn line left by a crash; `audit verify` reports it
        }
        if (record.seq <= this.after) continue;
        this.after = record.seq;
        out.push({ seq: record.seq, line, record });
      }
      if (out.length >= max) break;
    }
    return out;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  /** Opens the newest file whose first record is at or before the one we want next. */
  private openStart(): boolean {
    const files = logFiles(this.live);
    if (files.length === 0) return false;
    let chosen = files[0]!;
    for (const f of files) {
      const first = firstSeq(f);
      if (first !== undefined && first <= this.after + 1) chosen = f;
    }
    this.openFile(chosen);
    return true;
  }

  private openFile(file: string): void {
    this.close();
    this.fd = openSync(file, 'r');
    this.file = file;
    this.offset = 0;
    this.carry = EMPTY;
  }

  /** At the end of the current file: move on if a newer file exists. */
  private advanceFile(): boolean {
    const files = logFiles(this.live);
    const i = this.file === undefined ? -1 : files.indexOf(this.file);
    if (this.file === this.live) {
      // Still the live path: was the file we hold renamed away by a rotation?
      const held = fstatSync(this.fd!).ino;
      const current = statSync(this.live, { throwIfNoEntry: false })?.ino;
      if (current === undefined || current === held) return false;
      this.openFile(this.live);
      return true;
    }
    const next = i >= 0 ? files[i + 1] : files.find((f) => f === this.live);
    if (next === undefined) return false;
    this.openFile(next);
    return true;
  }
}
