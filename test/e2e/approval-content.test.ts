import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Decider } from '../../src/pipeline/decide.js';
import { createTestIssuer, type TestIssuer } from '../helpers/issuer.js';
import { startUpstream, type RecordingUpstream } from '../helpers/upstream.js';
import { auditEvents, startGateway, testConfig, type RunningGateway } from '../helpers/gateway.js';
import { send } from '../helpers/http.js';
import { startWebhook, type WebhookReceiver } from '../helpers/webhook.js';

// What an approver sees of a held call, and how the agent polls it (SPEC Part 2, "What an approval shows").
const highRiskNeedsApproval: Decider = {
  decide: (ctx) => ({ allow: ctx.operation!.risk !== 'high', approvalRequired: ctx.operation!.risk === 'high', reasons: ['payments over 1000 need a human'], revision: 'test' }),
};
let agents: TestIssuer;
let idp: TestIssuer;
let up: RecordingUpstream;
let gw: RunningGateway;
let webhook: WebhookReceiver;

beforeAll(async () => {
  agents = await createTestIssuer();
  idp = await createTestIssuer('https://sso.example.com', 'portcullis-admin');
  up = await startUpstream();
  webhook = await startWebhook();
  const payments = {
    upstream: up.url,
    classification: 'regulated',
    credentials: { header: 'authorization', value: 'Bearer payments-secret-credential' },
    operations: [{ name: 'create-payment', method: 'POST', path: '/payments', action: 'write', risk: 'high' }],
    capture: { mask: ['/beneficiary/iban_last4'], max_bytes: '2kb' },
  };
  const narrow = { ...payments, capture: { fields: ['/amount', '/currency', '/beneficiary/name'], mask: [] } };
  gw = await startGateway(
    testConfig(agents, { payments, narrow }, {
      approvals: { hold: '200ms', ttl: '1m', notify: { webhook: webhook.url } },
      agents: {
        'finance-bot': { owner: 'carol@example.com', roles: ['finance_agent'], max_classification: 'regulated' },
        'other-bot': { owner: 'dan@example.com', roles: ['finance_agent'], max_classification: 'regulated' },
      },
      admin: { auth: { issuers: [{ issuer: idp.issuer, jwks_file: idp.jwksFile, audiences: ['portcullis-admin'] }], role_map: { approvers: 'approver' } } },
    }),
    { decider: highRiskNeedsApproval },
  );
});
afterAll(async () => {
  await gw.close();
  await up.close();
  await webhook.close();
});

const approver = () => idp.sign({ sub: 'ann@example.com', groups: ['approvers'] });
const PAYMENT = { amount: 1250.5, currency: 'EUR', beneficiary: { name: 'ACME <script>alert(1)</script>', iban_last4: '4417' }, card: { cvv: '123', number_token: 'tok_live' }, password: 'hunter2', memo: 'March invoice' };

async function hold(tool: string, token: string, body: unknown = PAYMENT, query = '?idempotency_key=k-1&api_key=sk_live_1') {
  const res = await send(gw.proxyUrl, { method: 'POST', path: `/tools/${tool}/payments${query}`, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  expect(res.status).toBe(202);
  return res;
}
const show = async (id: string) => (await send(gw.adminUrl, { path: `/admin/approvals/${id}`, headers: { authorization: `Bearer ${await approver()}` } })).json();

describe('an approval shows the call it holds', () => {
  it('records who, what and why, with secrets masked, in the API, the webhook and the audit trail', async () => {
    const token = await agents.token('finance-bot', 'payments:write', { task_id: 'inv-2026-03' });
    const res = await hold('payments', token);
    const id = res.json().approval_id as string;
    const a = await show(id);
    expect(a.call).toMatchObject({
      agent: 'finance-bot', user: null, delegation: ['finance-bot'], task_id: 'inv-2026-03',
      tool: 'payments', operation: 'create-payment', action: 'write', risk: 'high', classification: 'regulated',
      method: 'POST', path: '/tools/payments/payments', query: { idempotency_key: 'k-1', api_key: '[masked]' },
      content_note: 'complete', reasons: ['payments over 1000 need a human'], policy_revision: 'test',
      trust: { level: 'standard' },
    });
    expect(a.call.content).toEqual({ amount: 1250.5, currency: 'EUR', beneficiary: { name: 'ACME <script>alert(1)</script>', iban_last4: '[masked]' }, card: { cvv: '[masked]', number_token: '[masked]' }, password: '[masked]', memo: 'March invoice' });
    expect(a.call.body_sha256).toMatch(/^[0-9a-f]{64}$/);
    const text = JSON.stringify(a);
    for (const secret of ['hunter2', 'sk_live_1', '4417', 'tok_live', 'payments-secret-credential']) expect(text).not.toContain(secret);
    for (let i = 0; i < 50 && !webhook.received.some((n) => n.approval.id === id); i++) await new Promise((r) => setTimeout(r, 20));
    expect(webhook.received.find((n) => n.approval.id === id)!.approval.call).toEqual(a.call);
    const requested = (await auditEvents(gw)).find((e) => e.type === 'approval' && e.action === 'requested' && e.approval.id === id)!;
    expect(requested.approval.call.content.password).toBe('[masked]');
  });

  it("shows only the tool's capture fields when it names them", async () => {
    const res = await hold('narrow', await agents.token('finance-bot', 'narrow:write'));
    const a = await show(res.json().approval_id);
    expect(a.call).toMatchObject({ content_note: 'fields', content: { '/amount': 1250.5, '/currency': 'EUR', '/beneficiary/name': 'ACME <script>alert(1)</script>' } });
    expect(Object.keys(a.call.content)).toHaveLength(3);
  });

  it('says so, rather than truncating, when the content is over max_bytes or not JSON', async () => {
    const big = await hold('payments', await agents.token('finance-bot', 'payments:write'), { memo: 'x'.repeat(3000) });
    expect((await show(big.json().approval_id)).call).toMatchObject({ content: null, content_note: 'too_large' });
    const res = await send(gw.proxyUrl, { method: 'POST', path: '/tools/payments/payments', headers: { authorization: `Bearer ${await agents.token('finance-bot', 'payments:write')}`, 'content-type': 'text/plain' }, body: 'pay ACME 1250 EUR' });
    expect((await show(res.json().approval_id)).call).toMatchObject({ content: null, content_note: 'not_json', body_bytes: 17 });
  });
});

describe('the agent polls its own approval on the proxy listener', () => {
  it("follows the 202's Location with the same token: pending, then approved once a human decides", async () => {
    const token = await agents.token('finance-bot', 'payments:write');
    const res = await hold('payments', token);
    const id = res.json().approval_id as string;
    expect(res.headers.location).toBe(`/approvals/${id}`);
    const poll = () => send(gw.proxyUrl, { path: res.headers.location as string, headers: { authorization: `Bearer ${token}` } });
    const pending = await poll();
    expect(pending.status).toBe(200);
    expect(pending.json()).toMatchObject({ approval_id: id, status: 'pending' });
    const decided = await send(gw.adminUrl, { method: 'POST', path: `/admin/approvals/${id}/approve`, headers: { authorization: `Bearer ${await approver()}`, 'content-type': 'application/json' }, body: '{"comment":"ok"}' });
    expect(decided.status).toBe(200);
    expect((await poll()).json()).toMatchObject({ status: 'approved' });
  });

  it("answers another agent's poll, an unknown id and a missing token the same way as a stranger's: refused, audited", async () => {
    const res = await hold('payments', await agents.token('finance-bot', 'payments:write'));
    const id = res.json().approval_id as string;
    const other = await send(gw.proxyUrl, { path: `/approvals/${id}`, headers: { authorization: `Bearer ${await agents.token('other-bot', 'payments:write')}` } });
    const unknown = await send(gw.proxyUrl, { path: '/approvals/apr-does-not-exist', headers: { authorization: `Bearer ${await agents.token('finance-bot', 'payments:write')}` } });
    expect(other.status).toBe(404);
    expect(unknown.status).toBe(404);
    expect(other.json().reasons).toEqual(['not_found']);
    expect(other.json().message.replace(id, 'ID')).toBe(unknown.json().message.replace('apr-does-not-exist', 'ID'));
    const anonymous = await send(gw.proxyUrl, { path: `/approvals/${id}` });
    expect(anonymous.status).toBe(401);
    const events = await auditEvents(gw);
    expect(events.find((e) => e.request_id === other.json().request_id)).toMatchObject({ outcome: { reason: 'not_found' } });
  });
});
