import { createHash, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestIssuer, type TestIssuer } from '../helpers/issuer.js';
import { startUpstream, type RecordingUpstream } from '../helpers/upstream.js';
import { startGateway, tempState, testConfig, type RunningGateway } from '../helpers/gateway.js';
import { send } from '../helpers/http.js';
import { startTestRedis, type TestRedis } from '../helpers/redis.js';
import { crmTools } from './fixtures.js';
import type { Decider } from '../../src/pipeline/decide.js';

// Three replicas sharing one (throwaway) Redis: what one is told, all enforce.
const highRiskNeedsApproval: Decider = {
  decide: (ctx) => ({ allow: ctx.operation!.risk !== 'high', approvalRequired: ctx.operation!.risk === 'high', reasons: ['high risk'], revision: 'test' }),
};
const BREAK_GLASS = 'replica-test-break-glass';
let issuer: TestIssuer;
let up: RecordingUpstream;
let redis: TestRedis;
let replicas: RunningGateway[];
let release: () => void = () => undefined;
let hold: Promise<void> | undefined;

beforeAll(async () => {
  issuer = await createTestIssuer();
  redis = await startTestRedis();
  up = await startUpstream(async (req, res) => {
    if (req.url.includes('/slow')) await hold;
    if (!res.destroyed) res.end('{"ok":true}');
  });
  const prefix = `portcullis-test:${randomUUID()}:`;
  replicas = [];
  for (let i = 0; i < 3; i++) {
    replicas.push(
      await startGateway(
        testConfig(issuer, crmTools(up), {
          state: tempState({ store: 'redis', redis: { url: redis.url, prefix }, max_staleness: '600ms' }),
          admin: { break_glass: { sha256: createHash('sha256').update(BREAK_GLASS).digest('hex') } },
          approvals: { hold: '3s', ttl: '1m' },
          // About replicas, not trust: the refusals these tests provoke on purpose (kills, used
          // approvals) lower support-bot's live score, by how many depends on timing.
          trust: { floor: 'untrusted' },
        }),
        { decider: highRiskNeedsApproval },
      ),
    );
  }
});
afterAll(async () => {
  release();
  for (const g of replicas) await g.close();
  await up.close();
  await redis.stop();
});

const admin = (g: RunningGateway, method: string, path: string, body?: unknown) =>
  send(g.adminUrl, { method, path, headers: { authorization: `Bearer ${BREAK_GLASS}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
const call = (g: RunningGateway, token: string, path = '/tools/crm/contacts') => send(g.proxyUrl, { path, headers: { authorization: `Bearer ${token}` } });

describe('several replicas on one Redis', () => {
  it('a kill on A refuses the next call on B and C; lifting it on C frees all', async () => {
    const [a, b, c] = replicas as [RunningGateway, RunningGateway, RunningGateway];
    const token = await issuer.token('support-bot', 'crm:read');
    expect((await call(b, token)).status).toBe(200);
    const { id } = (await admin(a, 'POST', '/admin/kill', { target: { agent: 'support-bot' }, reason: 'replica test' })).json();
    await new Promise((r) => setTimeout(r, 50));
    expect((await call(b, token)).json().reasons).toEqual(['killed_agent']);
    expect((await call(c, token)).json().reasons).toEqual(['killed_agent']);
    expect((await admin(c, 'DELETE', `/admin/kill/${id}`)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 50));
    for (const g of replicas) expect((await call(g, token)).status).toBe(200);
  });

  it('propagates a kill to every replica fast (p99 under 50 ms on loopback)', async () => {
    const [a, b, c] = replicas as [RunningGateway, RunningGateway, RunningGateway];
    const samples: number[] = [];
    for (let i = 0; i < 40; i++) {
      const seen = [b, c].map(
        (g) => new Promise<number>((resolve) => {
          const off = g.gateway.state.onChange((ch) => {
            if (ch.type === 'kill' && 'tool' in ch.kill.target && ch.kill.target.tool === `t-${i}`) {
              off();
              resolve(performance.now());
            }
          });
        }),
      );
      const started = performance.now();
      const { id } = (await admin(a, 'POST', '/admin/kill', { target: { tool: `t-${i}` }, reason: 'latency' })).json();
      for (const t of await Promise.all(seen)) samples.push(t - started);
      await admin(a, 'DELETE', `/admin/kill/${id}`);
    }
    samples.sort((x, y) => x - y);
    const p50 = samples[Math.floor(samples.length * 0.5)]!;
    const p99 = samples[Math.floor(samples.length * 0.99)]!;
    console.log(`kill propagation A → B, C over ${samples.length} samples: p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${samples.at(-1)!.toFixed(1)} ms`);
    expect(p99).toBeLessThan(50);
  });

  it('a kill on A cuts a long call in flight on B', async () => {
    const [a, b] = replicas as [RunningGateway, RunningGateway];
    hold = new Promise((r) => (release = r));
    const pending = call(b, await issuer.token('support-bot', 'crm:read'), '/tools/crm/contacts/slow');
    const before = up.received.length;
    while (up.received.length === before) await new Promise((r) => setTimeout(r, 10));
    const { id } = (await admin(a, 'POST', '/admin/kill', { target: { agent: 'support-bot' }, reason: 'cut on B' })).json();
    const res = await pending;
    expect(res.status).toBe(403);
    expect(res.json().reasons).toEqual(['killed_agent']);
    release();
    await admin(a, 'DELETE', `/admin/kill/${id}`);
  });

  it('a revoked jti and a revoked agent are refused on every replica, cached tokens included', async () => {
    const [a, b, c] = replicas as [RunningGateway, RunningGateway, RunningGateway];
    const leaked = await issuer.token('support-bot', 'crm:read', { jti: `leak-${randomUUID()}` });
    const old = await issuer.token('sales-bot-x', 'crm:read');
    expect((await call(b, leaked)).status).toBe(200); // now cached on B
    await admin(a, 'POST', '/admin/revoke', { jti: JSON.parse(Buffer.from(leaked.split('.')[1]!, 'base64url').toString()).jti });
    await admin(a, 'POST', '/admin/revoke', { agent: 'sales-bot-x' });
    await new Promise((r) => setTimeout(r, 50));
    for (const g of [a, b, c]) {
      expect((await call(g, leaked)).json().reasons).toEqual(['token_revoked']);
      expect((await call(g, old)).json().reasons).toEqual(['token_revoked']);
    }
  });

  it('approving on C releases the call held on A', async () => {
    const [a, , c] = replicas as [RunningGateway, RunningGateway, RunningGateway];
    const token = await issuer.token('support-bot', 'crm:export');
    const held = call(a, token, '/tools/crm/export');
    let id: string | undefined;
    for (let i = 0; i < 100 && !id; i++) {
      id = (await admin(c, 'GET', '/admin/approvals?status=pending')).json().approvals[0]?.id;
      if (!id) await new Promise((r) => setTimeout(r, 20));
    }
    const started = Date.now();
    expect((await admin(c, 'POST', `/admin/approvals/${id}/approve`, { comment: 'go' })).status).toBe(200);
    const res = await held;
    expect(res.status).toBe(200);
    console.log(`approval on C released the call held on A after ${Date.now() - started} ms`);
  });

  it('an approval is used once even when two replicas race to use it, and two approvers on two replicas get one outcome', async () => {
    const [a, b, c] = replicas as [RunningGateway, RunningGateway, RunningGateway];
    const token = await issuer.token('support-bot', 'crm:export');
    const short = async () => {
      const pending = call(a, token, '/tools/crm/export');
      let id: string | undefined;
      for (let i = 0; i < 100 && !id; i++) {
        id = (await admin(b, 'GET', '/admin/approvals?status=pending')).json().approvals[0]?.id;
        if (!id) await new Promise((r) => setTimeout(r, 20));
      }
      return { id: id!, pending };
    };
    const first = await short();
    const decisions = await Promise.all([admin(b, 'POST', `/admin/approvals/${first.id}/approve`, {}), admin(c, 'POST', `/admin/approvals/${first.id}/deny`, {})]);
    expect(decisions.map((d) => d.status).sort()).toEqual([200, 409]);
    await first.pending;

    const second = await short();
    await admin(c, 'POST', `/admin/approvals/${second.id}/approve`, {});
    const released = await second.pending; // the held call used it
    expect(released.status).toBe(200);
    const retries = await Promise.all([b, c].map((g) => send(g.proxyUrl, { path: '/tools/crm/export', headers: { authorization: `Bearer ${token}`, 'portcullis-approval': second.id } })));
    expect(retries.map((r) => r.status)).toEqual([403, 403]);
    expect(retries.map((r) => r.json().reasons[0])).toEqual(['approval_used', 'approval_used']);

    // An approved, unused approval (the agent got 202 earlier) and two replicas racing to use it.
    for (let i = 0; i < 5; i++) {
      const id = `apr-race-${randomUUID()}`;
      await a.gateway.state.createApproval({
        id, status: 'pending', reasons: [], request_id: 'r', owner: null, created_at: new Date().toISOString(), expires_at: Date.now() + 60_000,
        fingerprint: { agent: 'support-bot', user: null, tool: 'crm', operation: 'export', method: 'GET', path: '/export', query: '', body_sha256: null },
      });
      await admin(b, 'POST', `/admin/approvals/${id}/approve`, {});
      const race = await Promise.all([a, b, c].map((g) => send(g.proxyUrl, { path: '/tools/crm/export', headers: { authorization: `Bearer ${token}`, 'portcullis-approval': id } })));
      expect(race.map((r) => r.status).sort()).toEqual([200, 403, 403]);
    }
  });

  it('with Redis gone, refuses calls within the staleness bound; with Redis back, resumes without a restart', async () => {
    const [a, b] = replicas as [RunningGateway, RunningGateway];
    const token = await issuer.token('support-bot', 'crm:read');
    const first = await call(b, token);
    expect(first.status, first.text).toBe(200);
    await redis.stop();
    const stoppedAt = Date.now();
    let refusedAfter = -1;
    while (Date.now() - stoppedAt < 3000) {
      const res = await call(b, token);
      if (res.status === 503) {
        expect(res.json()).toMatchObject({ error: 'unavailable', reasons: ['state_stale'] });
        refusedAfter = Date.now() - stoppedAt;
        break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    console.log(`Redis stopped: replica refused calls after ${refusedAfter} ms (max_staleness 600 ms)`);
    expect(refusedAfter).toBeGreaterThan(0);
    expect(refusedAfter).toBeLessThan(1200);
    expect((await send(b.adminUrl, { path: '/readyz' })).json().checks.state_fresh).toBe(false);
    // No kill can be made while the store is away, and nothing gets through.
    const refusedKill = await admin(a, 'POST', '/admin/kill', { target: { agent: 'x' }, reason: 'r' });
    expect(refusedKill.status).toBe(503);
    expect(refusedKill.json()).toMatchObject({ error: 'unavailable', reasons: ['state_stale'] });

    await redis.start();
    const back = Date.now();
    let status = 0;
    while (Date.now() - back < 5000 && status !== 200) {
      status = (await call(b, token)).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 50));
    }
    expect(status).toBe(200);
    console.log(`Redis back: replica serving again after ${Date.now() - back} ms`);
  }, 20_000);
});
