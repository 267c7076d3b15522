import { appendFileSync, copyFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { recordHash } from '../../src/audit/chain.js';
import { verifyAudit } from '../../src/audit/verify.js';
import { logFiles } from '../../src/audit/log-files.js';
import { openTestTrail, writeEvents } from '../helpers/audit.js';
import type { KeyObject } from 'node:crypto';

// One sample log: 80 events across several rotated files, a checkpoint every 10 events.
let pristine: string;
let keys: Map<string, KeyObject>;
let names: string[];

beforeAll(async () => {
  const t = await openTestTrail(undefined, { checkpointEvery: 10, rotateBytes: 6 * 1024 });
  await writeEvents(t.trail, 80);
  await t.trail.close();
  pristine = t.dir;
  keys = t.keys;
  names = logFiles(t.path).map((f) => f.slice(t.dir.length + 1));
});

/** A fresh copy of the sample log to damage. */
function copy(): { dir: string; files: string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-tamper-'));
  for (const n of readdirSync(pristine)) copyFileSync(join(pristine, n), join(dir, n));
  return { dir, files: names.map((n) => join(dir, n)) };
}

function lines(file: string): string[] {
  return readFileSync(file, 'utf8').split('\n').slice(0, -1);
}

function write(file: string, ls: string[]): void {
  writeFileSync(file, ls.map((l) => l + '\n').join(''));
}

describe('the sample log', () => {
  it('spans several files and verifies, with signatures', () => {
    expect(names.length).toBeGreaterThan(2);
    const { files } = copy();
    const r = verifyAudit(files, keys);
    expect(r.ok).toBe(true);
    expect(r.chains[0]).toMatchObject({ first: 1, unanchored: 0 });
    expect(r.signaturesChecked).toBe(true);
  });
});

describe('tampering is detected at the right record', () => {
  it('flips every byte of a sample of records', () => {
    const { files } = copy();
    const targets = [
      { file: files[0]!, line: 1 },
      { file: files[1]!, line: 3 },
      { file: files.at(-1)!, line: lines(files.at(-1)!).length },
    ];
    for (const { file, line } of targets) {
      const original = readFileSync(file);
      const ls = lines(file);
      const start = ls.slice(0, line - 1).reduce((n, l) => n + Buffer.byteLength(l) + 1, 0);
      const len = Buffer.byteLength(ls[line - 1]!);
      for (let i = 0; i < len; i++) {
        const damaged = Buffer.from(original);
        damaged[start + i] = damaged[start + i]! ^ 0x01;
        writeFileSync(file, damaged);
        const r = verifyAudit(files, keys);
        expect(r.ok, `byte ${i} of ${file}:${line} flipped went unnoticed`).toBe(false);
        expect(r.error).toMatchObject({ file, line });
      }
      writeFileSync(file, original);
    }
  });

  it('detects a deleted record', () => {
    const { files } = copy();
    const ls = lines(files[1]!);
    const removed = JSON.parse(ls[4]!);
    write(files[1]!, [...ls.slice(0, 4), ...ls.slice(5)]);
    const r = verifyAudit(files, keys);
    expect(r.error).toMatchObject({ file: files[1], line: 5, seq: removed.seq + 1 });
    expect(r.error!.problem).toMatch(/missing: record\(s\) deleted/);
  });

  it('detects an inserted record (a copy of another)', () => {
    const { files } = copy();
    const ls = lines(files[0]!);
    write(files[0]!, [...ls.slice(0, 3), ls[1]!, ...ls.slice(3)]);
    const r = verifyAudit(files, keys);
    expect(r.error).toMatchObject({ file: files[0], line: 4 });
    expect(r.error!.problem).toMatch(/inserted or reordered/);
  });

  it('detects a forged record inserted with a consistent seq', () => {
    const { files } = copy();
    const ls = lines(files[0]!);
    const prev = JSON.parse(ls[2]!);
    const forged: Record<string, unknown> = { ...JSON.parse(ls[3]!), seq: prev.seq + 1, prev: prev.hash, request_id: 'forged' };
    forged.hash = recordHash(forged);
    write(files[0]!, [...ls.slice(0, 3), JSON.stringify(forged), ...ls.slice(3)]);
    const r = verifyAudit(files, keys);
    expect(r.ok).toBe(false);
    expect(r.error).toMatchObject({ file: files[0], line: 5 });
  });

  it('detects two swapped records', () => {
    const { files } = copy();
    const ls = lines(files[1]!);
    write(files[1]!, [...ls.slice(0, 2), ls[3]!, ls[2]!, ...ls.slice(4)]);
    const r = verifyAudit(files, keys);
    expect(r.error).toMatchObject({ file: files[1], line: 3 });
  });

  it('detects a rewritten tail (every hash recomputed) at the checkpoint that signed the old one', () => {
    const { files, dir } = copy();
    const all = files.flatMap((f) => lines(f).map((l) => ({ f, l })));
    // Change the amount in record 5 and re-chain everything after it, as an attacker with write access would.
    let prev: string | undefined;
    const rewritten = all.map(({ f, l }) => {
      const r = JSON.parse(l);
      if (r.seq === 5) r.amount = 1_000_000;
      if (prev !== undefined) r.prev = prev;
      if (r.seq >= 5) r.hash = recordHash(r);
      prev = r.hash;
      return { f, l: JSON.stringify(r) };
    });
    for (const f of files) write(f, rewritten.filter((x) => x.f === f).map((x) => x.l));
    const r = verifyAudit(files, keys);
    expect(r.ok).toBe(false);
    expect(r.error!.problem).toMatch(/checkpoint does not sign the record before it|not the one this checkpoint signed/);
    expect(r.error!.seq).toBe(11);
    expect(dir).toBeTruthy();
  });

  it('detects a truncated tail from the checkpoints kept apart', () => {
    const { files } = copy();
    // Cut the last 12 records, across files, as if the log had been truncated after a checkpoint.
    const all = files.flatMap((f) => lines(f).map((l) => ({ f, l })));
    const kept = all.slice(0, all.length - 12);
    for (const f of files) write(f, kept.filter((x) => x.f === f).map((x) => x.l));
    const r = verifyAudit(files, keys);
    expect(r.ok).toBe(false);
    expect(r.error!.problem).toMatch(/truncated: a checkpoint signs seq \d+ but the log ends at seq \d+/);
    expect(r.error!.file).toMatch(/checkpoints\.jsonl$/);
  });

  it('detects a whole deleted file', () => {
    const { files } = copy();
    const r = verifyAudit([files[0]!, ...files.slice(2)], keys);
    expect(r.ok).toBe(false);
    expect(r.error!.problem).toMatch(/deleted/);
  });

  it('detects a forged checkpoint signature (in the file kept apart)', () => {
    const { files, dir } = copy();
    const cpFile = join(dir, 'checkpoints.jsonl');
    const cps = lines(cpFile).map((l) => JSON.parse(l));
    cps[2].signature = Buffer.alloc(64, 7).toString('base64url');
    write(cpFile, cps.map((c) => JSON.stringify(c)));
    const r = verifyAudit(files, keys);
    expect(r.error).toMatchObject({ file: cpFile, line: 3 });
    expect(r.error!.problem).toMatch(/signature does not verify/);
  });

  it('detects a checkpoint signed by another key', async () => {
    const other = await openTestTrail();
    const { files } = copy();
    const r = verifyAudit(files, other.keys);
    expect(r.ok).toBe(false);
    expect(r.error!.problem).toMatch(/signature does not verify/);
  });
});

describe('what is not tampering', () => {
  it('reports a torn last line from a crash as such, and the chain as intact', () => {
    const { files } = copy();
    appendFileSync(files.at(-1)!, '{"v":1,"seq":999,"ts":"2026-11-23T0');
    const r = verifyAudit(files, keys);
    expect(r.ok).toBe(true);
    expect(r.warnings.join('\n')).toMatch(/torn last line/);
  });

  it('reports records after the last checkpoint as not yet anchored', async () => {
    const t = await openTestTrail(undefined, { checkpointEvery: 10 });
    await writeEvents(t.trail, 14);
    await new Promise((r) => setTimeout(r, 50)); // let the group commit write them (no close: no final checkpoint)
    const r = verifyAudit([t.path], t.keys);
    expect(r.ok).toBe(true);
    expect(r.chains[0]).toMatchObject({ lastCheckpoint: 10, unanchored: 4 });
    await t.trail.close();
  });
});
