/**
 * The tailer reads the log in 256 KiB reads; a UTF-8 character split across two reads must arrive
 * whole, or every shipped copy stops verifying. The log here is a real hash chain whose records put
 * a 4-byte character across every read boundary, split after its first, second and third byte.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ChainState, GENESIS } from '../../src/audit/chain.js';
import { LogTailer } from '../../src/audit/tailer.js';
import { verifyAudit } from '../../src/audit/verify.js';

const READ = 256 * 1024;
const TS = '2026-12-04T12:00:00.000Z';

function chainAcrossBoundaries(boundaries: number): { lines: string[]; splits: number[] } {
  const state = new ChainState('tailer-test', 0, GENESIS);
  const lines: string[] = [];
  const splits: number[] = [];
  let size = 0;
  const append = (fields: Record<string, unknown>) => {
    const { line } = state.seal('tool_call', fields, TS);
    lines.push(line);
    size += Buffer.byteLength(line) + 1;
  };
  for (let k = 1; k <= boundaries; k++) {
    const boundary = k * READ;
    while (size + 12_000 < boundary) append({ note: 'é'.repeat(2000) + 'x'.repeat(3000) });
    const split = ((k - 1) % 3) + 1;
    // Where the first 😀 lands with no ASCII in front of it (a trial seal on a copy of the chain).
    const emoji = '😀'.repeat(40);
    const trial = new ChainState(state.chain, state.seq, state.head).seal('tool_call', { note: emoji }, TS).line;
    const offset = Buffer.byteLength(trial.slice(0, trial.indexOf('😀')));
    append({ note: 'a'.repeat(boundary - size - offset - split) + emoji });
    splits.push(split);
  }
  return { lines, splits };
}

describe('LogTailer', () => {
  it('hands every record over byte for byte when reads split multi-byte characters, and the copy verifies', () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-tailer-'));
    const path = join(dir, 'audit.jsonl');
    const { lines } = chainAcrossBoundaries(6);
    const bytes = Buffer.from(lines.join('\n') + '\n');
    writeFileSync(path, bytes);
    // The construction does what it says: every boundary falls inside a 4-byte character.
    for (let k = 1; k <= 6; k++) expect(bytes[k * READ]! & 0xc0).toBe(0x80);

    const tailer = new LogTailer(path, 0);
    const got: string[] = [];
    for (let batch = tailer.next(100); batch.length > 0; batch = tailer.next(100)) got.push(...batch.map((r) => r.line));
    tailer.close();
    expect(got).toHaveLength(lines.length);
    expect(got).toEqual(lines);

    writeFileSync(join(dir, 'copy.jsonl'), got.join('\n') + '\n');
    const report = verifyAudit([join(dir, 'copy.jsonl')]);
    expect(verifyAudit([path]).error).toBeUndefined();
    expect(report.error).toBeUndefined();
    expect(report.ok).toBe(true);
  });
});
