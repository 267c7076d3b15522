import { copyFileSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestIssuer, type TestIssuer } from '../helpers/issuer.js';
import { startUpstream, type RecordingUpstream } from '../helpers/upstream.js';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { send } from '../helpers/http.js';
import { buildPolicyBundle, letSalesWriteTickets, pollUntil, SHIPPED_BUNDLE, utcIn } from '../helpers/policy.js';
import { shippedCatalogue } from './shipped-catalogue.js';

let issuer: TestIssuer;
let up: RecordingUpstream;

beforeAll(async () => {
  issuer = await createTestIssuer();
  up = await startUpstream();
});
afterAll(async () => {
  await up.close();
});
beforeEach(() => {
  up.received.length = 0;
});

async function call(gw: RunningGateway, token: string, method: string, path: string, body?: unknown) {
  return send(gw.proxyUrl, {
    method,
    path,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
}

describe('the shipped policy through the whole gateway', () => {
  let gw: RunningGateway;
  beforeAll(async () => {
    gw = await startGateway(
      shippedCatalogue(issuer, up, { bundle: SHIPPED_BUNDLE }, {
        agents: { 'intern-bot': { owner: 'alice@example.com', roles: ['support_agent'], max_classification: 'internal' } },
      }),
      { policy: true },
    );
  });
  afterAll(() => gw.close());

  it('lets a support agent read tickets, naming the grant in the log', async () => {
    const res = await call(gw, await issuer.token('support-bot', 'ticketing:read'), 'GET', '/tools/ticketing/tickets');
    expect(res.status).toBe(200);
    expect(up.received).toHaveLength(1);
    const line = gw.logs.find((l) => l.request_id === res.headers['portcullis-request-id']);
    expect(line?.policy_revision).toMatch(/^sha256:/);
  });

  it('refuses a support agent on payments even with the scope, with the reasons and the policy revision', async () => {
    const res = await call(gw, await issuer.token('support-bot', 'payments:read'), 'GET', '/tools/payments/payments');
    expect(res.status).toBe(403);
    const body = res.json();
    expect(body.error).toBe('forbidden');
    expect(body.reasons[0]).toBe('policy_denied');
    expect(body.reasons).toContain('agent support-bot: no role (support_agent) grants payments:read (list-payments)');
    expect(body.policy_revision).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(up.received).toHaveLength(0);
  });

  it("holds a finance agent's payment write as approval_required and forwards nothing", async () => {
    const res = await call(gw, await issuer.token('finance-bot', 'payments:write'), 'POST', '/tools/payments/payments', { payee: 'p-1', amount: 10 });
    expect(res.status).toBe(202);
    expect(res.json()).toMatchObject({ error: 'approval_pending' });
    expect(res.json().reasons).toEqual(expect.arrayContaining(['approval_required', 'operation create-payment is high risk', 'payments:write needs a human approver']));
    expect(up.received).toHaveLength(0);
  });

  it('refuses a delegated call from a user without the role, even though the agent has it', async () => {
    const token = await issuer.sign({ sub: 'eve@example.com', act: { sub: 'support-bot' }, roles: ['it_ops'], scope: 'crm:read' });
    const res = await call(gw, token, 'GET', '/tools/crm/contacts/c-1');
    expect(res.status).toBe(403);
    expect(res.json().reasons).toContain('user eve@example.com: no role (it_ops) grants crm:read (get-contact)');
    const ok = await issuer.sign({ sub: 'alice@example.com', act: { sub: 'support-bot' }, roles: ['support'], scope: 'crm:read' });
    expect((await call(gw, ok, 'GET', '/tools/crm/contacts/c-1')).status).toBe(200);
  });

  it('refuses a confidential tool to an agent whose ceiling is internal', async () => {
    const res = await call(gw, await issuer.token('intern-bot', 'crm:read'), 'GET', '/tools/crm/contacts/c-1');
    expect(res.status).toBe(403);
    expect(res.json().reasons).toEqual(['policy_denied', "tool crm is confidential, above agent intern-bot's ceiling internal"]);
  });

  it('exports decision metrics and the bundle revision', async () => {
    const metrics = await send(gw.adminUrl, { path: '/metrics' });
    expect(metrics.text).toMatch(/portcullis_policy_decisions_total\{result="allow"\} [1-9]/);
    expect(metrics.text).toMatch(/portcullis_policy_decisions_total\{result="deny"\} [1-9]/);
    expect(metrics.text).toMatch(/portcullis_policy_decisions_total\{result="approval"\} [1-9]/);
    expect(metrics.text).toMatch(/portcullis_policy_bundle_info\{revision="sha256:[0-9a-f]{64}"\} 1/);
    expect(metrics.text).toMatch(/portcullis_policy_eval_seconds_count [1-9]/);
    expect(metrics.text).toMatch(/portcullis_policy_reloads_total\{result="success",trigger="start"\} 1/);
  });
});

describe('time-bound elevation', () => {
  it('grants a role until its expiry, then stops without anyone editing it', async () => {
    const until = utcIn(4);
    const bundle = await buildPolicyBundle({
      editData: (y) => y.replace(/elevations:\n.*\n/, `elevations:\n  - { agent: support-bot, role: sales_ops_agent, until: "${until}", reason: "test" }\n`),
    });
    const gw = await startGateway(shippedCatalogue(issuer, up, { bundle }), { policy: true });
    try {
      const token = await issuer.token('support-bot', 'crm:write');
      const during = await call(gw, token, 'PATCH', '/tools/crm/contacts/c-1', { phone: '1' });
      expect(during.status).toBe(200);
      await new Promise((r) => setTimeout(r, Date.parse(until) - Date.now() + 1100));
      const after = await call(gw, token, 'PATCH', '/tools/crm/contacts/c-1', { phone: '2' });
      expect(after.status).toBe(403);
      expect(after.json().reasons[1]).toBe('agent support-bot: no role (support_agent) grants crm:write (update-contact)');
    } finally {
      await gw.close();
    }
  }, 60_000);
});

describe('bundle lifecycle', () => {
  it('a corrupt bundle at start leaves the gateway not ready, refusing calls with policy_unavailable', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-bundle-'));
    writeFileSync(join(dir, 'bundle.tar.gz'), 'this is not a bundle');
    const gw = await startGateway(shippedCatalogue(issuer, up, { bundle: join(dir, 'bundle.tar.gz') }), { policy: true });
    try {
      const ready = await send(gw.adminUrl, { path: '/readyz' });
      expect(ready.status).toBe(503);
      expect(ready.json().checks.policy_loaded).toBe(false);
      const res = await call(gw, await issuer.token('support-bot', 'ticketing:read'), 'GET', '/tools/ticketing/tickets');
      expect(res.status).toBe(503);
      expect(res.json()).toMatchObject({ error: 'policy_unavailable', reasons: ['policy_error'] });
      expect(up.received).toHaveLength(0);
    } finally {
      await gw.close();
    }
  });

  it('a corrupt bundle on reload keeps the old policy serving; the reload endpoint says why', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-bundle-'));
    const path = join(dir, 'bundle.tar.gz');
    copyFileSync(SHIPPED_BUNDLE, path);
    const gw = await startGateway(shippedCatalogue(issuer, up, { bundle: path, watch: false }, { breakGlass: BREAK_GLASS }), { policy: true });
    try {
      writeFileSync(path, readFileSync(SHIPPED_BUNDLE).subarray(0, 2000));
      const reload = await send(gw.adminUrl, { method: 'POST', path: '/admin/reload', headers: { authorization: `Bearer ${BREAK_GLASS}` } });
      expect(reload.status).toBe(422);
      expect(reload.json()).toMatchObject({ reloaded: false, error: 'reload_failed' });
      expect(reload.json().message).toMatch(/tar\.gz/);
      expect(reload.json().revision).toMatch(/^sha256:/);
      const res = await call(gw, await issuer.token('support-bot', 'ticketing:read'), 'GET', '/tools/ticketing/tickets');
      expect(res.status).toBe(200);
      expect((await send(gw.adminUrl, { path: '/readyz' })).status).toBe(200);
      const metrics = await send(gw.adminUrl, { path: '/metrics' });
      expect(metrics.text).toMatch(/portcullis_policy_reloads_total\{result="failure",trigger="admin"\} 1/);
      // The rejected reload is an audit event too.
      await gw.gateway.audit()!.record('marker', {}, { durable: true });
      const events = readFileSync(gw.gateway.audit()!.path, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      expect(events.find((e) => e.type === 'policy_reload' && e.trigger === 'admin')).toMatchObject({ ok: false, error: expect.stringMatching(/tar\.gz/), revision: expect.stringMatching(/^sha256:/) });
    } finally {
      await gw.close();
    }
  });

  it('a policy whose output is malformed denies (policy_unavailable), and such a bundle is never swapped in', async () => {
    const malformed = await buildPolicyBundle({ rego: 'package portcullis\n\nimport rego.v1\n\ndecision := {"allow": "yes", "reasons": []}\n' });
    // At start: the smoke test rejects it, so nothing is active and every call is refused.
    const gw = await startGateway(shippedCatalogue(issuer, up, { bundle: malformed }), { policy: true });
    try {
      const res = await call(gw, await issuer.token('support-bot', 'ticketing:read'), 'GET', '/tools/ticketing/tickets');
      expect(res.status).toBe(503);
      expect(res.json().error).toBe('policy_unavailable');
      expect(gw.logs.some((l) => l.msg === 'policy bundle rejected; no policy is active' && String(l.error).includes('"allow" is not a boolean'))).toBe(true);
    } finally {
      await gw.close();
    }
  }, 60_000);

  it('a policy that fails only on some inputs denies those calls rather than allowing them', async () => {
    // Well-formed for the smoke test, malformed for the ticketing tool.
    const rego = `package portcullis\n\nimport rego.v1\n\ndecision := {"allow": true, "approval_required": false, "reasons": ["ok"]} if input.tool.name != "ticketing"\n\ndecision := {"allow": 1} if input.tool.name == "ticketing"\n`;
    const bundle = await buildPolicyBundle({ rego });
    const gw = await startGateway(shippedCatalogue(issuer, up, { bundle }), { policy: true });
    try {
      const res = await call(gw, await issuer.token('support-bot', 'ticketing:read'), 'GET', '/tools/ticketing/tickets');
      expect(res.status).toBe(503);
      expect(res.json()).toMatchObject({ error: 'policy_unavailable' });
      expect(up.received).toHaveLength(0);
      expect((await call(gw, await issuer.token('support-bot', 'crm:read'), 'GET', '/tools/crm/contacts/c-1')).status).toBe(200);
    } finally {
      await gw.close();
    }
  }, 60_000);

  it('picks up a rebuilt bundle by file watch, without a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-bundle-'));
    const path = join(dir, 'bundle.tar.gz');
    copyFileSync(SHIPPED_BUNDLE, path);
    const gw = await startGateway(shippedCatalogue(issuer, up, { bundle: path, watch: true }), { policy: true });
    try {
      const token = await issuer.token('sales-bot', 'ticketing:write');
      const create = () => call(gw, token, 'POST', '/tools/ticketing/tickets', { title: 'x' });
      expect((await create()).status).toBe(403);
      const widened = await buildPolicyBundle({ editData: letSalesWriteTickets });
      copyFileSync(widened, `${path}.tmp`);
      renameSync(`${path}.tmp`, path);
      expect((await pollUntil(create, (r) => r.status !== 403)).status).toBe(200);
      expect(gw.logs.some((l) => l.msg === 'policy bundle loaded' && l.trigger === 'watch')).toBe(true);
    } finally {
      await gw.close();
    }
  }, 60_000);
});

const BREAK_GLASS = 'policy-test-break-glass-token';
