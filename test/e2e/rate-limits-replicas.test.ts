/**
 * Two replicas on one Redis enforce one shared limit (the GCRA script), share the behaviour signals
 * that lower trust, and — with Redis gone — each falls back to a local limit: availability over
 * precision for rate limits. (Kills and revocations fail closed instead, past state.max_staleness.)
 */
import { createHash, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestIssuer, type TestIssuer } from '../helpers/issuer.js';
import { startUpstream, type RecordingUpstream } from '../helpers/upstream.js';
import { startGateway, tempState, testConfig, type RunningGateway } from '../helpers/gateway.js';
import { send } from '../helpers/http.js';
import { startTestRedis, type TestRedis } from '../helpers/redis.js';
import { pollUntil } from '../helpers/policy.js';
import { crmTools } from './fixtures.js';

const BREAK_GLASS = 'rate-replicas-break-glass';
let issuer: TestIssuer;
let up: RecordingUpstream;
let redis: TestRedis;
let a: RunningGateway;
let b: RunningGateway;

beforeAll(async () => {
  issuer = await createTestIssuer();
  redis = await startTestRedis();
  up = await startUpstream();
  const prefix = `portcullis-test:${randomUUID()}:`;
  const config = () =>
    testConfig(issuer, crmTools(up), {
      agents: { 'busy-bot': { owner: 'o@example.com', roles: ['support_agent'], max_classification: 'confidential' } },
      rate_limits: { agent: { rate: '1/m', burst: 4 } },
      // Long enough that the outage below stays within it: this test is about rate limits.
      state: tempState({ store: 'redis', redis: { url: redis.url, prefix }, max_staleness: '30s' }),
      admin: { break_glass: { sha256: createHash('sha256').update(BREAK_GLASS).digest('hex') } },
    });
  a = await startGateway(config());
  b = await startGateway(config());
});
afterAll(async () => {
  await a?.close();
  await b?.close();
  await up?.close();
  await redis?.stop();
});

const call = (g: RunningGateway, token: string) => send(g.proxyUrl, { path: '/tools/crm/contacts/1', headers: { authorization: `Bearer ${token}` } });
const statuses = async (g: RunningGateway, token: string, n: number) => {
  const out = [];
  for (let i = 0; i < n; i++) out.push((await call(g, token)).status);
  return out;
};

describe('rate limits shared by replicas', () => {
  it('two replicas on one Redis enforce one limit, and share the trust signals it raises', async () => {
    const token = await issuer.token('busy-bot', 'crm:read');
    const seen = [];
    for (const g of [a, b, a, b, a, b]) seen.push((await call(g, token)).status);
    expect(seen).toEqual([200, 200, 200, 200, 429, 429]);
    const r = await call(b, token);
    expect(r.json().reasons).toEqual(['rate_limited_agent']);
    expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
    // Each replica's rate_limited hits reach the other's view of the agent's trust.
    const t = await pollUntil(
      async () => (await send(a.adminUrl, { path: '/admin/agents/busy-bot/trust', headers: { authorization: `Bearer ${BREAK_GLASS}` } })).json(),
      (x) => x.components.behaviour.signals.rate_limited.count === 3,
    );
    expect(t.components.behaviour.signals.rate_limited.count).toBe(3);
  });

  it('with Redis gone, each replica falls back to its own local limit', async () => {
    await redis.stop();
    const token = await issuer.token('busy-bot', 'crm:read');
    expect(await statuses(a, token, 5)).toEqual([200, 200, 200, 200, 429]);
    expect(await statuses(b, token, 5)).toEqual([200, 200, 200, 200, 429]);
    for (const g of [a, b]) {
      const metrics = (await send(g.adminUrl, { path: '/metrics' })).text;
      expect(Number(/portcullis_rate_limit_local_fallback_total (\d+)/.exec(metrics)?.[1])).toBeGreaterThanOrEqual(5);
      expect(g.logs.some((l) => String(l.msg).startsWith('rate limits decided locally'))).toBe(true);
    }
  });
});
