import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestIssuer, type TestIssuer } from '../helpers/issuer.js';
import { startUpstream, type RecordingUpstream } from '../helpers/upstream.js';
import { startGateway, testConfig, type RunningGateway } from '../helpers/gateway.js';
import { send } from '../helpers/http.js';
import { crmTools } from './fixtures.js';

const BREAK_GLASS = 'break-glass-7c1d2e3f4a5b6c7d8e9f';

let agents: TestIssuer;
let idp: TestIssuer;
let up: RecordingUpstream;
let gw: RunningGateway;

beforeAll(async () => {
  agents = await createTestIssuer();
  idp = await createTestIssuer('https://sso.example.com', 'portcullis-admin');
  up = await startUpstream();
  gw = await startGateway(
    testConfig(agents, crmTools(up), {
      admin: {
        auth: {
          issuers: [{ issuer: idp.issuer, jwks_file: idp.jwksFile, audiences: ['portcullis-admin'] }],
          roles_claim: 'groups',
          role_map: { 'sec-ops': 'operator', approvers: 'approver', soc: 'auditor', platform: 'admin' },
        },
        break_glass: { sha256: createHash('sha256').update(BREAK_GLASS).digest('hex') },
      },
    }),
  );
});
afterAll(async () => {
  await gw.close();
  await up.close();
});

describe('health, readiness and metrics', () => {
  it('answers /healthz and /readyz', async () => {
    expect((await send(gw.adminUrl, { path: '/healthz' })).json()).toEqual({ status: 'ok' });
    const ready = await send(gw.adminUrl, { path: '/readyz' });
    expect(ready.status).toBe(200);
    expect(ready.json()).toMatchObject({ ready: true });
  });

  it('exports call counts by tool, operation, outcome and reason, latency histograms and token-cache hits', async () => {
    const token = await agents.token('support-bot', 'crm:read');
    await send(gw.proxyUrl, { path: '/tools/crm/contacts', headers: { authorization: `Bearer ${token}` } });
    await send(gw.proxyUrl, { path: '/tools/crm/contacts', headers: { authorization: `Bearer ${token}` } });
    await send(gw.proxyUrl, { path: '/tools/crm/export', headers: { authorization: `Bearer ${token}` } });
    const res = await send(gw.adminUrl, { path: '/metrics' });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/text\/plain/);
    expect(res.text).toMatch(/portcullis_calls_total\{tool="crm",operation="list-contacts",outcome="ok",reason="allowed"\} 2/);
    expect(res.text).toMatch(/portcullis_calls_total\{tool="crm",operation="export",outcome="insufficient_scope",reason="scope_missing"\} 1/);
    expect(res.text).toMatch(/portcullis_call_duration_seconds_bucket\{le="[^"]+",tool="crm",outcome="ok"\}/);
    expect(res.text).toMatch(/portcullis_upstream_duration_seconds_count\{tool="crm"\} 2/);
    expect(res.text).toMatch(/portcullis_token_cache_total\{result="hit"\} [1-9]/);
  });

  it('is not reachable through the proxy listener', async () => {
    expect((await send(gw.proxyUrl, { path: '/metrics' })).status).toBe(401);
  });
});

describe('the admin auth guard', () => {
  const whoami = (authorization?: string) => send(gw.adminUrl, { path: '/admin/whoami', headers: authorization ? { authorization } : {} });

  it('refuses a call without a token (401)', async () => {
    const res = await whoami();
    expect(res.status).toBe(401);
    expect(res.json()).toMatchObject({ error: 'invalid_token', reasons: ['token_missing'] });
  });

  it('maps IdP groups through role_map', async () => {
    const res = await whoami(`Bearer ${await idp.sign({ sub: 'erin@example.com', groups: ['sec-ops', 'unrelated'] })}`);
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({ subject: 'erin@example.com', roles: ['operator'], break_glass: false });
  });

  it('gives the admin role every role', async () => {
    const res = await whoami(`Bearer ${await idp.sign({ sub: 'pat@example.com', groups: ['platform'] })}`);
    expect(res.json().roles).toEqual(['admin', 'approver', 'auditor', 'operator', 'provisioner']);
  });

  it('refuses a valid IdP token whose groups map to no role (403)', async () => {
    const res = await whoami(`Bearer ${await idp.sign({ sub: 'guest@example.com', groups: ['everyone'] })}`);
    expect(res.status).toBe(403);
    expect(res.json()).toMatchObject({ error: 'forbidden', reasons: ['admin_role_missing'] });
  });

  it("refuses an agent's capability token (another issuer and audience)", async () => {
    const res = await whoami(`Bearer ${await agents.token('support-bot', 'crm:*')}`);
    expect(res.status).toBe(401);
  });

  it('refuses an admin token for another audience', async () => {
    const res = await whoami(`Bearer ${await idp.sign({ sub: 'erin@example.com', groups: ['sec-ops'], aud: 'portcullis' })}`);
    expect(res.status).toBe(401);
    expect(res.json().reasons).toEqual(['token_claim_invalid']);
  });

  it('accepts the break-glass token, stored only as a hash, and accounts for every use', async () => {
    const res = await whoami(`Bearer ${BREAK_GLASS}`);
    expect(res.status).toBe(200);
    expect(res.json()).toMatchObject({ subject: 'break-glass', break_glass: true });
    expect((await send(gw.adminUrl, { path: '/admin/kill', headers: { authorization: `Bearer ${BREAK_GLASS}` } })).status).toBe(200);
    const metrics = await send(gw.adminUrl, { path: '/metrics' });
    expect(metrics.text).toMatch(/portcullis_admin_break_glass_total\{route="\/admin\/whoami",status="200"\} 1/);
    expect(metrics.text).toMatch(/portcullis_admin_break_glass_total\{route="\/admin\/kill",status="200"\} 1/);
    await gw.gateway.audit()!.record('marker', {}, { durable: true });
    const events = readFileSync(gw.gateway.audit()!.path, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const uses = events.filter((e) => e.type === 'break_glass');
    expect(uses).toEqual([
      expect.objectContaining({ method: 'GET', route: '/admin/whoami', path: '/admin/whoami', status: 200, client: { ip: '127.0.0.1' } }),
      expect.objectContaining({ method: 'GET', route: '/admin/kill', status: 200 }),
    ]);
    expect(JSON.stringify(uses)).not.toContain(BREAK_GLASS);
  });

  it('refuses an admin token that lives longer than admin.auth.max_token_ttl (1h by default)', async () => {
    const now = Math.floor(Date.now() / 1000);
    const long = await whoami(`Bearer ${await idp.sign({ sub: 'erin@example.com', groups: ['sec-ops'], iat: now, exp: now + 3601 })}`);
    expect(long.status).toBe(401);
    expect(long.json().reasons).toEqual(['token_lifetime_too_long']);
    expect((await whoami(`Bearer ${await idp.sign({ sub: 'erin@example.com', groups: ['sec-ops'], iat: now, exp: now + 3600 })}`)).status).toBe(200);
  });

  it('refuses a near miss of the break-glass token', async () => {
    expect((await whoami(`Bearer ${BREAK_GLASS}x`)).status).toBe(401);
  });

  it('answers unknown admin routes with a JSON 404', async () => {
    const res = await send(gw.adminUrl, { path: '/admin/nothing' });
    expect(res.status).toBe(404);
    expect(res.json()).toMatchObject({ error: 'unknown_route' });
  });
});
