/**
 * The trust layer end to end: a real gateway with the shipped policy, real tokens, a real trust root
 * signing attestations, and a webhook receiver. Windows are seconds long so the test can wait them out.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestIssuer, type TestIssuer } from '../helpers/issuer.js';
import { startUpstream, type RecordingUpstream } from '../helpers/upstream.js';
import { startGateway, testConfig, type RunningGateway } from '../helpers/gateway.js';
import { send } from '../helpers/http.js';
import { pollUntil } from '../helpers/policy.js';
import { crmTools } from './fixtures.js';
import { verifyAudit } from '../../src/audit/verify.js';
import { runCli } from '../helpers/cli.js';

const BREAK_GLASS = 'trust-test-break-glass';
const finance = (owner = 'fin@example.com') => ({ owner, roles: ['finance_agent'], max_classification: 'confidential' });

let issuer: TestIssuer;
let scanner: TestIssuer;
let up: RecordingUpstream;
let hook: RecordingUpstream;
let gw: RunningGateway;

function tools(upstream: RecordingUpstream) {
  return {
    ...crmTools(upstream),
    payments: {
      upstream: `${upstream.url}/pay`,
      classification: 'confidential',
      operations: [{ name: 'get-payment', method: 'GET', path: '/payments/:id', action: 'read' }],
    },
  };
}

beforeAll(async () => {
  issuer = await createTestIssuer();
  scanner = await createTestIssuer('https://scanner.test', 'portcullis-attestation');
  up = await startUpstream();
  hook = await startUpstream((_req, res) => {
    res.end('ok');
  });
  gw = await startGateway(
    testConfig(issuer, tools(up), {
      agents: { 'fin-bot': finance(), 'att-bot': finance(), 'pin-bot': finance(), 'list-bot': { ...finance(), purpose: 'listed', version: '1.2.*' } },
      admin: { break_glass: { sha256: createHash('sha256').update(BREAK_GLASS).digest('hex') } },
      trust: {
        window: '4s',
        signals: { policy_violation: { weight: 8 } },
        notify: { webhook: `${hook.url}/trust` },
        attestations: { roots: [{ issuer: scanner.issuer, jwks_file: scanner.jwksFile, max_weight: 20 }] },
      },
    }),
    { policy: true },
  );
});
afterAll(async () => {
  await gw?.close();
  await up?.close();
  await hook?.close();
});

const admin = (method: string, path: string, body?: unknown, token = BREAK_GLASS) =>
  send(gw.adminUrl, { method, path, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body === undefined ? undefined : JSON.stringify(body) });
const call = (token: string, path: string) => send(gw.proxyUrl, { path, headers: { authorization: `Bearer ${token}` } });
const trustOf = async (agent: string) => (await admin('GET', `/admin/agents/${agent}/trust`)).json();
const audit = () => readFileSync(gw.gateway.audit()!.path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>);
const now = () => Math.floor(Date.now() / 1000);

describe('an agent that starts misbehaving loses privileges, and gets them back', () => {
  it('falls below the tool floor, then the organisation floor (trust_too_low), and recovers after the window', async () => {
    const token = await issuer.token('fin-bot', 'payments:read crm:*');
    // 1. Good standing: standard (50), so the payments floor (standard) is met.
    expect((await call(token, '/tools/payments/payments/p1')).status).toBe(200);
    let t = await trustOf('fin-bot');
    expect([t.score, t.level, t.components.behaviour.points]).toEqual([50, 'standard', 0]);

    // 2. It starts calling what it may not: each policy denial costs 8 points.
    for (let i = 0; i < 2; i++) {
      const r = await call(token, '/tools/crm/export');
      expect([r.status, r.json().reasons[0]]).toEqual([403, 'policy_denied']);
    }
    t = await trustOf('fin-bot');
    expect(t.level).toBe('provisional');
    expect(t.components.behaviour.signals.policy_violation.count).toBe(2);
    expect(t.components.behaviour.recent[0]).toMatchObject({ kind: 'policy_violation', detail: 'policy_denied', weight: 8 });

    // 3. Below the payments floor: the policy now refuses what it allowed a moment ago, and says why.
    const floor = await call(token, '/tools/payments/payments/p1');
    expect(floor.status).toBe(403);
    expect(floor.json().reasons.join(' ')).toMatch(/fin-bot's trust level provisional is below the standard floor for payments:read/);

    // 4. One more violation: untrusted, below the organisation floor — no calls at all.
    await call(token, '/tools/crm/export');
    t = await trustOf('fin-bot');
    expect([t.level, t.below_floor, t.floor]).toEqual(['untrusted', true, 'provisional']);
    expect(t.components.behaviour.signals.policy_violation.count).toBe(4);
    const refused = await call(token, '/tools/crm/contacts/7');
    expect(refused.status).toBe(403);
    expect(refused.json()).toMatchObject({ error: 'forbidden', reasons: ['trust_too_low'] });
    expect(refused.json().message).toMatch(/trust level is untrusted \(score [0-9.]+\), below the organisation floor \(provisional\)/);
    // Refusals at the trust gate are not held against the agent (it could never recover otherwise).
    expect((await trustOf('fin-bot')).components.behaviour.signals.policy_violation.count).toBe(4);

    // 5. The window passes: the signals fade and the agent is back to standard.
    t = await pollUntil(() => trustOf('fin-bot'), (x) => x.level === 'standard' && x.score === 50, 8_000);
    expect(t.score).toBe(50);
    expect((await call(token, '/tools/payments/payments/p1')).status).toBe(200);

    // Every level change was audited with the numbers behind it, and the webhook heard of them.
    const changes = await pollUntil(
      async () => audit().filter((e) => e.type === 'trust_level' && e.agent.id === 'fin-bot'),
      (c) => c.at(-1)?.trust.to === 'standard',
    );
    expect(changes.slice(0, 2).map((e) => [e.trust.from, e.trust.to])).toEqual([['standard', 'provisional'], ['provisional', 'untrusted']]);
    expect(changes[1]!.trust).toMatchObject({ below_floor: true, points: { baseline: 50 }, signals: { policy_violation: { count: 4 } } });
    expect(changes.at(-1)!.trust.to).toBe('standard');
    const notices = await pollUntil(async () => hook.received.filter((r) => r.url === '/trust').map((r) => JSON.parse(r.body.toString())), (n) => n.length >= changes.length);
    expect(notices[0]).toMatchObject({ event: 'trust.level_changed', agent: { id: 'fin-bot' }, trust: { from: 'standard', to: 'provisional' } });
    // The call events carry the live score the guard saw.
    const calls = audit().filter((e) => e.type === 'tool_call' && e.agent?.id === 'fin-bot');
    expect(calls[0]!.trust).toEqual({ level: 'standard', score: 50 });
    expect(calls.find((e) => e.outcome.reason === 'trust_too_low')!.trust.level).toBe('untrusted');
  });
});

describe('attestations', () => {
  it('a valid attestation raises the score until it expires', async () => {
    const jwt = await scanner.sign({ sub: 'att-bot', kind: 'scan', weight: 15, summary: 'dependency scan clean', exp: now() + 3 });
    const r = await admin('POST', '/admin/attestations', { attestation: jwt });
    expect(r.status).toBe(201);
    expect(r.json().trust).toEqual({ before: { score: 50, level: 'standard', below_floor: false }, after: { score: 65, level: 'elevated', below_floor: false } });
    const t = await trustOf('att-bot');
    expect(t.components.attestations.points).toBe(15);
    expect(t.components.attestations.items[0]).toMatchObject({ issuer: scanner.issuer, kind: 'scan', weight: 15, applied: 15, summary: 'dependency scan clean', by: 'break-glass' });
    const after = await pollUntil(() => trustOf('att-bot'), (x) => x.score === 50, 6_000);
    expect([after.score, after.components.attestations.items]).toEqual([50, []]);
  });

  it('a forged, expired, foreign or malformed one is refused and changes nothing', async () => {
    const { privateKey: otherKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const forged = await scanner.sign({ sub: 'att-bot', kind: 'scan', weight: 20 }, { key: otherKey });
    const expired = await scanner.sign({ sub: 'att-bot', kind: 'scan', weight: 20, iat: now() - 120, exp: now() - 60 });
    const foreign = await issuer.token('att-bot', 'crm:read', { kind: 'scan', weight: 20 });
    const strangerAgent = await scanner.sign({ sub: 'nobody-bot', kind: 'scan', weight: 20 });
    const noWeight = await scanner.sign({ sub: 'att-bot', kind: 'scan' });
    const cases: [string, string][] = [
      [forged, 'token_signature_invalid'],
      [expired, 'token_expired'],
      [foreign, 'token_issuer_unknown'],
    ];
    for (const [jwt, why] of cases) {
      const r = await admin('POST', '/admin/attestations', { attestation: jwt });
      expect([r.status, r.json().error, r.json().reasons]).toEqual([400, 'invalid_request', ['attestation_invalid', why]]);
    }
    for (const jwt of [strangerAgent, noWeight]) {
      const r = await admin('POST', '/admin/attestations', { attestation: jwt });
      expect([r.status, r.json().reasons[0]]).toEqual([400, 'attestation_invalid']);
    }
    expect((await admin('POST', '/admin/attestations', { nope: 1 })).json().reasons).toEqual(['body_invalid']);
    const t = await trustOf('att-bot');
    expect([t.score, t.components.attestations.items]).toEqual([50, []]);
    // Audited as rejected, with the reason and never the statement itself.
    const log = await pollUntil(async () => readFileSync(gw.gateway.audit()!.path, 'utf8'), (s) => (s.match(/"action":"rejected"/g) ?? []).length >= 5);
    expect(log).not.toContain(forged.split('.')[2]);
    expect(audit().filter((e) => e.type === 'attestation' && e.action === 'rejected').map((e) => e.reasons[1])).toEqual(expect.arrayContaining(['token_signature_invalid', 'token_expired']));
  });

  it("bounds the weight by the root's max_weight, and keeps the newest of a kind", async () => {
    const strong = await scanner.sign({ sub: 'att-bot', kind: 'red-team', weight: 90, exp: now() + 60 });
    const r = await admin('POST', '/admin/attestations', { attestation: strong });
    expect(r.json().attestation).toMatchObject({ weight: 90, applied: 20 });
    expect(r.json().trust.after.score).toBe(70);
    const older = await scanner.sign({ sub: 'att-bot', kind: 'red-team', weight: -50, iat: now() - 30, exp: now() + 60 });
    const stale = await admin('POST', '/admin/attestations', { attestation: older });
    expect([stale.status, stale.json().reasons[0]]).toEqual([409, 'attestation_superseded']);
    expect((await trustOf('att-bot')).score).toBe(70);
  });

  it('needs an operator', async () => {
    const jwt = await scanner.sign({ sub: 'att-bot', kind: 'scan', weight: 5 });
    expect((await admin('POST', '/admin/attestations', { attestation: jwt }, 'wrong')).status).toBe(401);
  });
});

describe('an operator pins or caps a score, with a reason', () => {
  it('pin below the floor stops the agent; a cap keeps it off floored tools; lifting restores it', async () => {
    const token = await issuer.token('pin-bot', 'payments:read crm:read');
    expect((await admin('PUT', '/admin/agents/pin-bot/trust', { pin: 10 })).json().reasons).toEqual(['body_invalid']);
    expect((await admin('PUT', '/admin/agents/pin-bot/trust', { pin: 120, reason: 'x' })).status).toBe(400);
    expect((await admin('PUT', '/admin/agents/pin-bot/trust', { pin: 10, cap: 20, reason: 'x' })).status).toBe(400);
    expect((await admin('PUT', '/admin/agents/ghost-bot/trust', { pin: 10, reason: 'x' })).status).toBe(404);

    const pinned = await admin('PUT', '/admin/agents/pin-bot/trust', { pin: 10, reason: 'INC-42: leaked key suspected' });
    expect(pinned.json()).toMatchObject({ override: { pin: 10, cap: null, by: 'break-glass' }, trust: { score: 10, level: 'untrusted', below_floor: true } });
    expect((await call(token, '/tools/crm/contacts/1')).json().reasons).toEqual(['trust_too_low']);
    const t = await trustOf('pin-bot');
    expect([t.score, t.computed, t.components.operator.effect, t.components.operator.reason]).toEqual([10, 50, 'pin', 'INC-42: leaked key suspected']);

    await admin('PUT', '/admin/agents/pin-bot/trust', { cap: 30, reason: 'INC-42: contained, watching' });
    expect((await call(token, '/tools/crm/contacts/1')).status).toBe(200);
    // Below the payments floor the call is a policy denial — and, like any, costs the agent 8 points.
    expect((await call(token, '/tools/payments/payments/1')).json().reasons[0]).toBe('policy_denied');

    const lifted = await admin('PUT', '/admin/agents/pin-bot/trust', { pin: null, cap: null, reason: 'INC-42 closed' });
    expect(lifted.json()).toMatchObject({ override: null, trust: { level: 'standard' } });
    expect(lifted.json().trust.score).toBeGreaterThanOrEqual(42);
    expect(lifted.json().trust.score).toBeLessThan(43);
    expect((await call(token, '/tools/payments/payments/1')).status).toBe(200);
    const events = await pollUntil(async () => audit().filter((e) => e.type === 'trust_override' && e.agent.id === 'pin-bot'), (e) => e.length === 3);
    expect(events.map((e) => [e.action, e.trust.before.score, e.trust.after.level])).toEqual([['set', 50, 'untrusted'], ['set', 10, 'provisional'], ['lifted', 30, 'standard']]);
    expect(events[0]).toMatchObject({ by: 'break-glass', reason: 'INC-42: leaked key suspected', override: { pin: 10 }, previous: null });
  });

  it('an override with a ttl ends by itself', async () => {
    await admin('PUT', '/admin/agents/pin-bot/trust', { pin: 90, reason: 'audit week', ttl: '1s' });
    expect((await trustOf('pin-bot')).level).toBe('trusted');
    const t = await pollUntil(() => trustOf('pin-bot'), (x) => x.components.operator === null, 4_000);
    expect(t.components.operator).toBeNull();
    expect(t.score).toBe(t.computed);
  });
});

describe('GET /admin/agents', () => {
  it('lists the registry with live scores, levels and recent activity, and filters by level', async () => {
    const token = await issuer.token('list-bot', 'crm:read', { agent_version: '1.2.9' });
    await call(token, '/tools/crm/contacts/1');
    const r = await admin('GET', '/admin/agents');
    expect(r.status).toBe(200);
    const body = r.json();
    expect(body.floor).toBe('provisional');
    const listed = body.agents.find((a: any) => a.id === 'list-bot');
    expect(listed).toMatchObject({ purpose: 'listed', roles: ['finance_agent'], status: 'active', version: '1.2.*', trust: { score: 55, level: 'standard' } });
    expect(listed.activity).toMatchObject({ calls: 1, refusals: 0, last_version: '1.2.9', tools: ['crm'], learning: true });
    expect(body.agents.map((a: any) => a.id)).toEqual(expect.arrayContaining(['fin-bot', 'att-bot', 'pin-bot']));
    const standard = (await admin('GET', '/admin/agents?level=standard')).json().agents;
    expect(standard.length).toBeGreaterThan(0);
    expect(standard.every((a: any) => a.trust.level === 'standard')).toBe(true);
    expect((await admin('GET', '/admin/agents?level=superb')).status).toBe(400);
    expect((await admin('GET', '/admin/agents/nobody/trust')).status).toBe(404);
    expect((await admin('GET', '/admin/agents', undefined, 'wrong')).status).toBe(401);
  });
});

describe('the audit trail of the trust layer', () => {
  it('verifies: level changes, overrides, attestations and anomalies are chained like every event', async () => {
    const types = new Set(audit().map((e) => e.type));
    expect([...types]).toEqual(expect.arrayContaining(['trust_level', 'trust_override', 'attestation']));
    const report = verifyAudit([gw.gateway.audit()!.path]);
    expect(report.error).toBeUndefined();
    expect(report.ok).toBe(true);
  });
});

describe('portcullis agents (the CLI)', () => {
  it('lists, explains, caps, lifts and attests through the admin API', async () => {
    const env = { ...process.env, PORTCULLIS_ADMIN_TOKEN: BREAK_GLASS };
    const cli = (...args: string[]) => runCli(['agents', ...args, '--url', gw.adminUrl], { env });
    const list = await cli('list', '--level', 'standard', '--json');
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout).agents.map((a: any) => a.id)).toContain('list-bot');
    expect((await cli('list', '--level', 'standard')).stdout).toMatch(/^AGENT\s+STATUS\s+OWNER\s+ROLES\s+TRUST\s+CLASSIFICATION\n(.*\n)*list-bot\s+active\s/);
    const capped = await cli('cap', 'list-bot', '--score', '35', '--reason', 'CLI test');
    expect([capped.code, JSON.parse(capped.stdout).trust.level]).toEqual([0, 'provisional']);
    expect(JSON.parse((await cli('trust', 'list-bot')).stdout).components.operator).toMatchObject({ effect: 'cap', cap: 35, reason: 'CLI test' });
    expect(JSON.parse((await cli('unpin', 'list-bot', '--reason', 'done')).stdout).override).toBeNull();
    const file = join(mkdtempSync(join(tmpdir(), 'portcullis-attest-')), 'scan.jwt');
    writeFileSync(file, `${await scanner.sign({ sub: 'list-bot', kind: 'cli-scan', weight: 4, exp: now() + 60 })}\n`);
    const attested = await cli('attest', file);
    expect([attested.code, JSON.parse(attested.stdout).attestation.applied]).toEqual([0, 4]);
    // Wrong usage: one clear line, exit 2; a refusal from the gateway: exit 1 with its reason.
    const noReason = await cli('pin', 'list-bot', '--score', '5');
    expect([noReason.code, noReason.stderr.trim()]).toEqual([2, 'portcullis agents: agents pin needs --reason']);
    expect((await cli('pin', 'list-bot', '--score', '500', '--reason', 'x')).code).toBe(2);
    const unknown = await cli('trust', 'ghost-bot');
    expect([unknown.code, unknown.stderr]).toEqual([1, expect.stringContaining('unknown_route')]);
  });
});
