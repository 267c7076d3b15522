import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RedisConnection } from '../../src/config/compile.js';
import { createLogger } from '../../src/observability/logger.js';
import { createRedisStore } from '../../src/state/redis-store.js';
import type { StateStore } from '../../src/state/store.js';
import { startTestCluster, startTestSentinel } from '../helpers/redis.js';

// The shared store on the topologies enterprises run: a Sentinel-monitored master and a Cluster.
// Two stores stand for two replicas.
async function pair(connection: RedisConnection): Promise<[StateStore, StateStore]> {
  const mk = () => createRedisStore({ connection, maxStalenessMs: 2000 }, createLogger({ level: 'silent' }));
  const a = mk();
  const b = mk();
  await a.start();
  await b.start();
  return [a, b];
}

async function exercise([a, b]: [StateStore, StateStore]) {
  expect(a.healthy() && b.healthy()).toBe(true);
  const seen = new Promise<number>((resolve) => b.onChange((c) => c.type === 'kill' && resolve(performance.now())));
  const started = performance.now();
  await a.addKill({ id: `kill-${randomUUID()}`, target: { agent: 'support-bot' }, reason: 'topology test', by: 'test', at: new Date().toISOString() });
  const ms = (await seen) - started;
  expect(b.killFor({ agent: 'support-bot', user: null, tool: 'crm' })).toBeDefined();

  await a.addRevocation({ kind: 'jti', jti: 'j-topology', until: Date.now() + 60_000, by: 'test', reason: '' });
  for (let i = 0; i < 50 && !b.isRevoked({ jti: 'j-topology', agent: 'x', iat: 0 }); i++) await new Promise((r) => setTimeout(r, 10));
  expect(b.isRevoked({ jti: 'j-topology', agent: 'x', iat: 0 })).toBe(true);

  // MCP tool pins: a changed definition recorded by one replica is refused by the other too.
  const now = new Date().toISOString();
  await a.setToolPin({ tool: 'tracker', name: 'search_issues', digest: 'sha256:a', status: 'changed', observed: 'sha256:b', first_seen: now, changed_at: now, approved_by: 'first-seen', approved_at: now });
  for (let i = 0; i < 50 && !b.toolPin('tracker', 'search_issues'); i++) await new Promise((r) => setTimeout(r, 10));
  expect(b.toolPin('tracker', 'search_issues')).toMatchObject({ status: 'changed', observed: 'sha256:b' });
  expect(b.toolPins()).toHaveLength(1);

  // Trust inputs: signals, attestations and overrides written by one replica are read by the other.
  a.addSignals([{ id: randomUUID(), agent: 'support-bot', kind: 'policy_violation', at: Date.now(), weight: 5, detail: 'policy_denied' }]);
  await a.setTrustOverride('support-bot', { agent: 'support-bot', pin: null, cap: 30, reason: 'topology', by: 'test', at: now, expires_at: null });
  for (let i = 0; i < 50 && (b.signals('support-bot').length === 0 || !b.trustOverride('support-bot')); i++) await new Promise((r) => setTimeout(r, 10));
  expect(b.signals('support-bot')).toMatchObject([{ kind: 'policy_violation', weight: 5 }]);
  expect(b.trustOverride('support-bot')).toMatchObject({ cap: 30 });

  // One rate limit for both replicas (the GCRA script runs in Redis, keys in the store's one slot).
  const rule = { intervalMs: 60_000, burst: 3, rate: '1/m' };
  const checks = [{ key: `a:${randomUUID()}`, rule }];
  const takes = [];
  for (const s of [a, b, a, b]) takes.push(await s.takeRate(checks));
  expect(takes.map((t) => t.ok)).toEqual([true, true, true, false]);

  const fp = { agent: 'support-bot', user: null, tool: 'crm', operation: 'export', method: 'GET', path: '/export', query: '', body_sha256: null };
  const id = `apr-${randomUUID()}`;
  await a.createApproval({ id, status: 'pending', fingerprint: fp, reasons: [], request_id: 'r', owner: null, created_at: new Date().toISOString(), expires_at: Date.now() + 60_000 });
  // A plain retry of the call finds its approval on any replica; another agent's identical call does not.
  expect((await b.findApproval(fp))?.id).toBe(id);
  expect(await b.findApproval({ ...fp, agent: 'sales-bot' })).toBeUndefined();
  const decisions = await Promise.all([a.decideApproval(id, 'approved', 'ann', ''), b.decideApproval(id, 'denied', 'bob', '')]);
  expect(decisions.filter((d) => d.ok)).toHaveLength(1);
  const winner = decisions.find((d) => d.ok)!.approval!;
  if (winner.status === 'approved') {
    const uses = await Promise.all([a.consumeApproval(id, fp), b.consumeApproval(id, fp)]);
    expect(uses.filter((u) => u.ok)).toHaveLength(1);
    expect(await a.findApproval(fp)).toBeUndefined();
  }
  return ms;
}

describe('the Redis store behind Sentinel', () => {
  let sentinel: Awaited<ReturnType<typeof startTestSentinel>>;
  let stores: [StateStore, StateStore];
  beforeAll(async () => {
    sentinel = await startTestSentinel();
    stores = await pair({ mode: 'sentinel', url: 'redis://127.0.0.1', prefix: `t:${randomUUID()}:`, sentinels: sentinel.sentinels, name: sentinel.name });
  });
  afterAll(async () => {
    for (const s of stores ?? []) await s.close();
    await sentinel?.stop();
  });

  it('shares kills, revocations, atomic approvals, MCP tool pins, trust inputs and rate limits', async () => {
    const ms = await exercise(stores);
    console.log(`sentinel: kill seen by the other replica after ${ms.toFixed(1)} ms`);
  });
});

describe('the Redis store on a Cluster', () => {
  let cluster: Awaited<ReturnType<typeof startTestCluster>>;
  let stores: [StateStore, StateStore];
  beforeAll(async () => {
    cluster = await startTestCluster();
    stores = await pair({ mode: 'cluster', url: 'redis://127.0.0.1', prefix: `t:${randomUUID()}:`, nodes: cluster.nodes });
  }, 30_000);
  afterAll(async () => {
    for (const s of stores ?? []) await s.close();
    await cluster?.stop();
  });

  it('shares kills, revocations, atomic approvals, MCP tool pins, trust inputs and rate limits', async () => {
    const ms = await exercise(stores);
    console.log(`cluster: kill seen by the other replica after ${ms.toFixed(1)} ms`);
  });
});
