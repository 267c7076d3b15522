/**
 * Containment covers the whole delegation chain, and every id a token can carry can be named by an
 * operator. Attacks: a sub-agent keeps acting for a killed, revoked, suspended or distrusted
 * orchestrator; ids that the admin API could not name; ids with control characters.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestIssuer, type TestIssuer } from '../../helpers/issuer.js';
import { startUpstream, type RecordingUpstream } from '../../helpers/upstream.js';
import { auditEvents, startGateway, testConfig, type RunningGateway } from '../../helpers/gateway.js';
import { send } from '../../helpers/http.js';

const BREAK_GLASS = 'chain-test-break-glass';
let agents: TestIssuer;
let up: RecordingUpstream;
let gw: RunningGateway;
let release: () => void = () => undefined;

beforeAll(async () => {
  agents = await createTestIssuer();
  up = await startUpstream(async (req, res) => {
    if (req.url.includes('/slow')) await new Promise<void>((r) => (release = r));
    if (!res.destroyed) res.end('{"ok":true}');
  });
  const entry = (extra: Record<string, unknown> = {}) => ({ owner: 'alice@example.com', roles: ['support_agent'], max_classification: 'confidential', ...extra });
  gw = await startGateway(testConfig(agents, {
    crm: { upstream: up.url, classification: 'internal', operations: [{ name: 'list', method: 'GET', path: '/contacts', action: 'read' }, { name: 'slow', method: 'GET', path: '/slow', action: 'read' }] },
  }, {
    agents: {
      'support-bot': entry(),
      'orch-bot': entry(),
      'paused-orch': entry({ status: 'suspended' }),
      'retired-orch': entry({ status: 'retired' }),
      'shady-orch': entry({ trust_level: 'untrusted' }),
    },
    admin: { break_glass: { sha256: createHash('sha256').update(BREAK_GLASS).digest('hex') } },
  }));
});
afterAll(async () => {
  release();
  await gw.close();
  await up.close();
});
beforeEach(() => {
  up.received.length = 0;
});

const admin = (method: string, path: string, body?: unknown) =>
  send(gw.adminUrl, { method, path, headers: { authorization: `Bearer ${BREAK_GLASS}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
const chainToken = (orchestrator: string, extra: Record<string, unknown> = {}) =>
  agents.sign({ sub: 'alice', act: { sub: 'support-bot', act: { sub: orchestrator } }, scope: 'crm:read', ...extra });
const call = (token: string, path = '/tools/crm/contacts') => send(gw.proxyUrl, { path, headers: { authorization: `Bearer ${token}` } });

describe('every link of a delegation chain', () => {
  it('is cut when an orchestrator is killed, exactly as if it presented the token', async () => {
    const token = await chainToken('orch-bot');
    expect((await call(token)).status).toBe(200);
    const { id } = (await admin('POST', '/admin/kill', { target: { agent: 'orch-bot' }, reason: 'runaway orchestrator' })).json();
    up.received.length = 0;
    try {
      const res = await call(token);
      expect(res.status).toBe(403);
      expect(res.json()).toMatchObject({ error: 'killed', reasons: ['killed_agent'] });
      expect(up.received).toHaveLength(0);
      // A token the sub-agent holds for itself, outside the chain, is not the orchestrator's.
      expect((await call(await agents.token('support-bot', 'crm:read'))).status).toBe(200);
    } finally {
      await admin('DELETE', `/admin/kill/${id}`);
    }
    expect((await call(token)).status).toBe(200);
  });

  it("cuts a chain's call in flight when an agent of the chain is killed", async () => {
    const pending = call(await chainToken('orch-bot'), '/tools/crm/slow');
    while (up.received.length === 0) await new Promise((r) => setTimeout(r, 10));
    const { id } = (await admin('POST', '/admin/kill', { target: { agent: 'orch-bot' }, reason: 'cut' })).json();
    try {
      const res = await pending;
      expect(res.status).toBe(403);
      expect(res.json().reasons).toEqual(['killed_agent']);
      const events = await auditEvents(gw);
      expect(events.filter((e) => e.type === 'tool_call' && e.operation === 'slow').at(-1)).toMatchObject({ outcome: { result: 'killed', killed_by: id }, delegation: ['support-bot', 'orch-bot', 'alice'] });
    } finally {
      release();
      await admin('DELETE', `/admin/kill/${id}`);
    }
  });

  it("refuses a token whose orchestrator's tokens were revoked, and cuts its calls in flight", async () => {
    const before = await chainToken('shady-orch', { act: { sub: 'support-bot', act: { sub: 'orch-bot' } } });
    const pending = call(before, '/tools/crm/slow');
    while (up.received.length === 0) await new Promise((r) => setTimeout(r, 10));
    expect((await admin('POST', '/admin/revoke', { agent: 'orch-bot', reason: 'leaked' })).status).toBe(201);
    expect((await pending).json()).toMatchObject({ error: 'invalid_token', reasons: ['token_revoked'] });
    release();
    const res = await call(before);
    expect(res.status).toBe(401);
    expect(res.json()).toMatchObject({ error: 'invalid_token', reasons: ['token_revoked'] });
    const after = await chainToken('orch-bot', { iat: Math.floor(Date.now() / 1000) + 2 });
    expect((await call(after)).status).toBe(200);
  });

  it.each([
    ['paused-orch', 'agent_suspended', 'forbidden'],
    ['retired-orch', 'agent_retired', 'forbidden'],
    ['ghost-orch', 'agent_unknown', 'forbidden'],
    ['shady-orch', 'trust_too_low', 'forbidden'],
  ])('refuses a chain through %s (%s), and audits it', async (orchestrator, reason, error) => {
    const res = await call(await chainToken(orchestrator));
    expect(res.status).toBe(403);
    expect(res.json()).toMatchObject({ error, reasons: [reason] });
    expect(up.received).toHaveLength(0);
    const events = await auditEvents(gw);
    expect(events.filter((e) => e.type === 'tool_call').at(-1)).toMatchObject({ outcome: { result: 'refused', reason }, delegation: ['support-bot', orchestrator, 'alice'] });
  });
});

describe('identifiers round-trip between tokens and the admin API', () => {
  it.each(['a/b+c==', 'jti with spaces', 'ñandú-✓'])('a token with jti %j is accepted, then revoked by that jti', async (jti) => {
    const token = await agents.sign({ sub: 'support-bot', scope: 'crm:read', jti });
    expect((await call(token)).status).toBe(200);
    expect((await admin('POST', '/admin/revoke', { jti })).status).toBe(201);
    expect((await call(token)).json().reasons).toEqual(['token_revoked']);
  });

  it.each(['José Núñez', '田中 太郎', 'o\'brien+ops@example.com', '100%'])('a user %j is accepted, passed on percent-encoded, and killed by name', async (user) => {
    const token = await agents.sign({ sub: user, act: { sub: 'support-bot' }, scope: 'crm:read' });
    expect((await call(token)).status).toBe(200);
    expect(decodeURIComponent(String(up.received[0]!.headers['portcullis-user']))).toBe(user);
    expect(String(up.received[0]!.headers['portcullis-user'])).toMatch(/^[\x21-\x7e]+$/);
    const { id } = (await admin('POST', '/admin/kill', { target: { user }, reason: 'test' })).json();
    try {
      expect((await call(token)).json().reasons).toEqual(['killed_user']);
    } finally {
      await admin('DELETE', `/admin/kill/${id}`);
    }
  });

  it.each([
    ['a CRLF in the user id', { sub: 'alice\r\nX-Injected: 1', act: { sub: 'support-bot' } }],
    ['a LF in an actor', { sub: 'alice', act: { sub: 'support-bot', act: { sub: 'orch\nbot' } } }],
    ['a NUL in the jti', { sub: 'support-bot', jti: 'abc\u0000def' }],
    ['a U+2028 in the sub', { sub: 'support\u2028bot' }],
    ['a 257-character jti', { sub: 'support-bot', jti: 'j'.repeat(257) }],
  ])('refuses %s at authentication, forwarding nothing', async (_name, claims) => {
    const res = await call(await agents.sign({ scope: 'crm:read', ...claims }));
    expect(res.status).toBe(401);
    expect(res.json()).toMatchObject({ error: 'invalid_token', reasons: ['token_claim_invalid'] });
    expect(up.received).toHaveLength(0);
  });

  it('refuses admin ids the gateway would refuse in a token', async () => {
    for (const body of [{ jti: 'a\r\nb' }, { agent: '' }, { jti: 'x'.repeat(257) }]) expect((await admin('POST', '/admin/revoke', body)).status).toBe(400);
    expect((await admin('POST', '/admin/kill', { target: { user: 'a\u0000' }, reason: 'r' })).status).toBe(400);
  });
});
