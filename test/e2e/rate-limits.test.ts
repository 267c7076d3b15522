/**
 * Rate limits and anomalies on one gateway (memory store: the local limiter); the shared Redis
 * limiter across replicas is test/e2e/rate-limits-replicas.test.ts.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestIssuer, type TestIssuer } from '../helpers/issuer.js';
import { startUpstream, type RecordingUpstream } from '../helpers/upstream.js';
import { startGateway, testConfig, type RunningGateway } from '../helpers/gateway.js';
import { send } from '../helpers/http.js';
import { pollUntil } from '../helpers/policy.js';
import { crmTools } from './fixtures.js';
import { connectClient, startV2Upstream, type McpUpstream } from '../helpers/mcp.js';
import { startMcpGateway, TRACKER_OPERATIONS, type McpGateway } from './mcp-fixtures.js';

const BREAK_GLASS = 'rate-test-break-glass';
const bot = { owner: 'o@example.com', roles: ['support_agent'], max_classification: 'confidential' };
let issuer: TestIssuer;
let up: RecordingUpstream;
let gw: RunningGateway;

beforeAll(async () => {
  issuer = await createTestIssuer();
  up = await startUpstream();
  const tools = {
    ...crmTools(up),
    tickets: { upstream: `${up.url}/t`, classification: 'internal', rate_limit: { rate: '1/m', burst: 2 }, operations: [{ name: 'list', method: 'GET', path: '/tickets', action: 'read' }] },
  };
  gw = await startGateway(
    testConfig(issuer, tools, {
      agents: {
        'busy-bot': { ...bot, rate_limit: { rate: '1/m', burst: 3 } },
        'tool-bot': bot,
        'user-bot-a': bot,
        'user-bot-b': bot,
        'spiky-bot': bot,
      },
      rate_limits: { agent: { rate: '100/s', burst: 100 }, user: { rate: '1/m', burst: 2 } },
      trust: { anomalies: { interval: '400ms', warmup: 1, min: { records: 5, exports: 1000, refusals: 1000 } } },
      admin: { break_glass: { sha256: createHash('sha256').update(BREAK_GLASS).digest('hex') } },
    }),
  );
});
afterAll(async () => {
  await gw?.close();
  await up?.close();
});

const call = (token: string, path = '/tools/crm/contacts/1') => send(gw.proxyUrl, { path, headers: { authorization: `Bearer ${token}` } });
const trustOf = async (agent: string) => (await send(gw.adminUrl, { path: `/admin/agents/${agent}/trust`, headers: { authorization: `Bearer ${BREAK_GLASS}` } })).json();
const audit = () => readFileSync(gw.gateway.audit()!.path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>);

describe('rate limits', () => {
  it("refuses past the agent's own limit with 429, Retry-After, the reason everywhere, and a trust signal", async () => {
    const token = await issuer.token('busy-bot', 'crm:read');
    for (let i = 0; i < 3; i++) expect((await call(token)).status).toBe(200);
    const before = up.received.length;
    const r = await call(token);
    expect(r.status).toBe(429);
    expect(r.json()).toMatchObject({ error: 'rate_limited', reasons: ['rate_limited_agent'] });
    expect(r.json().message).toMatch(/agent busy-bot \(1\/m, burst 3\)/);
    const wait = Number(r.headers['retry-after']);
    expect(wait).toBeGreaterThanOrEqual(55);
    expect(wait).toBeLessThanOrEqual(60);
    expect(up.received.length).toBe(before);
    const event = await pollUntil(async () => audit().find((e) => e.request_id === r.json().request_id), Boolean);
    expect(event!.outcome).toMatchObject({ error: 'rate_limited', reason: 'rate_limited_agent', status: 429 });
    const metrics = (await send(gw.adminUrl, { path: '/metrics' })).text;
    expect(metrics).toMatch(/portcullis_calls_total\{tool="crm",operation="get-contact",outcome="rate_limited",reason="rate_limited_agent"\} 1/);
    const t = await trustOf('busy-bot');
    expect(t.components.behaviour.signals.rate_limited).toMatchObject({ count: 1, points: -1 });
  });

  it('limits an agent on one tool without spending its budget elsewhere', async () => {
    const token = await issuer.token('tool-bot', 'crm:read tickets:read');
    expect((await call(token, '/tools/tickets/tickets')).status).toBe(200);
    expect((await call(token, '/tools/tickets/tickets')).status).toBe(200);
    const r = await call(token, '/tools/tickets/tickets');
    expect([r.status, r.json().reasons[0]]).toEqual([429, 'rate_limited_tool']);
    expect(r.json().message).toMatch(/agent tool-bot on tickets/);
    expect((await call(token)).status).toBe(200);
  });

  it('limits a delegating user across every agent acting for them', async () => {
    const forCarol = (agent: string) => issuer.sign({ sub: 'carol@example.com', act: { sub: agent }, scope: 'crm:read', roles: ['support_lead'] });
    expect((await call(await forCarol('user-bot-a'))).status).not.toBe(429);
    expect((await call(await forCarol('user-bot-b'))).status).not.toBe(429);
    const r = await call(await forCarol('user-bot-a'));
    expect([r.status, r.json().reasons[0]]).toEqual([429, 'rate_limited_user']);
    expect(r.json().message).toMatch(/calls for user carol@example.com/);
    // Service-account calls of the same agents are not the user's.
    expect((await call(await issuer.token('user-bot-b', 'crm:read'))).status).toBe(200);
  });
});

describe('anomalies', () => {
  it('a spike of distinct records read and a call outside the usual tools are audited and lower trust', async () => {
    const token = await issuer.token('spiky-bot', 'crm:read tickets:read');
    for (let i = 0; i < 5; i++) expect((await call(token, `/tools/crm/contacts/${i}`)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 450)); // the warm-up interval ends
    expect((await call(token, '/tools/tickets/tickets')).status).toBe(200);
    const found = await pollUntil(async () => audit().filter((e) => e.type === 'anomaly' && e.agent.id === 'spiky-bot'), (a) => a.length >= 2);
    expect(found.map((e) => e.anomaly.name)).toEqual(['record_spike', 'unusual_tool']);
    expect(found[0]!.anomaly).toMatchObject({ count: 5, threshold: 5, interval_ms: 400 });
    expect(found[1]!.anomaly.tool).toBe('tickets');
    const t = await trustOf('spiky-bot');
    expect(t.components.behaviour.signals.anomaly).toMatchObject({ count: 2 });
    expect(t.components.behaviour.recent.map((s: any) => s.detail)).toEqual(['unusual_tool:tickets', 'record_spike']);
    expect(t.score).toBeCloseTo(30, 0);
    expect(t.activity).toMatchObject({ learning: false, tools: ['crm', 'tickets'] });
  });
});

describe('a rate limit on one MCP tool', () => {
  let mcpUp: McpUpstream;
  let g: McpGateway;
  beforeAll(async () => {
    mcpUp = await startV2Upstream();
    const operations = TRACKER_OPERATIONS.map((op) => (op.name === 'get_issue' ? { ...op, rate_limit: { rate: '1/m', burst: 2 } } : op));
    g = await startMcpGateway(mcpUp, { operations });
  });
  afterAll(async () => {
    await g?.close();
    await mcpUp?.close();
  });

  it('limits that tool per agent (429, a JSON-RPC error with the reason), and leaves the others alone', async () => {
    const c = await connectClient('2026-07-28', g.url, await g.token('support-bot'));
    for (let i = 0; i < 2; i++) expect((await c.callTool('get_issue', { id: 'ISS-1' })).content[0]!.text).toContain('ISS-1');
    const served = mcpUp.calls().length;
    const err = await c.callTool('get_issue', { id: 'ISS-1' }).then(() => undefined, (e: unknown) => e as Error);
    expect(err).toBeDefined();
    expect(mcpUp.calls().length).toBe(served);
    expect((await c.callTool('search_issues', { query: 'printer' })).content).toBeDefined();
    await c.close();
    const event = await pollUntil(
      async () => readFileSync(g.gw.gateway.audit()!.path, 'utf8').trim().split('\n').map((l) => JSON.parse(l)).find((e) => e.outcome?.reason === 'rate_limited_operation'),
      Boolean,
    );
    expect(event).toMatchObject({ operation: 'get_issue', outcome: { status: 429, error: 'rate_limited' }, mcp: { tool: 'get_issue' } });
  });

  it('answers a raw client 429 with Retry-After and the JSON-RPC error -32055', async () => {
    const token = await g.token('support-bot');
    const body = JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'get_issue', arguments: { id: 'ISS-1' } } });
    const r = await send(g.gw.proxyUrl, {
      method: 'POST',
      path: '/tools/tracker',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' },
      body,
    });
    expect(r.status).toBe(429);
    expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
    expect(r.json()).toMatchObject({ jsonrpc: '2.0', id: 7, error: { code: -32055, data: { error: 'rate_limited', reasons: ['rate_limited_operation'] } } });
  });
});
