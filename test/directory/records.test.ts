/** The registry's records in the stores: all-or-nothing writes, versions, unique values, persistence. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DirectorySnapshot, type DirectoryRecord, type DirectoryWrite } from '../../src/directory/records.js';
import { createMemoryStore } from '../../src/state/memory-store.js';
import { seedId } from '../../src/directory/seed.js';

const rec = (id: string, version: number, unique: string[], attributes: Record<string, unknown> = {}): DirectoryRecord => ({
  kind: 'User', id, version, created: 't', lastModified: 't', by: 'test', unique, attributes,
});
const put = (r: DirectoryRecord, expect = r.version - 1): DirectoryWrite => ({ kind: r.kind, id: r.id, expect, record: r });

describe('DirectorySnapshot', () => {
  it('applies a write only on the version it names, and never gives one unique value to two records', () => {
    const s = new DirectorySnapshot();
    expect(s.check([put(rec('a', 1, ['User:userName:ann']))])).toEqual({ ok: true });
    s.apply([put(rec('a', 1, ['User:userName:ann']))]);
    expect(s.check([put(rec('a', 2, ['User:userName:ann']), 0)])).toEqual({ ok: false, why: 'version', index: 0 });
    expect(s.check([put(rec('b', 1, ['User:userName:ann']))])).toEqual({ ok: false, why: 'uniqueness', index: 0 });
    // A rename frees the old value in the same write.
    s.apply([put(rec('a', 2, ['User:userName:anne']))]);
    expect(s.holder('User:userName:ann')).toBeUndefined();
    expect(s.check([put(rec('b', 1, ['User:userName:ann']))])).toEqual({ ok: true });
    expect(s.count('User')).toBe(1);
    s.apply([{ kind: 'User', id: 'a', expect: 2, record: null }]);
    expect(s.count('User')).toBe(0);
    expect(s.holder('User:userName:anne')).toBeUndefined();
  });

  it('names the change that fails, so nothing of a multi-record write applies', () => {
    const s = new DirectorySnapshot();
    s.apply([put(rec('a', 1, ['User:userName:ann']))]);
    const result = s.check([put(rec('c', 1, ['User:userName:cid'])), put(rec('d', 1, ['User:userName:ann']))]);
    expect(result).toEqual({ ok: false, why: 'uniqueness', index: 1 });
  });
});

describe('the memory store keeps the registry across restarts', () => {
  it('writes it to its own file and loads it again; an unreadable file stops the start', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'portcullis-dir-')), 'state.json');
    const one = createMemoryStore(file);
    await one.start();
    expect(await one.writeDirectory([put(rec('a', 1, ['User:userName:ann'], { userName: 'ann' }))])).toEqual({ ok: true });
    await one.close();
    const two = createMemoryStore(file);
    await two.start();
    expect(two.directory().get('User', 'a')).toMatchObject({ version: 1, attributes: { userName: 'ann' } });
    expect(await two.writeDirectory([put(rec('b', 1, ['User:userName:ann']))])).toMatchObject({ ok: false, why: 'uniqueness' });
    await two.close();
    writeFileSync(file.replace(/\.json$/, '.directory.json'), '{not json');
    await expect(createMemoryStore(file).start()).rejects.toThrow(/registry file .* cannot be read/);
  });

  it('does not apply a write it could not persist', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-dir-'));
    const store = createMemoryStore(join(dir, 'state.json'));
    await store.start();
    // The registry file's place is taken by a directory: the rename fails.
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(dir, 'state.directory.json', 'x'), { recursive: true });
    await expect(store.writeDirectory([put(rec('a', 1, ['User:userName:ann']))])).rejects.toThrow();
    expect(store.directory().get('User', 'a')).toBeUndefined();
    expect(store.directory().holder('User:userName:ann')).toBeUndefined();
  });
});

describe('seeded ids', () => {
  it('are UUIDs derived from the agent id: every replica seeds the same record', () => {
    expect(seedId('support-bot')).toBe(seedId('support-bot'));
    expect(seedId('support-bot')).not.toBe(seedId('sales-bot'));
    expect(seedId('support-bot')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});

describe('the directory writer', () => {
  it('changes nothing while the audit log cannot be written', async () => {
    const { createDirectoryWriter } = await import('../../src/directory/writer.js');
    const { createLogger } = await import('../../src/observability/logger.js');
    const { createMetrics } = await import('../../src/observability/metrics.js');
    const store = createMemoryStore(join(mkdtempSync(join(tmpdir(), 'portcullis-dir-')), 'state.json'));
    await store.start();
    let healthy = false;
    const events: string[] = [];
    const audit = { record: (type: string) => (events.push(type), Promise.resolve()), healthy: () => healthy };
    const writer = createDirectoryWriter({ state: store, audit, logger: createLogger({ level: 'silent' }), metrics: createMetrics(), maxTokenTtlSec: 900 });
    const change = { kind: 'User' as const, id: 'u1', base: undefined, attributes: { userName: 'ann', active: true } };
    await expect(writer.write([change], 'test')).rejects.toMatchObject({ reason: 'audit_log_unwritable' });
    expect(store.directory().get('User', 'u1')).toBeUndefined();
    healthy = true;
    await writer.write([change], 'test');
    expect(store.directory().get('User', 'u1')).toMatchObject({ version: 1, by: 'test' });
    expect(events).toEqual(['user_created']);
  });
});
