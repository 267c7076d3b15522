import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestIssuer, type TestIssuer } from '../helpers/issuer.js';
import { startUpstream, type RecordingUpstream } from '../helpers/upstream.js';
import { startGateway, tempAudit, tempState, testConfig, type RunningGateway } from '../helpers/gateway.js';
import { send } from '../helpers/http.js';
import { crmTools } from './fixtures.js';

const BREAK_GLASS = 'kill-test-break-glass';
let agents: TestIssuer;
let idp: TestIssuer;
let up: RecordingUpstream;
let gw: RunningGateway;
let hold: Promise<void> | undefined;
let release: () => void = () => undefined;

function config(state = tempState(), audit = tempAudit()) {
  return testConfig(agents, {
    ...crmTools(up),
    ticketing: { upstream: up.url, classification: 'internal', operations: [{ name: 'list-tickets', method: 'GET', path: '/tickets', action: 'read' }] },
  }, {
    agents: {
      'support-bot': { owner: 'alice@example.com', roles: ['support_agent'], max_classification: 'confidential' },
      'sales-bot': { owner: 'bob@example.com', roles: ['sales_ops_agent'], max_classification: 'confidential' },
    },
    state,
    audit,
    admin: {
      auth: { issuers: [{ issuer: idp.issuer, jwks_file: idp.jwksFile, audiences: ['portcullis-admin'] }], role_map: { 'sec-ops': 'operator', platform: 'admin' } },
      break_glass: { sha256: createHash('sha256').update(BREAK_GLASS).digest('hex') },
    },
  });
}

beforeAll(async () => {
  agents = await createTestIssuer();
  idp = await createTestIssuer('https://sso.example.com', 'portcullis-admin');
  up = await startUpstream(async (req, res) => {
    if (req.url.includes('/slow')) {
      await hold;
      if (res.destroyed) return;
    }
    if (req.url.includes('/stream')) {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first chunk\n');
      await hold;
      if (!res.destroyed) res.end('last chunk\n');
      return;
    }
    res.end('{"ok":true}');
  });
  gw = await startGateway(config());
});
afterAll(async () => {
  release();
  await gw.close();
  await up.close();
});
beforeEach(() => {
  up.received.length = 0;
});

const admin = (method: string, path: string, body?: unknown, token = BREAK_GLASS) =>
  send(gw.adminUrl, { method, path, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
const call = async (agent: string, path = '/tools/crm/contacts', scope = 'crm:read ticketing:read', extra: Record<string, unknown> = {}) =>
  send(gw.proxyUrl, { path, headers: { authorization: `Bearer ${await agents.token(agent, scope, extra)}` } });

describe('the kill switch', () => {
  it('stops an agent at once, leaves the others alone, and is lifted by an admin', async () => {
    expect((await call('support-bot')).status).toBe(200);
    const kill = await admin('POST', '/admin/kill', { target: { agent: 'support-bot' }, reason: 'exfiltrating contacts (INC-7)' });
    expect(kill.status).toBe(201);
    const { id } = kill.json();

    const refused = await call('support-bot');
    expect(refused.status).toBe(403);
    expect(refused.json()).toMatchObject({ error: 'killed', reasons: ['killed_agent'] });
    expect(refused.text).not.toContain('INC-7');
    expect((await call('sales-bot')).status).toBe(200);
    expect((await admin('GET', '/admin/kill')).json().kills).toEqual([expect.objectContaining({ id, target: { agent: 'support-bot' }, by: 'break-glass' })]);

    // Lifting a kill needs the admin role: an operator may engage it but not lift it.
    const operator = await idp.sign({ sub: 'erin@example.com', groups: ['sec-ops'] });
    expect((await admin('DELETE', `/admin/kill/${id}`, undefined, operator)).status).toBe(403);
    const adminToken = await idp.sign({ sub: 'pat@example.com', groups: ['platform'] });
    expect((await admin('DELETE', `/admin/kill/${id}`, undefined, adminToken)).status).toBe(200);
    expect((await call('support-bot')).status).toBe(200);
    expect((await admin('DELETE', `/admin/kill/${id}`, undefined, adminToken)).status).toBe(404);
  });

  it.each([
    [{ tool: 'ticketing' }, 'killed_tool', '/tools/ticketing/tickets', '/tools/crm/contacts'],
    [{ user: 'mallory@example.com' }, 'killed_user', 'delegated', '/tools/crm/contacts'],
    [{ all: true }, 'killed_all', '/tools/crm/contacts', null],
  ])('stops by %j', async (target, reason, stopped, unaffected) => {
    const { id } = (await admin('POST', '/admin/kill', { target, reason: 'test' })).json();
    try {
      const res = stopped === 'delegated'
        ? await call('support-bot', '/tools/crm/contacts', 'crm:read', { sub: 'mallory@example.com', act: { sub: 'support-bot' } })
        : await call('support-bot', stopped);
      expect(res.status).toBe(403);
      expect(res.json().reasons).toEqual([reason]);
      if (unaffected) expect((await call('support-bot', unaffected)).status).toBe(200);
    } finally {
      await admin('DELETE', `/admin/kill/${id}`);
    }
  });

  it('cuts a call in flight: the upstream request is aborted and the agent gets killed', async () => {
    hold = new Promise((r) => (release = r));
    const pending = call('support-bot', '/tools/crm/contacts/slow');
    while (up.received.length === 0) await new Promise((r) => setTimeout(r, 10));
    const started = Date.now();
    const { id } = (await admin('POST', '/admin/kill', { target: { agent: 'support-bot' }, reason: 'cut' })).json();
    const res = await pending;
    expect(Date.now() - started).toBeLessThan(500);
    expect(res.status).toBe(403);
    expect(res.json()).toMatchObject({ error: 'killed', reasons: ['killed_agent'] });
    release();
    await admin('DELETE', `/admin/kill/${id}`);
  });

  it('cuts a response that is already streaming', async () => {
    hold = new Promise((r) => (release = r));
    const { request } = await import('undici');
    const res = await request(`${gw.proxyUrl}/tools/crm/contacts/stream`, { headers: { authorization: `Bearer ${await agents.token('support-bot', 'crm:read')}` } });
    expect(res.statusCode).toBe(200);
    const body = res.body.text();
    await new Promise((r) => setTimeout(r, 50));
    const { id } = (await admin('POST', '/admin/kill', { target: { agent: 'support-bot' }, reason: 'cut' })).json();
    await expect(body).rejects.toThrow();
    release();
    await admin('DELETE', `/admin/kill/${id}`);
    await new Promise((r) => setTimeout(r, 50));
    const events = readFileSync(gw.gateway.audit()!.path, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(events.find((e) => e.type === 'tool_call' && e.request?.path === '/tools/crm/contacts/stream')).toMatchObject({ outcome: { result: 'killed', killed_by: id } });
  });

  it('refuses malformed kills with a clear 400', async () => {
    for (const body of [{ target: { agent: 'x' } }, { target: { agent: 'x', tool: 'y' }, reason: 'r' }, { target: { all: 'yes' }, reason: 'r' }, { reason: 'r' }]) {
      const res = await admin('POST', '/admin/kill', body);
      expect(res.status).toBe(400);
      expect(res.json()).toMatchObject({ error: 'invalid_request', reasons: ['body_invalid'] });
    }
  });
});

describe('revocation', () => {
  it('kills one token by jti, even one the cache has already verified', async () => {
    const token = await agents.token('support-bot', 'crm:read', { jti: 'leaked-jti-1' });
    const use = () => send(gw.proxyUrl, { path: '/tools/crm/contacts', headers: { authorization: `Bearer ${token}` } });
    expect((await use()).status).toBe(200);
    expect((await admin('POST', '/admin/revoke', { jti: 'leaked-jti-1', reason: 'pasted in a ticket' })).status).toBe(201);
    const res = await use();
    expect(res.status).toBe(401);
    expect(res.json()).toMatchObject({ error: 'invalid_token', reasons: ['token_revoked'] });
    expect((await call('support-bot')).status).toBe(200);
  });

  it("kills every token of an agent issued before now, not the ones issued after", async () => {
    const before = await agents.token('sales-bot', 'crm:read');
    expect((await admin('POST', '/admin/revoke', { agent: 'sales-bot' })).status).toBe(201);
    expect((await send(gw.proxyUrl, { path: '/tools/crm/contacts', headers: { authorization: `Bearer ${before}` } })).status).toBe(401);
    const after = await agents.token('sales-bot', 'crm:read', { iat: Math.floor(Date.now() / 1000) + 2 });
    expect((await send(gw.proxyUrl, { path: '/tools/crm/contacts', headers: { authorization: `Bearer ${after}` } })).status).toBe(200);
  });

  it('refuses a malformed revocation', async () => {
    expect((await admin('POST', '/admin/revoke', { jti: 'a', agent: 'b' })).status).toBe(400);
    expect((await admin('POST', '/admin/revoke', {})).status).toBe(400);
  });

  it('records kills, revives and revocations in the audit trail, naming who', async () => {
    await gw.gateway.audit()!.record('marker', {}, { durable: true });
    const events = readFileSync(gw.gateway.audit()!.path, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(events.find((e) => e.type === 'kill')).toMatchObject({ kill: { target: { agent: 'support-bot' }, reason: 'exfiltrating contacts (INC-7)', by: 'break-glass' } });
    expect(events.find((e) => e.type === 'revive')).toMatchObject({ by: 'pat@example.com' });
    expect(events.find((e) => e.type === 'revoke')).toMatchObject({ revocation: { kind: 'jti', jti: 'leaked-jti-1', by: 'break-glass', reason: 'pasted in a ticket' } });
  });
});

describe('the memory store across a restart', () => {
  it('still holds the kill and the revocation', async () => {
    const state = tempState();
    const first = await startGateway(config(state));
    const token = await agents.token('sales-bot', 'crm:read', { jti: 'revoked-before-restart' });
    const adminCall = (g: RunningGateway, method: string, path: string, body: unknown) =>
      send(g.adminUrl, { method, path, headers: { authorization: `Bearer ${BREAK_GLASS}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    await adminCall(first, 'POST', '/admin/kill', { target: { agent: 'support-bot' }, reason: 'before restart' });
    await adminCall(first, 'POST', '/admin/revoke', { jti: 'revoked-before-restart' });
    await first.close();

    const second = await startGateway(config(state));
    try {
      const killed = await send(second.proxyUrl, { path: '/tools/crm/contacts', headers: { authorization: `Bearer ${await agents.token('support-bot', 'crm:read')}` } });
      expect(killed.json().reasons).toEqual(['killed_agent']);
      const revoked = await send(second.proxyUrl, { path: '/tools/crm/contacts', headers: { authorization: `Bearer ${token}` } });
      expect(revoked.json().reasons).toEqual(['token_revoked']);
    } finally {
      await second.close();
    }
  });
});

describe('portcullis kill | revive | revoke', () => {
  it('drive the admin API', async () => {
    const { runCli } = await import('../helpers/cli.js');
    const env = { PORTCULLIS_ADMIN_TOKEN: BREAK_GLASS };
    const k = await runCli(['kill', '--agent', 'support-bot', '--reason', 'from the CLI', '--url', gw.adminUrl], { env });
    expect(k.code).toBe(0);
    const { id } = JSON.parse(k.stdout);
    expect((await call('support-bot')).json().reasons).toEqual(['killed_agent']);
    expect(JSON.parse((await runCli(['kill', '--list', '--json', '--url', gw.adminUrl], { env })).stdout).kills[0].id).toBe(id);
    // For people: a table, the target as key=value, the time in RFC 3339.
    const table = (await runCli(['kill', '--list', '--url', gw.adminUrl], { env })).stdout.split('\n');
    expect(table[0]).toMatch(/^ID\s+TARGET\s+BY\s+AT\s+REASON$/);
    expect(table[1]).toContain(id);
    expect(table[1]).toContain('agent=support-bot');
    expect(table[1]).toMatch(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/);
    expect((await runCli(['revive', id, '--url', gw.adminUrl], { env })).code).toBe(0);
    expect((await call('support-bot')).status).toBe(200);
    const r = await runCli(['revoke', '--jti', 'cli-jti', '--url', gw.adminUrl], { env });
    expect(JSON.parse(r.stdout)).toMatchObject({ kind: 'jti', jti: 'cli-jti' });

    const twoTargets = await runCli(['kill', '--agent', 'a', '--tool', 'b', '--reason', 'x'], { env });
    expect(twoTargets.code).toBe(2);
    expect(twoTargets.stderr).toMatch(/exactly one target/);
    const denied = await runCli(['revive', 'kill-nope', '--url', gw.adminUrl], { env: { PORTCULLIS_ADMIN_TOKEN: 'wrong' } });
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/refused \(401\) invalid_token/);
  });
});
