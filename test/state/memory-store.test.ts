import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createMemoryStore } from '../../src/state/memory-store.js';

describe('the memory store keeps trust inputs across a restart', () => {
  it('signals within the window, attestations and overrides come back; expired ones do not', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'portcullis-state-')), 'state.json');
    const first = createMemoryStore(file, { signalRetentionMs: 60_000 });
    await first.start();
    const now = Date.now();
    first.addSignals([
      { id: randomUUID(), agent: 'bot', kind: 'policy_violation', at: now, weight: 5, detail: 'policy_denied' },
      { id: randomUUID(), agent: 'bot', kind: 'refusal', at: now - 120_000, weight: 2, detail: 'scope_missing' },
    ]);
    await first.setAttestation({ agent: 'bot', issuer: 'https://scanner.test', kind: 'scan', weight: 10, applied: 10, iat: now / 1000, exp: now / 1000 + 60, jti: 'j', summary: null, received_at: '', by: 'ops' });
    await first.setAttestation({ agent: 'bot', issuer: 'https://scanner.test', kind: 'old', weight: 10, applied: 10, iat: now / 1000 - 90, exp: now / 1000 - 30, jti: 'k', summary: null, received_at: '', by: 'ops' });
    await first.setTrustOverride('bot', { agent: 'bot', pin: null, cap: 30, reason: 'INC-1', by: 'ops', at: '', expires_at: null });
    await first.close();
    expect(JSON.parse(readFileSync(file, 'utf8')).signals).toHaveLength(1);

    const second = createMemoryStore(file, { signalRetentionMs: 60_000 });
    await second.start();
    expect(second.signals('bot').map((s) => s.kind)).toEqual(['policy_violation']);
    expect(second.attestations('bot').map((a) => a.kind)).toEqual(['scan']);
    expect(second.trustOverride('bot')).toMatchObject({ cap: 30, reason: 'INC-1' });
    expect([...second.trustSubjects()]).toEqual(['bot']);
    expect(second.attestations('nobody')).toEqual([]);
    await second.close();
  });

  it('a signal learnt twice counts once', async () => {
    const store = createMemoryStore(join(mkdtempSync(join(tmpdir(), 'portcullis-state-')), 'state.json'));
    await store.start();
    const sig = { id: 'same', agent: 'bot', kind: 'refusal' as const, at: Date.now(), weight: 2, detail: 'x' };
    store.addSignals([sig]);
    store.addSignals([sig]);
    expect(store.signals('bot')).toHaveLength(1);
    await store.close();
  });
});

describe('the memory store finds the approval of a repeated call', () => {
  it('finds the newest standing approval of exactly this call, and none once used or for another agent', async () => {
    const store = createMemoryStore(join(mkdtempSync(join(tmpdir(), 'portcullis-state-')), 'state.json'));
    await store.start();
    const fp = { agent: 'itops-bot', user: null, tool: 'tracker', operation: 'delete_issue', method: 'tools/call', path: '/delete_issue', query: '', body_sha256: 'ab' };
    const approval = (id: string, at: number) => ({ id, status: 'pending' as const, fingerprint: fp, reasons: [], request_id: 'r', owner: null, created_at: new Date(at).toISOString(), expires_at: at + 60_000 });
    await store.createApproval(approval('apr-old', Date.now() - 1000));
    await store.createApproval(approval('apr-new', Date.now()));
    expect((await store.findApproval(fp))?.id).toBe('apr-new');
    expect(await store.findApproval({ ...fp, agent: 'sales-bot' })).toBeUndefined();
    expect(await store.findApproval({ ...fp, body_sha256: 'cd' })).toBeUndefined();
    await store.decideApproval('apr-new', 'approved', 'ann', '');
    expect((await store.consumeApproval('apr-new', fp)).ok).toBe(true);
    expect((await store.findApproval(fp))?.id).toBe('apr-old');
    await store.close();
  });
});
