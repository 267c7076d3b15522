/**
 * A provisioned agent and the token service: its SCIM `credentials` (a public JWKS) are what its
 * client assertions are checked against, key rotation through SCIM takes effect on the next
 * request, `maxTokenTtl` shortens its tokens, and a suspended agent gets none.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestIssuer, type TestIssuer } from '../helpers/issuer.js';
import { startUpstream, type RecordingUpstream } from '../helpers/upstream.js';
import { agentKey, clientAssertion, JWT_BEARER, startTokenService, tokenRequest, type AgentKey } from '../helpers/token-service.js';
import { send } from '../helpers/http.js';
import { crmTools } from '../e2e/fixtures.js';
import { AGENT, patchOp } from '../helpers/scim.js';
import type { RunningGateway } from '../helpers/gateway.js';

const BREAK_GLASS = 'registry-token-service';
let issuer: TestIssuer;
let up: RecordingUpstream;
let gw: RunningGateway & { issuerUrl: string };
let first: AgentKey;
let id: string;

beforeAll(async () => {
  issuer = await createTestIssuer();
  up = await startUpstream();
  first = await agentKey();
  gw = await startTokenService(issuer, { agents: {}, tools: crmTools(up), extra: { admin: { break_glass: { sha256: createHash('sha256').update(BREAK_GLASS).digest('hex') } } } });
});
afterAll(async () => {
  await gw.close();
  await up.close();
});

const scim = (method: string, path: string, body?: unknown) =>
  send(gw.adminUrl, { method, path: `/scim/v2${path}`, headers: { authorization: `Bearer ${BREAK_GLASS}`, 'content-type': 'application/scim+json' }, body: body === undefined ? undefined : JSON.stringify(body) });
const token = async (key: AgentKey) =>
  tokenRequest(gw.issuerUrl, { grant_type: 'client_credentials', client_assertion_type: JWT_BEARER, client_assertion: await clientAssertion('prov-bot', key, { aud: gw.issuerUrl }), scope: 'crm:read' });

describe('a provisioned agent at the token service', () => {
  it('gets tokens with the keys SCIM registered, no longer than its maxTokenTtl', async () => {
    const res = await scim('POST', '/Agents', { schemas: [AGENT], agentId: 'prov-bot', owner: 'ops@example.com', maxClassification: 'confidential', roles: ['support_agent'], scopes: ['crm:read'], maxTokenTtl: 60, credentials: { keys: [first.publicJwk] } });
    expect(res.status, res.text).toBe(201);
    id = res.json().id;
    const t = await token(first);
    expect(t.status, JSON.stringify(t.body)).toBe(200);
    expect(t.body.expires_in).toBe(60);
    const call = await send(gw.proxyUrl, { path: '/tools/crm/contacts', headers: { authorization: `Bearer ${t.body.access_token}` } });
    expect(call.status).toBe(200);
  });

  it('takes a rotated key at the next request, and refuses the old one', async () => {
    const second = await agentKey();
    expect((await scim('PATCH', `/Agents/${id}`, patchOp({ op: 'replace', path: 'credentials', value: { keys: [second.publicJwk] } }))).status).toBe(200);
    expect((await token(second)).status).toBe(200);
    const old = await token(first);
    expect(old.status).toBe(401);
    expect(old.body.error).toBe('invalid_client');
  });

  it('refuses a private key sent as credentials, and keeps nothing of it', async () => {
    const { privateKey } = await agentKey();
    const { exportJWK } = await import('jose');
    const jwk = await exportJWK(privateKey);
    const res = await scim('PATCH', `/Agents/${id}`, patchOp({ op: 'replace', path: 'credentials', value: { keys: [jwk] } }));
    expect(res.status).toBe(400);
    expect(res.json()).toMatchObject({ scimType: 'invalidValue' });
    expect(JSON.stringify((await scim('GET', `/Agents/${id}`)).json())).not.toContain(String(jwk.d));
  });

  it('gives a suspended agent no token', async () => {
    await scim('PATCH', `/Agents/${id}`, patchOp({ op: 'replace', path: 'status', value: 'suspended' }));
    const res = await tokenRequest(gw.issuerUrl, { grant_type: 'client_credentials', client_assertion_type: JWT_BEARER, client_assertion: await clientAssertion('prov-bot', first, { aud: gw.issuerUrl }) });
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({ error: 'invalid_client', reasons: ['client_inactive'] });
  });
});
