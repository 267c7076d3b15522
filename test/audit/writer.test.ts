import { appendFileSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { logFiles } from '../../src/audit/log-files.js';
import { verifyAudit } from '../../src/audit/verify.js';
import { openTestTrail, writeEvents } from '../helpers/audit.js';
import { until as waitUntil } from '../helpers/wait.js';

const records = (file: string) => readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));

describe('the local audit log', () => {
  it('continues its chain across a restart', async () => {
    const first = await openTestTrail();
    await writeEvents(first.trail, 5);
    const head = first.trail.head();
    await first.trail.close();

    const again = await openTestTrail(first.dir);
    expect(again.trail.head()).toMatchObject({ chain: head.chain, seq: head.seq + 1 }); // + the shutdown checkpoint
    await writeEvents(again.trail, 3);
    await again.trail.close();
    const all = records(again.path);
    expect(new Set(all.map((r) => r.chain)).size).toBe(1);
    expect(all.map((r) => r.seq)).toEqual(all.map((_, i) => i + 1));
    expect(verifyAudit([again.path], again.keys).ok).toBe(true);
  });

  it('continues its chain across rotation: a new file starts from the last hash of the one before', async () => {
    const t = await openTestTrail(undefined, { rotateBytes: 2048 });
    await writeEvents(t.trail, 40);
    await t.trail.close();
    const files = logFiles(t.path);
    expect(files.length).toBeGreaterThan(3);
    for (let i = 1; i < files.length; i++) {
      const before = records(files[i - 1]!).at(-1);
      const after = records(files[i]!)[0];
      expect(after.prev).toBe(before.hash);
      expect(after.seq).toBe(before.seq + 1);
      expect(files[i - 1]).toMatch(/audit\.jsonl\.\d{12}$/);
    }
    expect(verifyAudit(files, t.keys)).toMatchObject({ ok: true, chains: [{ first: 1, files: files.length }] });
  });

  it('sets a torn tail aside at restart and continues from the last complete record', async () => {
    const first = await openTestTrail();
    await writeEvents(first.trail, 4);
    const head = first.trail.head();
    await first.trail.close();
    appendFileSync(first.path, '{"v":1,"seq":7,"ts":"2026-1');

    const again = await openTestTrail(first.dir);
    await writeEvents(again.trail, 2);
    await again.trail.close();
    const files = logFiles(again.path);
    expect(files).toHaveLength(2);
    expect(records(files[1]!)[0]).toMatchObject({ seq: head.seq + 2, prev: expect.any(String) });
    const report = verifyAudit(files, again.keys);
    expect(report.ok).toBe(true);
    expect(report.warnings.join('\n')).toMatch(/torn last line.*continues intact/);
  });

  it('resolves a durable append only once the record is in the file', async () => {
    const t = await openTestTrail(undefined, { groupCommitMs: 20 });
    const written = t.trail.record('tool_call_intent', { request_id: 'r-durable' }, { durable: true });
    expect(readFileSync(t.path, 'utf8')).not.toContain('r-durable');
    await written;
    expect(readFileSync(t.path, 'utf8')).toContain('r-durable');
    await t.trail.close();
  });

  it('signs checkpoints into the log and into checkpoints.jsonl', async () => {
    const t = await openTestTrail(undefined, { checkpointEvery: 5 });
    await writeEvents(t.trail, 12);
    await t.trail.close();
    const cps = records(t.path).filter((r) => r.type === 'checkpoint');
    expect(cps.map((c) => c.checkpoint.seq)).toEqual([5, 11, 14]);
    expect(existsSync(t.trail.checkpointsPath)).toBe(true);
    expect(records(t.trail.checkpointsPath).map((c) => c.seq)).toEqual([5, 11, 14]);
    expect(readdirSync(t.dir)).toContain('checkpoints.jsonl');
    expect(t.trail.head().last_checkpoint).toMatchObject({ seq: 14, kid: t.trail.signer.kid });
  });

  it('keeps a checkpoint apart only once the records it signs are on disk (a crash cannot leave it signing nothing)', async () => {
    const t = await openTestTrail(undefined, { checkpointEvery: 5, groupCommitMs: 300 });
    await writeEvents(t.trail, 5);
    // Signed, but the records are still in the group-commit window.
    expect(t.trail.head().last_checkpoint).toMatchObject({ seq: 5 });
    expect(existsSync(t.trail.checkpointsPath) ? readFileSync(t.trail.checkpointsPath, 'utf8') : '').toBe('');
    await new Promise((r) => setTimeout(r, 400));
    expect(records(t.trail.checkpointsPath).map((c) => c.seq)).toEqual([5]);
    await t.trail.close();
  });

  it('bounds the backlog while the disk refuses writes, counting what it drops and leaving no gap', async () => {
    const { mkdtempSync, symlinkSync, rmSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-backlog-'));
    symlinkSync('/dev/full', join(dir, 'audit.jsonl'));
    const t = await openTestTrail(dir, { maxBacklog: 10, checkpointEvery: 1000 });
    for (let i = 0; i < 15; i++) t.trail.record('tool_call', { request_id: `r-${i}` });
    await new Promise((r) => setTimeout(r, 50));
    expect(t.trail.healthy()).toBe(false);
    expect(t.trail.head().seq).toBe(10);
    rmSync(join(dir, 'audit.jsonl'));
    writeFileSync(join(dir, 'audit.jsonl'), '');
    for (let i = 0; i < 40 && !t.trail.healthy(); i++) await new Promise((r) => setTimeout(r, 100));
    expect(t.trail.healthy()).toBe(true);
    await t.trail.close();
    const written = records(t.path);
    expect(written.slice(0, 10).map((r) => r.request_id)).toEqual(Array.from({ length: 10 }, (_, i) => `r-${i}`));
    expect(written.map((r) => r.seq)).toEqual(written.map((_, i) => i + 1));
  });
});

describe('the log writer: write every window, fdatasync on demand', () => {
  const open = async (syncIntervalMs: number) => {
    const { AuditLogWriter } = await import('../../src/audit/log-writer.js');
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const path = join(mkdtempSync(join(tmpdir(), 'portcullis-writer-')), 'audit.jsonl');
    const seen = { written: [] as number[], synced: [] as { seq: number; at: number }[] };
    const started = performance.now();
    const writer = await AuditLogWriter.open(
      {
        path,
        groupCommitMs: 1,
        syncIntervalMs,
        rotateBytes: 1 << 30,
        rotateAgeMs: 86_400_000,
        onWritten: (seq) => seen.written.push(seq),
        onSynced: (seq) => seen.synced.push({ seq, at: performance.now() - started }),
        onHealth: () => undefined,
      },
      false,
    );
    return { writer, path, seen };
  };
  const until = (ok: () => boolean) => waitUntil(ok, 2000, 5);

  it('writes an ordinary record at once and fdatasyncs it within sync_interval, not per batch', async () => {
    const { writer, path, seen } = await open(300);
    writer.append(1, '{"seq":1}', 'none');
    await until(() => seen.written.includes(1));
    expect(readFileSync(path, 'utf8')).toBe('{"seq":1}\n'); // in the file (a crash of the process loses nothing)
    expect(seen.synced).toEqual([]);
    writer.append(2, '{"seq":2}', 'none');
    await until(() => seen.synced.length > 0);
    expect(seen.synced).toEqual([{ seq: 2, at: expect.any(Number) }]); // one sync for both
    expect(seen.synced[0]!.at).toBeGreaterThanOrEqual(250);
    await writer.close();
  });

  it('fdatasyncs a durable record before its append resolves', async () => {
    const { writer, seen } = await open(10_000);
    writer.append(1, '{"seq":1}', 'none');
    await writer.append(2, '{"seq":2}', 'synced');
    expect(seen.synced.map((s) => s.seq)).toEqual([2]);
    await writer.close();
  });

  it('fdatasyncs what is left when it closes', async () => {
    const { writer, seen } = await open(10_000);
    writer.append(1, '{"seq":1}', 'none');
    await writer.close();
    expect(seen.synced.map((s) => s.seq)).toEqual([1]);
  });
});
