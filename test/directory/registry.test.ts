/**
 * The live registry in a running gateway: SCIM changes take effect on the next call (and cut calls
 * in flight), the policy sees roles and risk profile as they are now, people's directory groups
 * decide who may approve and operate, and the lifecycle rules hold.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startUpstream, type RecordingUpstream } from '../helpers/upstream.js';
import { auditEvents } from '../helpers/gateway.js';
import { send } from '../helpers/http.js';
import { buildPolicyBundle } from '../helpers/policy.js';
import { crmTools } from '../e2e/fixtures.js';
import { AGENT, GROUP, patchOp, startScimGateway, USER, type ScimFixture } from '../helpers/scim.js';

const REGO = `package portcullis
import rego.v1

default decision := {"allow": false, "approval_required": false, "reasons": ["not a low-risk support agent"]}

decision := {"allow": true, "approval_required": false, "reasons": ["support agent"]} if {
  "support_agent" in input.agent.roles
  input.agent.risk_profile != "high"
}
`;

let up: RecordingUpstream;
let f: ScimFixture;
let hold: Promise<void> | undefined;
let release: () => void = () => undefined;

beforeAll(async () => {
  up = await startUpstream(async (req, res) => {
    if (req.url.includes('slow')) await hold;
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  });
  const bundle = await buildPolicyBundle({ rego: REGO });
  f = await startScimGateway(crmTools(up), { policy: { bundle } }, { policy: true });
}, 180_000);
afterAll(async () => {
  release();
  await f.gw.close();
  await up.close();
});

const agentRecord = async (agentId: string) => (await f.scim('GET', `/Agents?filter=${encodeURIComponent(`agentId eq "${agentId}"`)}`)).json().Resources[0];
const patchAgent = async (agentId: string, ...ops: Record<string, unknown>[]) => {
  const res = await f.scim('PATCH', `/Agents/${(await agentRecord(agentId)).id}`, patchOp(...ops));
  expect(res.status, res.text).toBe(200);
  return res.json();
};
const call = async (agent: string, path = '/tools/crm/contacts', token?: string) =>
  send(f.gw.proxyUrl, { path, headers: { authorization: `Bearer ${token ?? (await f.agents.token(agent, 'crm:read'))}` } });
const admin = async (sub: string, groups: string[], method: string, path: string, body?: unknown) =>
  send(f.gw.adminUrl, { method, path, headers: { authorization: `Bearer ${await f.adminToken(sub, groups)}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });

describe('agents: a change takes effect on the next call', () => {
  it('refuses a suspended agent, cuts its call in flight, and takes it back when resumed (with a new token)', async () => {
    const before = await f.agents.token('support-bot', 'crm:read');
    expect((await call('support-bot', undefined, before)).status).toBe(200);
    hold = new Promise((r) => (release = r));
    const pending = call('support-bot', '/tools/crm/contacts/slow', before);
    while (!up.received.some((r) => r.url.includes('slow'))) await new Promise((r) => setTimeout(r, 10));
    await patchAgent('support-bot', { op: 'replace', path: 'status', value: 'suspended' });
    const cut = await pending;
    expect(cut.status).toBe(401);
    expect(cut.json().reasons).toEqual(['token_revoked']);
    release();
    await new Promise((r) => setTimeout(r, 1100)); // a token issued after the suspension
    const fresh = await call('support-bot');
    expect(fresh.status).toBe(403);
    expect(fresh.json().reasons).toEqual(['agent_suspended']);
    await patchAgent('support-bot', { op: 'replace', path: 'status', value: 'active' });
    expect((await call('support-bot')).status).toBe(200);
    expect((await call('support-bot', undefined, before)).json().reasons).toEqual(['token_revoked']);
  });

  it('decides on the roles and the risk profile as they are now (no decision remembered from before)', async () => {
    const token = await f.agents.token('support-bot', 'crm:read');
    expect((await call('support-bot', undefined, token)).status).toBe(200);
    await patchAgent('support-bot', { op: 'replace', path: 'roles', value: ['sales_agent'] });
    const denied = await call('support-bot', undefined, token);
    expect(denied.status).toBe(403);
    expect(denied.json().reasons).toEqual(['policy_denied', 'not a low-risk support agent']);
    await patchAgent('support-bot', { op: 'add', path: 'roles', value: ['support_agent'] });
    expect((await call('support-bot', undefined, token)).status).toBe(200);
    await patchAgent('support-bot', { op: 'add', path: 'riskProfile', value: 'high' });
    expect((await call('support-bot', undefined, token)).status).toBe(403);
    await patchAgent('support-bot', { op: 'remove', path: 'riskProfile' });
    expect((await call('support-bot', undefined, token)).status).toBe(200);
  });

  it('knows an agent created by SCIM at once, and forgets a deleted one', async () => {
    expect((await call('scim-bot')).json().reasons).toEqual(['agent_unknown']);
    const res = await f.scim('POST', '/Agents', { schemas: [AGENT], agentId: 'scim-bot', owner: 'carol@example.com', maxClassification: 'confidential', roles: ['support_agent'] });
    expect(res.status, res.text).toBe(201);
    expect((await call('scim-bot')).status).toBe(200);
    expect((await f.scim('DELETE', `/Agents/${res.json().id}`)).status).toBe(204);
    // Its tokens are revoked up to this second; a later one meets an agent the registry does not know.
    expect(['token_revoked', 'agent_unknown']).toContain((await call('scim-bot')).json().reasons[0]);
    const events = await auditEvents(f.gw);
    expect(events.find((e) => e.type === 'agent_created' && e.agent === 'scim-bot')).toMatchObject({ by: 'okta-scim-connector', diff: { agentId: { from: null, to: 'scim-bot' } } });
    expect(events.find((e) => e.type === 'agent_deleted' && e.agent === 'scim-bot')).toMatchObject({ by: 'okta-scim-connector' });
  });
});

describe('people: the directory decides who approves and operates', () => {
  let ann: string;
  let approvers: string;

  it('keeps token groups until the first person is provisioned', async () => {
    expect((await admin('ann@example.com', ['approvers'], 'GET', '/admin/approvals')).status).toBe(200);
  });

  it('then takes roles from the person\'s groups now, not from the token', async () => {
    ann = (await f.scim('POST', '/Users', { schemas: [USER], userName: 'ann@example.com' })).json().id;
    // A valid admin JWT claiming the approvers group no longer suffices.
    expect((await admin('ann@example.com', ['approvers'], 'GET', '/admin/approvals')).status).toBe(403);
    approvers = (await f.scim('POST', '/Groups', { schemas: [GROUP], displayName: 'approvers', members: [{ value: ann }] })).json().id;
    expect((await admin('ann@example.com', [], 'GET', '/admin/approvals')).status).toBe(200);
    await f.scim('PATCH', `/Groups/${approvers}`, patchOp({ op: 'remove', path: `members[value eq "${ann}"]` }));
    expect((await admin('ann@example.com', ['approvers'], 'GET', '/admin/approvals')).status).toBe(403);
  });

  it('gives a deactivated person no role, and a subject who is not a person only a provisioner role', async () => {
    await f.scim('PATCH', `/Groups/${approvers}`, patchOp({ op: 'add', path: 'members', value: [{ value: ann }] }));
    await f.scim('PATCH', `/Users/${ann}`, patchOp({ op: 'replace', path: 'active', value: false }));
    expect((await admin('ann@example.com', ['approvers'], 'GET', '/admin/approvals')).status).toBe(403);
    expect((await admin('ghost@example.com', ['platform'], 'GET', '/admin/approvals')).status).toBe(403);
    const whoami = await admin('connector', ['scim-connector', 'platform'], 'GET', '/scim/v2/ServiceProviderConfig');
    expect(whoami.status).toBe(200);
    await f.scim('PATCH', `/Users/${ann}`, patchOp({ op: 'replace', path: 'active', value: true }));
  });
});

describe('lifecycle', () => {
  it('refuses an agent whose owner is not an active person, once people are provisioned', async () => {
    const res = await f.scim('POST', '/Agents', { schemas: [AGENT], agentId: 'orphan-bot', owner: 'nobody@example.com', maxClassification: 'internal' });
    expect(res.status).toBe(400);
    expect(res.json()).toMatchObject({ scimType: 'invalidValue', reason: 'owner_inactive' });
  });

  it('suspends the agents of an owner who is deprovisioned, and resumes them when the owner is back', async () => {
    const dana = (await f.scim('POST', '/Users', { schemas: [USER], userName: 'dana@example.com' })).json().id;
    const created = await f.scim('POST', '/Agents', { schemas: [AGENT], agentId: 'dana-bot', owner: 'dana@example.com', maxClassification: 'confidential', roles: ['support_agent'] });
    expect(created.status, created.text).toBe(201);
    expect((await call('dana-bot')).status).toBe(200);
    await f.scim('PATCH', `/Users/${dana}`, patchOp({ op: 'replace', value: { active: false } }));
    expect(await agentRecord('dana-bot')).toMatchObject({ status: 'suspended', suspendedFor: 'owner_deprovisioned' });
    expect(['token_revoked', 'agent_suspended']).toContain((await call('dana-bot')).json().reasons[0]);
    const events = await auditEvents(f.gw);
    expect(events.find((e) => e.type === 'agent_updated' && e.agent === 'dana-bot')).toMatchObject({ cause: 'owner_deprovisioned', diff: { status: { from: 'active', to: 'suspended' } } });
    await f.scim('PATCH', `/Users/${dana}`, patchOp({ op: 'replace', value: { active: true } }));
    expect((await agentRecord('dana-bot')).status).toBe('active');
    // An owner deleted: the agent is suspended until it is reassigned to an active person.
    expect((await f.scim('DELETE', `/Users/${dana}`)).status).toBe(204);
    expect((await agentRecord('dana-bot')).status).toBe('suspended');
    const resume = await f.scim('PATCH', `/Agents/${(await agentRecord('dana-bot')).id}`, patchOp({ op: 'replace', path: 'status', value: 'active' }));
    expect(resume.json()).toMatchObject({ status: '400', reason: 'owner_inactive' });
    await patchAgent('dana-bot', { op: 'replace', path: 'owner', value: 'ann@example.com' });
    expect((await agentRecord('dana-bot')).status).toBe('active');
  });
});

describe('the admin API over the same registry', () => {
  it('adds, shows, suspends, resumes and retires an agent (a retired agent stays retired)', async () => {
    const added = await admin('root', ['platform'], 'POST', '/admin/agents', { id: 'api-bot', owner: 'ann@example.com', max_classification: 'internal', roles: ['support_agent'] });
    // People are provisioned now: `root` is not one of them and holds no role.
    expect(added.status).toBe(403);
    const ann = (await f.scim('GET', '/Users?filter=userName%20eq%20%22ann@example.com%22')).json().Resources[0].id;
    await f.scim('POST', '/Groups', { schemas: [GROUP], displayName: 'platform', members: [{ value: ann }] });
    const as = (method: string, path: string, body?: unknown) => admin('ann@example.com', [], method, path, body);
    const ok = await as('POST', '/admin/agents', { id: 'api-bot', owner: 'ann@example.com', max_classification: 'internal', roles: ['support_agent'], scopes: ['crm:read'] });
    expect(ok.status, ok.text).toBe(201);
    expect(ok.json()).toMatchObject({ id: 'api-bot', status: 'active', scopes: ['crm:read'], by: 'ann@example.com' });
    expect((await as('POST', '/admin/agents', { id: 'api-bot', owner: 'ann@example.com', max_classification: 'internal' })).json()).toMatchObject({ error: 'conflict', reasons: ['registry_conflict'] });
    expect((await as('POST', '/admin/agents', { id: 'x', owner: 'ann@example.com', max_classification: 'internal', colour: 'red' })).json().reasons).toEqual(['body_invalid']);
    expect((await as('POST', '/admin/agents/api-bot/suspend')).json()).toMatchObject({ status: 'suspended' });
    expect((await as('POST', '/admin/agents/api-bot/resume')).json()).toMatchObject({ status: 'active' });
    expect((await as('POST', '/admin/agents/api-bot/retire')).json()).toMatchObject({ status: 'retired' });
    expect((await as('POST', '/admin/agents/api-bot/resume')).json().reasons).toEqual(['registry_conflict']);
    expect((await as('GET', '/admin/agents/api-bot')).json()).toMatchObject({ id: 'api-bot', status: 'retired', etag: 'W/"4"' });
    expect((await as('GET', '/admin/agents/nope')).status).toBe(404);
  });
});
