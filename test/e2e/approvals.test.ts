import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Decider } from '../../src/pipeline/decide.js';
import { createTestIssuer, type TestIssuer } from '../helpers/issuer.js';
import { startUpstream, type RecordingUpstream } from '../helpers/upstream.js';
import { startGateway, testConfig, type RunningGateway } from '../helpers/gateway.js';
import { send } from '../helpers/http.js';
import { startWebhook, type WebhookReceiver } from '../helpers/webhook.js';
import { crmTools } from './fixtures.js';

// About approvals, not policy: a decider that asks for a human on every high-risk operation.
const highRiskNeedsApproval: Decider = {
  decide: (ctx) => ({ allow: ctx.operation!.risk !== 'high', approvalRequired: ctx.operation!.risk === 'high', reasons: ['high risk'], revision: 'test' }),
};

let agents: TestIssuer;
let idp: TestIssuer;
let up: RecordingUpstream;
let webhook: WebhookReceiver;

function gatewayConfig(approvals: Record<string, unknown>, webhookUrl?: string) {
  return testConfig(agents, crmTools(up, {
    operations: [
      { name: 'export', method: 'POST', path: '/export', action: 'export', risk: 'high' },
      { name: 'list-contacts', method: 'GET', path: '/contacts', action: 'read' },
    ],
  }), {
    approvals: { hold: '300ms', ttl: '1m', ...approvals, notify: { webhook: webhookUrl ?? null } },
    admin: { auth: { issuers: [{ issuer: idp.issuer, jwks_file: idp.jwksFile, audiences: ['portcullis-admin'] }], role_map: { approvers: 'approver', 'sec-ops': 'operator' } } },
  });
}

let gw: RunningGateway;
beforeAll(async () => {
  agents = await createTestIssuer();
  idp = await createTestIssuer('https://sso.example.com', 'portcullis-admin');
  up = await startUpstream();
  webhook = await startWebhook();
  gw = await startGateway(gatewayConfig({ hold: '3s' }, webhook.url), { decider: highRiskNeedsApproval });
});
afterAll(async () => {
  await gw.close();
  await up.close();
  await webhook.close();
});
beforeEach(() => {
  up.received.length = 0;
});

const approver = (sub = 'ann@example.com', claims: Record<string, unknown> = {}) => idp.sign({ sub, groups: ['approvers'], ...claims });
const decide = async (g: RunningGateway, id: string, verb: 'approve' | 'deny', token?: string, comment = 'ok') =>
  send(g.adminUrl, { method: 'POST', path: `/admin/approvals/${id}/${verb}`, headers: { authorization: `Bearer ${token ?? (await approver())}`, 'content-type': 'application/json' }, body: JSON.stringify({ comment }) });
const exportCall = async (g: RunningGateway, body = '{"format":"csv"}', headers: Record<string, string> = {}, token?: string) =>
  send(g.proxyUrl, { method: 'POST', path: '/tools/crm/export', headers: { authorization: `Bearer ${token ?? (await agents.token('support-bot', 'crm:export'))}`, 'content-type': 'application/json', ...headers }, body });
async function pendingApproval(g: RunningGateway): Promise<{ id: string }> {
  for (let i = 0; i < 100; i++) {
    const list = (await send(g.adminUrl, { path: '/admin/approvals?status=pending', headers: { authorization: `Bearer ${await approver()}` } })).json().approvals;
    if (list.length > 0) return list.at(-1);
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('no pending approval appeared');
}

describe('a held call', () => {
  it('proceeds when a human approves it in time, and is recorded as approved', async () => {
    const call = exportCall(gw);
    const { id } = await pendingApproval(gw);
    for (let i = 0; i < 100 && !webhook.received.some((n) => (n.approval as { id: string }).id === id); i++) await new Promise((r) => setTimeout(r, 20));
    expect(webhook.received.find((n) => (n.approval as { id: string }).id === id)).toMatchObject({ event: 'approval.requested', approval: { id, fingerprint: { agent: 'support-bot', tool: 'crm', operation: 'export' } } });
    expect((await decide(gw, id, 'approve')).json()).toMatchObject({ status: 'approved', decided_by: 'ann@example.com' });
    const res = await call;
    expect(res.status).toBe(200);
    expect(up.received).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 50));
    const events = readFileSync(gw.gateway.audit()!.path, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const mine = events.filter((e) => e.request_id === res.headers['portcullis-request-id']);
    expect(mine.map((e) => e.type)).toEqual(['approval', 'tool_call_intent', 'tool_call']);
    expect(mine.at(-1)).toMatchObject({ approval: { id, approver: 'ann@example.com' }, outcome: { result: 'ok' } });
    expect(events.filter((e) => e.type === 'approval' && e.approval.id === id).map((e) => e.action)).toEqual(['requested', 'approved', 'used']);
  });

  it('is refused when a human denies it, with their comment', async () => {
    const call = exportCall(gw);
    const { id } = await pendingApproval(gw);
    await decide(gw, id, 'deny', undefined, 'not during the audit freeze');
    const res = await call;
    expect(res.status).toBe(403);
    expect(res.json()).toMatchObject({ error: 'approval_denied', reasons: ['approval_rejected', 'not during the audit freeze'], approval_id: id });
    expect(up.received).toHaveLength(0);
  });
});

describe('after 202: the retry with Portcullis-Approval', () => {
  let short: RunningGateway;
  beforeAll(async () => {
    short = await startGateway(gatewayConfig({ hold: '100ms', ttl: '2s' }), { decider: highRiskNeedsApproval });
  });
  afterAll(() => short.close());

  async function approved(body = '{"format":"csv"}') {
    const first = await exportCall(short, body);
    expect(first.status).toBe(202);
    const { approval_id: id } = first.json();
    expect((await decide(short, id, 'approve')).status).toBe(200);
    return id as string;
  }

  it('the identical call goes through, once', async () => {
    const id = await approved();
    const retry = await exportCall(short, '{"format":"csv"}', { 'portcullis-approval': id });
    expect(retry.status).toBe(200);
    expect(up.received).toHaveLength(1);
    expect(up.received[0]!.body.toString()).toBe('{"format":"csv"}');
    const replay = await exportCall(short, '{"format":"csv"}', { 'portcullis-approval': id });
    expect(replay.status).toBe(403);
    expect(replay.json().reasons).toEqual(['approval_used']);
    expect(up.received).toHaveLength(1);
  });

  it('a changed body is refused', async () => {
    const id = await approved();
    const res = await exportCall(short, '{"format":"csv","all":true}', { 'portcullis-approval': id });
    expect(res.status).toBe(403);
    expect(res.json().reasons).toEqual(['approval_mismatch']);
    expect(up.received).toHaveLength(0);
  });

  it("another agent's call is refused", async () => {
    const id = await approved();
    const other = await agents.token('sleepy-bot', 'crm:export');
    const res = await exportCall(short, '{"format":"csv"}', { 'portcullis-approval': id }, await agents.token('support-bot', 'crm:export', { sub: 'carol@example.com', act: { sub: 'support-bot' } }));
    expect(res.json().reasons).toEqual(['approval_mismatch']);
    expect(other).toBeTruthy();
  });

  it('a retry before the decision is still pending (202)', async () => {
    const first = await exportCall(short);
    const retry = await exportCall(short, '{"format":"csv"}', { 'portcullis-approval': first.json().approval_id });
    expect(retry.status).toBe(202);
    expect(retry.json().approval_id).toBe(first.json().approval_id);
  });

  it('an expired approval is refused', async () => {
    const id = await approved();
    await new Promise((r) => setTimeout(r, 2100));
    const res = await exportCall(short, '{"format":"csv"}', { 'portcullis-approval': id });
    expect(res.status).toBe(403);
    expect(res.json().reasons).toEqual(['approval_expired']);
  });

  it('an unknown approval is refused', async () => {
    const res = await exportCall(short, '{"format":"csv"}', { 'portcullis-approval': 'apr-made-up' });
    expect(res.json().reasons).toEqual(['approval_unknown']);
  });
});

describe('who may approve', () => {
  let short: RunningGateway;
  beforeAll(async () => {
    short = await startGateway(gatewayConfig({ hold: '100ms' }), { decider: highRiskNeedsApproval });
  });
  afterAll(() => short.close());

  it('not the delegating user, nor the agent owner, nor someone without the approver role', async () => {
    const asUser = await agents.token('support-bot', 'crm:export', { sub: 'dave@example.com', act: { sub: 'support-bot' } });
    const { approval_id: id } = (await exportCall(short, '{}', {}, asUser)).json();
    const self = await decide(short, id, 'approve', await approver('dave@example.com'));
    expect(self.status).toBe(403);
    expect(self.json().reasons).toEqual(['approver_conflict']);
    const owner = await decide(short, id, 'approve', await approver('alice@example.com'));
    expect(owner.json().reasons).toEqual(['approver_conflict']);
    const operator = await decide(short, id, 'approve', await idp.sign({ sub: 'erin@example.com', groups: ['sec-ops'] }));
    expect(operator.json().reasons).toEqual(['admin_role_missing']);
    expect((await decide(short, id, 'approve')).status).toBe(200);
  });

  it('two approvers racing: exactly one outcome', async () => {
    for (let i = 0; i < 5; i++) {
      const { approval_id: id } = (await exportCall(short)).json();
      const results = await Promise.all([decide(short, id, 'approve', await approver('ann@example.com')), decide(short, id, 'deny', await approver('bob@example.com')), decide(short, id, 'approve', await approver('cy@example.com'))]);
      const statuses = results.map((r) => r.status).sort();
      expect(statuses).toEqual([200, 409, 409]);
      expect(results.find((r) => r.status === 409)!.json()).toMatchObject({ error: 'conflict', reasons: ['approval_decided'] });
    }
  });

  it('with require_mfa: a token without recent MFA cannot approve', async () => {
    const mfa = await startGateway(gatewayConfig({ hold: '100ms', require_mfa: true, mfa_max_age: '5m' }), { decider: highRiskNeedsApproval });
    try {
      const { approval_id: id } = (await exportCall(mfa)).json();
      const noMfa = await decide(mfa, id, 'approve', await approver('ann@example.com', { amr: ['pwd'], auth_time: Math.floor(Date.now() / 1000) }));
      expect(noMfa.json().reasons).toEqual(['approver_mfa_required']);
      const stale = await decide(mfa, id, 'approve', await approver('ann@example.com', { amr: ['pwd', 'mfa'], auth_time: Math.floor(Date.now() / 1000) - 3600 }));
      expect(stale.json().reasons).toEqual(['approver_mfa_required']);
      const ok = await decide(mfa, id, 'approve', await approver('ann@example.com', { amr: ['pwd', 'otp'], auth_time: Math.floor(Date.now() / 1000) - 10 }));
      expect(ok.status).toBe(200);
    } finally {
      await mfa.close();
    }
  });
});

describe('the kill switch and approvals', () => {
  it("denies the target's pending approvals and cuts its held call", async () => {
    const breakGlass = await idp.sign({ sub: 'sec@example.com', groups: ['sec-ops'] });
    const call = exportCall(gw);
    const { id } = await pendingApproval(gw);
    const kill = await send(gw.adminUrl, { method: 'POST', path: '/admin/kill', headers: { authorization: `Bearer ${breakGlass}`, 'content-type': 'application/json' }, body: JSON.stringify({ target: { agent: 'support-bot' }, reason: 'stop' }) });
    expect(kill.status).toBe(201);
    const res = await call;
    expect(res.status).toBe(403);
    expect(res.json().error).toBe('killed');
    const approval = (await send(gw.adminUrl, { path: `/admin/approvals/${id}`, headers: { authorization: `Bearer ${await approver()}` } })).json();
    expect(approval).toMatchObject({ status: 'denied', decided_by: 'kill-switch' });
    expect(up.received).toHaveLength(0);
  });
});

describe('portcullis approvals', () => {
  it('lists, shows and decides held calls', async () => {
    const { runCli } = await import('../helpers/cli.js');
    const short = await startGateway(gatewayConfig({ hold: '100ms' }), { decider: highRiskNeedsApproval });
    try {
      const env = { PORTCULLIS_ADMIN_TOKEN: await approver() };
      const { approval_id: id } = (await exportCall(short)).json();
      const list = await runCli(['approvals', 'list', '--status', 'pending', '--json', '--url', short.adminUrl], { env });
      expect(JSON.parse(list.stdout).approvals.map((a: { id: string }) => a.id)).toEqual([id]);
      const table = (await runCli(['approvals', 'list', '--status', 'pending', '--url', short.adminUrl], { env })).stdout.split('\n');
      expect(table[0]).toMatch(/^ID\s+STATUS\s+AGENT\s+USER\s+TOOL\s+OPERATION\s+CREATED\s+EXPIRES$/);
      expect(table[1]).toMatch(new RegExp(`^${id}\\s+pending\\s+.*\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z$`));
      expect(JSON.parse((await runCli(['approvals', 'show', id, '--url', short.adminUrl], { env })).stdout)).toMatchObject({ id, status: 'pending' });
      const ok = await runCli(['approvals', 'approve', id, '--comment', 'fine', '--url', short.adminUrl], { env });
      expect(JSON.parse(ok.stdout)).toMatchObject({ status: 'approved', comment: 'fine' });
      const again = await runCli(['approvals', 'deny', id, '--url', short.adminUrl], { env });
      expect(again.code).toBe(1);
      expect(again.stderr).toMatch(/refused \(409\) conflict/);
      expect((await runCli(['approvals', 'approve'], { env })).code).toBe(2);
    } finally {
      await short.close();
    }
  });
});

describe('the memory store across a restart', () => {
  it('keeps pending approvals', async () => {
    const cfg = gatewayConfig({ hold: '100ms' });
    const first = await startGateway(cfg, { decider: highRiskNeedsApproval });
    const { approval_id: id } = (await exportCall(first)).json();
    await first.close();
    const second = await startGateway(cfg, { decider: highRiskNeedsApproval });
    try {
      expect((await decide(second, id, 'approve')).status).toBe(200);
      expect((await exportCall(second, '{"format":"csv"}', { 'portcullis-approval': id })).status).toBe(200);
    } finally {
      await second.close();
    }
  });
});
