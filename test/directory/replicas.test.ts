/**
 * The registry across replicas on a real Redis: a SCIM change on A is enforced by B within 1 s
 * (measured), two provisioners racing on different replicas get one winner (uniqueness and lost
 * updates decided inside Redis), and a replica started later loads the registry as it is.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestIssuer, type TestIssuer } from '../helpers/issuer.js';
import { startUpstream, type RecordingUpstream } from '../helpers/upstream.js';
import { startGateway, tempState, testConfig, type RunningGateway } from '../helpers/gateway.js';
import { send } from '../helpers/http.js';
import { startTestRedis, type TestRedis } from '../helpers/redis.js';
import { crmTools } from '../e2e/fixtures.js';
import { AGENT, patchOp, ROLE_MAP, USER } from '../helpers/scim.js';

let agents: TestIssuer;
let idp: TestIssuer;
let up: RecordingUpstream;
let redis: TestRedis;
let prefix: string;
let a: RunningGateway;
let b: RunningGateway;
let provisioner: string;

const configFor = () =>
  testConfig(agents, crmTools(up), {
    state: tempState({ store: 'redis', redis: { url: redis.url, prefix }, max_staleness: '600ms' }),
    admin: { auth: { issuers: [{ issuer: idp.issuer, jwks_file: idp.jwksFile, audiences: ['portcullis-admin'] }], roles_claim: 'groups', role_map: ROLE_MAP } },
    trust: { floor: 'untrusted' },
  });

beforeAll(async () => {
  agents = await createTestIssuer();
  idp = await createTestIssuer('https://sso.example.com', 'portcullis-admin');
  redis = await startTestRedis();
  up = await startUpstream();
  prefix = `portcullis-test:${randomUUID()}:`;
  a = await startGateway(configFor());
  b = await startGateway(configFor());
  provisioner = await idp.sign({ sub: 'entra-provisioning', groups: ['scim-connector'] });
});
afterAll(async () => {
  await a.close();
  await b.close();
  await up.close();
  await redis.stop();
});

const scim = (g: RunningGateway, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
  send(g.adminUrl, { method, path: `/scim/v2${path}`, headers: { authorization: `Bearer ${provisioner}`, 'content-type': 'application/scim+json', ...headers }, body: body === undefined ? undefined : JSON.stringify(body) });
const call = async (g: RunningGateway, agent: string) =>
  send(g.proxyUrl, { path: '/tools/crm/contacts', headers: { authorization: `Bearer ${await agents.token(agent, 'crm:read')}` } });

/** Polls `check` until it holds; resolves to the milliseconds it took. */
async function within(ms: number, check: () => Promise<boolean>): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < ms) {
    if (await check()) return Date.now() - started;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`not within ${ms} ms`);
}

describe('the registry on two replicas sharing Redis', () => {
  it('seeds once: both replicas see the same gateway.yaml agents under the same ids', async () => {
    const ra = (await scim(a, 'GET', '/Agents?sortBy=agentId')).json();
    const rb = (await scim(b, 'GET', '/Agents?sortBy=agentId')).json();
    expect(ra.totalResults).toBe(3);
    expect(rb.Resources.map((r: { id: string }) => r.id)).toEqual(ra.Resources.map((r: { id: string }) => r.id));
  });

  it('a suspension on A refuses the agent on B within 1 s', async () => {
    expect((await call(b, 'support-bot')).status).toBe(200);
    const id = (await scim(a, 'GET', `/Agents?filter=${encodeURIComponent('agentId eq "support-bot"')}`)).json().Resources[0].id;
    const started = Date.now();
    expect((await scim(a, 'PATCH', `/Agents/${id}`, patchOp({ op: 'replace', path: 'status', value: 'suspended' }))).status).toBe(200);
    const ms = await within(1000, async () => b.gateway.registry.get('support-bot')?.status === 'suspended');
    expect(ms).toBeLessThan(1000);
    expect(Date.now() - started).toBeLessThan(1000);
    expect((await call(b, 'support-bot')).status).not.toBe(200);
    await scim(b, 'PATCH', `/Agents/${id}`, patchOp({ op: 'replace', path: 'status', value: 'active' }));
    await within(1000, async () => a.gateway.registry.get('support-bot')?.status === 'active');
  });

  it('an agent created on B can call through A at once', async () => {
    const res = await scim(b, 'POST', '/Agents', { schemas: [AGENT], agentId: 'replica-bot', owner: 'x@example.com', maxClassification: 'confidential' });
    expect(res.status, res.text).toBe(201);
    await within(1000, async () => a.gateway.registry.has('replica-bot'));
    expect((await call(a, 'replica-bot')).status).toBe(200);
  });

  it('two provisioners creating the same userName on two replicas at once: one 201, one 409', async () => {
    const body = { schemas: [USER], userName: `race-${randomUUID()}@example.com` };
    const results = await Promise.all([scim(a, 'POST', '/Users', body), scim(b, 'POST', '/Users', body)]);
    expect(results.map((r) => r.status).sort()).toEqual([201, 409]);
  });

  it('two updates from the same version on two replicas: one applies, the other is 412, never a silent loss', async () => {
    const created = await scim(a, 'POST', '/Users', { schemas: [USER], userName: `lost-${randomUUID()}@example.com` });
    const id = created.json().id;
    const tag = created.headers.etag!;
    await within(1000, async () => (await scim(b, 'GET', `/Users/${id}`)).status === 200);
    const results = await Promise.all([
      scim(a, 'PATCH', `/Users/${id}`, patchOp({ op: 'replace', path: 'title', value: 'from A' }), { 'if-match': tag }),
      scim(b, 'PATCH', `/Users/${id}`, patchOp({ op: 'replace', path: 'title', value: 'from B' }), { 'if-match': tag }),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 412]);
    const winner = results.find((r) => r.status === 200)!.json().title;
    await within(1000, async () => (await scim(a, 'GET', `/Users/${id}`)).json().title === winner && (await scim(b, 'GET', `/Users/${id}`)).json().title === winner);
  });

  it('an approver removed from the group on A loses the right to approve on B within 1 s, valid JWT or not', async () => {
    const ann = (await scim(a, 'POST', '/Users', { schemas: [USER], userName: 'ann@example.com' })).json().id;
    const group = (await scim(a, 'POST', '/Groups', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'approvers', members: [{ value: ann }] })).json().id;
    const jwt = await idp.sign({ sub: 'ann@example.com', groups: ['approvers'] });
    const approvals = (g: RunningGateway) => send(g.adminUrl, { path: '/admin/approvals', headers: { authorization: `Bearer ${jwt}` } });
    await within(1000, async () => (await approvals(b)).status === 200);
    expect((await scim(a, 'PATCH', `/Groups/${group}`, patchOp({ op: 'remove', path: `members[value eq "${ann}"]` }))).status).toBe(200);
    const ms = await within(1000, async () => (await approvals(b)).status === 403);
    expect(ms).toBeLessThan(1000);
  });

  it('a replica started later loads the registry as it is now', async () => {
    const c = await startGateway(configFor());
    try {
      expect(c.gateway.registry.has('replica-bot')).toBe(true);
      expect((await scim(c, 'GET', '/Agents')).json().totalResults).toBe(4);
    } finally {
      await c.close();
    }
  });
});
