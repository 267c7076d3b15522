import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { decodeJwt } from 'jose';
import { createTestIssuer, type TestIssuer } from '../helpers/issuer.js';
import { startUpstream, type RecordingUpstream } from '../helpers/upstream.js';
import { auditEvents, type RunningGateway } from '../helpers/gateway.js';
import { send } from '../helpers/http.js';
import { startIdp, type TestIdp } from '../helpers/oidc-idp.js';
import { agentKey, oauthError, startTokenService, type AgentKey } from '../helpers/token-service.js';
import { crmTools } from '../e2e/fixtures.js';

// The company IdP is a real OpenID Provider (oidc-provider); the agents use openid-client.
const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ID_TOKEN = 'urn:ietf:params:oauth:token-type:id_token';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
const JWT = 'urn:ietf:params:oauth:token-type:jwt';
const BREAK_GLASS = 'exchange-test-break-glass';
let issuer: TestIssuer;
let other: TestIssuer;
let idp: TestIdp;
let up: RecordingUpstream;
let gw: RunningGateway & { issuerUrl: string };
const keys: Record<string, AgentKey> = {};
const clients: Record<string, oidc.Configuration> = {};

beforeAll(async () => {
  issuer = await createTestIssuer();
  other = await createTestIssuer('https://other-idp.test', 'portcullis');
  idp = await startIdp({ 'alice@example.com': { groups: ['support-team', 'chess-club'] }, 'bob@example.com': { groups: ['support-team'], mayAct: { sub: 'helper-bot' } } });
  up = await startUpstream();
  for (const id of ['support-bot', 'sub-bot', 'helper-bot']) keys[id] = await agentKey();
  gw = await startTokenService(issuer, {
    tools: { ...crmTools(up), tickets: { upstream: up.url, classification: 'internal', operations: [{ name: 'list', method: 'GET', path: '/tickets', action: 'read' }] } },
    agents: {
      'support-bot': { credentials: { jwks_file: keys['support-bot']!.jwksFile }, scopes: ['crm:read', 'crm:write', 'tickets:read'] },
      'sub-bot': { credentials: { jwks_file: keys['sub-bot']!.jwksFile }, scopes: ['crm:*'] },
      'helper-bot': { credentials: { jwks_file: keys['helper-bot']!.jwksFile }, scopes: ['crm:read'] },
    },
    tokenService: {
      subject_issuers: [
        { issuer: idp.issuer, jwks_uri: idp.jwksUri, audiences: [idp.clientId, 'portcullis'], roles_claim: 'groups', role_map: { 'support-team': 'support' } },
        { issuer: other.issuer, jwks_file: other.jwksFile, audiences: ['portcullis'] },
      ],
    },
    extra: { admin: { break_glass: { sha256: createHash('sha256').update(BREAK_GLASS).digest('hex') } } },
  });
  for (const id of Object.keys(keys)) {
    clients[id] = await oidc.discovery(new URL(gw.issuerUrl), id, undefined, oidc.PrivateKeyJwt(keys[id]!.privateKey), { execute: [oidc.allowInsecureRequests], algorithm: 'oauth2' });
  }
});
afterAll(async () => {
  await gw.close();
  await idp.close();
  await up.close();
});

const exchange = (agent: string, subject: string, type: string, params: Record<string, string> = {}) =>
  oidc.genericGrantRequest(clients[agent]!, EXCHANGE, { subject_token: subject, subject_token_type: type, ...params });
const refusal = async (p: Promise<unknown>) => oauthError(await p.then(() => undefined, (e: unknown) => e));
const call = (token: string, path = '/tools/crm/contacts/c-1') => send(gw.proxyUrl, { path, headers: { authorization: `Bearer ${token}` } });

describe('token exchange (RFC 8693) from the company IdP', () => {
  it("exchanges a user's ID token: sub is the user, act the agent, roles mapped from the IdP's groups", async () => {
    const { idToken } = await idp.signIn('alice@example.com');
    const res = await exchange('support-bot', idToken, ID_TOKEN, { scope: 'crm:read', task_id: 'ticket-7' });
    expect(res.issued_token_type).toBe(ACCESS_TOKEN);
    const claims = decodeJwt(res.access_token);
    expect(claims).toMatchObject({ sub: 'alice@example.com', act: { sub: 'support-bot' }, roles: ['support'], scope: 'crm:read', task_id: 'ticket-7' });
    expect(claims.parents).toBeUndefined();
    expect(claims.exp!).toBeLessThanOrEqual(decodeJwt(idToken).exp!);
    expect((await call(res.access_token)).status).toBe(200);
    const events = await auditEvents(gw);
    expect(events.filter((e) => e.type === 'token_issued').at(-1)).toMatchObject({ grant: EXCHANGE, subject_issuer: idp.issuer, user: { id: 'alice@example.com', roles: ['support'] }, delegation: ['support-bot', 'alice@example.com'] });
    expect(events.filter((e) => e.type === 'tool_call').at(-1)).toMatchObject({ delegation: ['support-bot', 'alice@example.com'] });
  });

  it("exchanges the IdP's JWT access token and records its jti as the parent", async () => {
    const { accessToken } = await idp.signIn('alice@example.com');
    const res = await exchange('support-bot', accessToken, ACCESS_TOKEN, { scope: 'crm:read' });
    expect(decodeJwt(res.access_token).parents).toEqual([decodeJwt(accessToken).jti]);
  });

  it("honours may_act: only the named agent may act for bob", async () => {
    const { idToken } = await idp.signIn('bob@example.com');
    expect(await refusal(exchange('support-bot', idToken, ID_TOKEN))).toMatchObject({ error: 'invalid_request', reasons: ['may_act_refused'] });
    const ok = await exchange('helper-bot', idToken, ID_TOKEN);
    expect(decodeJwt(ok.access_token)).toMatchObject({ sub: 'bob@example.com', act: { sub: 'helper-bot' }, scope: 'crm:read' });
  });

  it('refuses subject tokens from an issuer not listed, expired ones, and unknown token types', async () => {
    const foreign = await issuer.sign({ sub: 'alice@example.com' });
    expect(await refusal(exchange('support-bot', foreign, JWT))).toMatchObject({ error: 'invalid_request', reasons: ['subject_issuer_untrusted'] });
    const now = Math.floor(Date.now() / 1000);
    const expired = await other.sign({ sub: 'alice@example.com', iat: now - 600, exp: now - 300 });
    expect(await refusal(exchange('support-bot', expired, JWT))).toMatchObject({ reasons: ['subject_token_expired'] });
    const wrongAud = await other.sign({ sub: 'alice@example.com', aud: 'someone-else' });
    expect(await refusal(exchange('support-bot', wrongAud, JWT))).toMatchObject({ reasons: ['subject_token_invalid'] });
    expect(await refusal(exchange('support-bot', await other.sign({ sub: 'a' }), 'urn:ietf:params:oauth:token-type:saml2'))).toMatchObject({ reasons: ['subject_type_mismatch'] });
  });

  it("never extends expiry: the new token ends when the subject token does", async () => {
    const now = Math.floor(Date.now() / 1000);
    const short = await other.sign({ sub: 'carol@example.com', exp: now + 40 });
    const res = await exchange('support-bot', short, JWT, { scope: 'crm:read' });
    expect(decodeJwt(res.access_token).exp).toBe(now + 40);
    expect(res.expires_in).toBeLessThanOrEqual(40);
  });
});

describe('re-delegation to a sub-agent, and cascade revocation', () => {
  async function delegated(scope = 'crm:read crm:write') {
    const { idToken } = await idp.signIn('alice@example.com');
    return (await exchange('support-bot', idToken, ID_TOKEN, { scope })).access_token;
  }

  it('nests the chain, narrows scope, keeps expiry, and lists every ancestor', async () => {
    const parent = await delegated();
    const child = (await exchange('sub-bot', parent, JWT, { scope: 'crm:read' })).access_token;
    const p = decodeJwt(parent);
    const c = decodeJwt(child);
    expect(c).toMatchObject({ sub: 'alice@example.com', act: { sub: 'sub-bot', act: { sub: 'support-bot' } }, roles: ['support'], scope: 'crm:read', parents: [p.jti] });
    expect(c.exp!).toBeLessThanOrEqual(p.exp!);
    expect((await call(child)).status).toBe(200);
    const grandchild = (await exchange('helper-bot', child, JWT)).access_token;
    expect(decodeJwt(grandchild)).toMatchObject({ act: { sub: 'helper-bot', act: { sub: 'sub-bot', act: { sub: 'support-bot' } } }, scope: 'crm:read', parents: [c.jti, p.jti] });
  });

  it('refuses to widen scope beyond the subject token, even within the sub-agent ceiling', async () => {
    const parent = await delegated('crm:read');
    expect(await refusal(exchange('sub-bot', parent, JWT, { scope: 'crm:write' }))).toMatchObject({ error: 'invalid_scope', reasons: ['scope_widened'] });
    expect(await refusal(exchange('sub-bot', parent, JWT, { scope: 'crm:*' }))).toMatchObject({ error: 'invalid_scope', reasons: ['scope_widened'] });
  });

  it('revoking a token refuses every token exchanged from it, at any depth, and their further exchange', async () => {
    const parent = await delegated();
    const child = (await exchange('sub-bot', parent, JWT, { scope: 'crm:read' })).access_token;
    const grandchild = (await exchange('helper-bot', child, JWT)).access_token;
    expect((await call(grandchild)).status).toBe(200);
    const revoke = await send(gw.adminUrl, { method: 'POST', path: '/admin/revoke', headers: { authorization: `Bearer ${BREAK_GLASS}`, 'content-type': 'application/json' }, body: JSON.stringify({ jti: decodeJwt(parent).jti, reason: 'leaked' }) });
    expect(revoke.status).toBeLessThan(300);
    for (const t of [parent, child, grandchild]) {
      const res = await call(t);
      expect(res.status).toBe(401);
      expect(res.json().reasons).toEqual(['token_revoked']);
    }
    expect(await refusal(exchange('helper-bot', child, JWT))).toMatchObject({ reasons: ['subject_token_revoked'] });
  });

  it('does not re-delegate a token from another issuer as if it were its own', async () => {
    const external = await issuer.token('support-bot', 'crm:read');
    expect(await refusal(exchange('sub-bot', external, JWT))).toMatchObject({ reasons: ['subject_issuer_untrusted'] });
  });
});

describe('the kill switch at the token endpoint', () => {
  const adminCall = (method: string, path: string, body?: unknown) =>
    send(gw.adminUrl, { method, path, headers: { authorization: `Bearer ${BREAK_GLASS}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });

  it('mints nothing for a killed agent, nor an exchange through a killed orchestrator or for a killed user', async () => {
    const { idToken } = await idp.signIn('alice@example.com');
    const parent = (await exchange('support-bot', idToken, ID_TOKEN, { scope: 'crm:read' })).access_token;
    const killAgent = (await adminCall('POST', '/admin/kill', { target: { agent: 'support-bot' }, reason: 'test' })).json().id as string;
    try {
      expect(await refusal(oidc.clientCredentialsGrant(clients['support-bot']!))).toMatchObject({ error: 'invalid_client', reasons: ['client_killed'] });
      expect(await refusal(exchange('sub-bot', parent, JWT))).toMatchObject({ error: 'invalid_request', reasons: ['subject_killed'] });
    } finally {
      await adminCall('DELETE', `/admin/kill/${killAgent}`);
    }
    const killUser = (await adminCall('POST', '/admin/kill', { target: { user: 'alice@example.com' }, reason: 'test' })).json().id as string;
    try {
      expect(await refusal(exchange('support-bot', idToken, ID_TOKEN))).toMatchObject({ reasons: ['subject_killed'] });
    } finally {
      await adminCall('DELETE', `/admin/kill/${killUser}`);
    }
    expect(decodeJwt((await exchange('sub-bot', parent, JWT)).access_token).sub).toBe('alice@example.com');
  });

  it("holds the orchestrator of a re-delegated service-account token to the kill switch and revocation", async () => {
    const own = (await oidc.clientCredentialsGrant(clients['support-bot']!, { scope: 'crm:read' })).access_token;
    const child = (await exchange('sub-bot', own, JWT)).access_token;
    expect(decodeJwt(child)).toMatchObject({ sub: 'support-bot', act: { sub: 'sub-bot' } });
    expect((await call(child)).status).toBe(200);
    const kill = (await adminCall('POST', '/admin/kill', { target: { agent: 'support-bot' }, reason: 'test' })).json().id as string;
    try {
      const res = await call(child);
      expect(res.status).toBe(403);
      expect(res.json().reasons).toEqual(['killed_agent']);
    } finally {
      await adminCall('DELETE', `/admin/kill/${kill}`);
    }
    expect((await call(child)).status).toBe(200);
  });
});
