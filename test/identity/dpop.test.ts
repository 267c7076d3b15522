import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { calculateJwkThumbprint, decodeJwt } from 'jose';
import { createTestIssuer, type TestIssuer } from '../helpers/issuer.js';
import { startUpstream, type RecordingUpstream } from '../helpers/upstream.js';
import { auditEvents, type RunningGateway } from '../helpers/gateway.js';
import { send } from '../helpers/http.js';
import { agentKey, clientAssertion, dpopProof, JWT_BEARER, oauthError, startTokenService, tokenRequest, type AgentKey } from '../helpers/token-service.js';
import { crmTools } from '../e2e/fixtures.js';

let issuer: TestIssuer;
let up: RecordingUpstream;
let gw: RunningGateway & { issuerUrl: string };
let agent: AgentKey;
let strict: AgentKey;
let config: oidc.Configuration;

beforeAll(async () => {
  issuer = await createTestIssuer();
  up = await startUpstream();
  agent = await agentKey();
  strict = await agentKey('ES256');
  gw = await startTokenService(issuer, {
    tools: crmTools(up),
    agents: {
      'support-bot': { credentials: { jwks_file: agent.jwksFile }, scopes: ['crm:read', 'crm:write'] },
      'strict-bot': { credentials: { jwks_file: strict.jwksFile }, scopes: ['crm:read'], require_dpop: true },
    },
  });
  config = await oidc.discovery(new URL(gw.issuerUrl), 'support-bot', undefined, oidc.PrivateKeyJwt(agent.privateKey), { execute: [oidc.allowInsecureRequests], algorithm: 'oauth2' });
});
afterAll(async () => {
  await gw.close();
  await up.close();
});

/** A DPoP-bound token for support-bot, and the key it is bound to. */
async function boundToken() {
  const pair = await oidc.randomDPoPKeyPair('EdDSA', { extractable: true });
  const tokens = await oidc.clientCredentialsGrant(config, { scope: 'crm:read' }, { DPoP: oidc.getDPoPHandle(config, pair) });
  const { exportJWK } = await import('jose');
  return { token: tokens.access_token, type: tokens.token_type, key: { privateKey: pair.privateKey, publicJwk: await exportJWK(pair.publicKey) } };
}

const URL_PATH = '/tools/crm/contacts/c-1';
const call = (token: string, proof: string | undefined, scheme = 'DPoP', path = URL_PATH, method = 'GET') =>
  send(gw.proxyUrl, { method, path, headers: { authorization: `${scheme} ${token}`, ...(proof ? { dpop: proof } : {}) } });

describe('DPoP: sender-constrained tokens (RFC 9449)', () => {
  it('binds a token to the key of the proof sent with the token request, and openid-client can use it', async () => {
    const pair = await oidc.randomDPoPKeyPair('ES256');
    const DPoP = oidc.getDPoPHandle(config, pair);
    const tokens = await oidc.clientCredentialsGrant(config, { scope: 'crm:read' }, { DPoP });
    expect(tokens.token_type).toBe('dpop');
    expect((decodeJwt(tokens.access_token).cnf as { jkt: string }).jkt).toBe(await calculateJwkThumbprint(await crypto.subtle.exportKey('jwk', pair.publicKey) as never));
    const res = await oidc.fetchProtectedResource(config, tokens.access_token, new URL(`${gw.proxyUrl}${URL_PATH}`), 'GET', undefined, undefined, { DPoP });
    expect(res.status).toBe(200);
    const issued = (await auditEvents(gw)).filter((e) => e.type === 'token_issued').at(-1)!;
    expect(issued.token.type).toBe('DPoP');
    expect(issued.token.dpop_jkt).toBe((decodeJwt(tokens.access_token).cnf as { jkt: string }).jkt);
  });

  it('accepts a hand-built proof for this method, URL and token once', async () => {
    const { token, key } = await boundToken();
    const proof = await dpopProof(key, { htm: 'GET', htu: `${gw.proxyUrl}${URL_PATH}`, accessToken: token });
    expect((await call(token, proof)).status).toBe(200);
  });

  type Build = (t: string, k: Awaited<ReturnType<typeof boundToken>>['key']) => Promise<{ scheme?: string; proof?: string }>;
  const refusals: [string, Build, string, string][] = [
    ['a bound token sent as Bearer', async () => ({ scheme: 'Bearer' }), 'dpop_scheme_mismatch', 'invalid_token'],
    ['no proof at all', async () => ({}), 'dpop_proof_missing', 'invalid_dpop_proof'],
    ['a proof signed by another key', async (t) => ({ proof: await dpopProof(await agentKey(), { htm: 'GET', htu: `${gw.proxyUrl}${URL_PATH}`, accessToken: t }) }), 'dpop_key_mismatch', 'invalid_dpop_proof'],
    ['a proof for another method', async (t, k) => ({ proof: await dpopProof(k, { htm: 'POST', htu: `${gw.proxyUrl}${URL_PATH}`, accessToken: t }) }), 'dpop_proof_invalid', 'invalid_dpop_proof'],
    ['a proof for another URL', async (t, k) => ({ proof: await dpopProof(k, { htm: 'GET', htu: `${gw.proxyUrl}/tools/crm/contacts/c-2`, accessToken: t }) }), 'dpop_proof_invalid', 'invalid_dpop_proof'],
    ['a proof for another host', async (t, k) => ({ proof: await dpopProof(k, { htm: 'GET', htu: `http://evil.example${URL_PATH}`, accessToken: t }) }), 'dpop_proof_invalid', 'invalid_dpop_proof'],
    ['a proof without ath', async (_t, k) => ({ proof: await dpopProof(k, { htm: 'GET', htu: `${gw.proxyUrl}${URL_PATH}` }) }), 'dpop_proof_invalid', 'invalid_dpop_proof'],
    ['a proof naming another token', async (_t, k) => ({ proof: await dpopProof(k, { htm: 'GET', htu: `${gw.proxyUrl}${URL_PATH}`, accessToken: 'another' }) }), 'dpop_proof_invalid', 'invalid_dpop_proof'],
    ['a proof from 60 s ago', async (t, k) => ({ proof: await dpopProof(k, { htm: 'GET', htu: `${gw.proxyUrl}${URL_PATH}`, accessToken: t, iat: Math.floor(Date.now() / 1000) - 60 }) }), 'dpop_proof_invalid', 'invalid_dpop_proof'],
    ['a proof typed JWT', async (t, k) => ({ proof: await dpopProof(k, { htm: 'GET', htu: `${gw.proxyUrl}${URL_PATH}`, accessToken: t, typ: 'JWT' }) }), 'dpop_proof_invalid', 'invalid_dpop_proof'],
    ['a proof carrying a private key', async (t, k) => {
      const { exportJWK } = await import('jose');
      return { proof: await dpopProof(k, { htm: 'GET', htu: `${gw.proxyUrl}${URL_PATH}`, accessToken: t, jwk: await exportJWK(k.privateKey) }) };
    }, 'dpop_proof_invalid', 'invalid_dpop_proof'],
  ];
  it.each(refusals.map(([name, build, reason, www]) => [name, reason, www, build] as const))('refuses %s: 401 %s, %s', async (_name, reason, wwwError, build) => {
    const { token, key } = await boundToken();
    const o = await build(token, key);
    const before = up.received.length;
    const res = await call(token, o.proof, o.scheme);
    expect(res.status).toBe(401);
    expect(res.json()).toMatchObject({ error: 'invalid_token', reasons: [reason] });
    expect(res.headers['www-authenticate']).toContain(`DPoP realm="portcullis"`);
    expect(res.headers['www-authenticate']).toContain(`error="${wwwError}"`);
    expect(up.received.length).toBe(before);
  });

  it('refuses a proof used a second time', async () => {
    const { token, key } = await boundToken();
    const proof = await dpopProof(key, { htm: 'GET', htu: `${gw.proxyUrl}${URL_PATH}`, accessToken: token });
    expect((await call(token, proof)).status).toBe(200);
    const again = await call(token, proof);
    expect(again.status).toBe(401);
    expect(again.json().reasons).toEqual(['dpop_proof_replayed']);
  });

  it('refuses a bearer token presented under the DPoP scheme', async () => {
    const tokens = await oidc.clientCredentialsGrant(config, { scope: 'crm:read' });
    const res = await call(tokens.access_token, undefined, 'DPoP');
    expect(res.status).toBe(401);
    expect(res.json().reasons).toEqual(['dpop_scheme_mismatch']);
  });

  it('at the token endpoint: a replayed proof, or one for another URL, mints nothing', async () => {
    const key = await agentKey();
    const form = async () => ({ grant_type: 'client_credentials', scope: 'crm:read', client_assertion_type: JWT_BEARER, client_assertion: await clientAssertion('support-bot', agent, { aud: gw.issuerUrl }) });
    const proof = await dpopProof(key, { htm: 'POST', htu: `${gw.issuerUrl}/oauth2/token` });
    const first = await tokenRequest(gw.issuerUrl, await form(), { dpop: proof });
    expect(first.body.token_type).toBe('DPoP');
    const replay = await tokenRequest(gw.issuerUrl, await form(), { dpop: proof });
    expect(replay).toMatchObject({ status: 400, body: { error: 'invalid_dpop_proof', reasons: ['dpop_proof_replayed'] } });
    const elsewhere = await tokenRequest(gw.issuerUrl, await form(), { dpop: await dpopProof(key, { htm: 'POST', htu: `${gw.issuerUrl}/other` }) });
    expect(elsewhere).toMatchObject({ status: 400, body: { error: 'invalid_dpop_proof', reasons: ['dpop_proof_invalid'] } });
    const getProof = await tokenRequest(gw.issuerUrl, await form(), { dpop: await dpopProof(key, { htm: 'GET', htu: `${gw.issuerUrl}/oauth2/token` }) });
    expect(getProof.body.reasons).toEqual(['dpop_proof_invalid']);
  });

  it('require_dpop: no bearer token is minted for the agent, and none from another issuer gets through', async () => {
    const strictConfig = await oidc.discovery(new URL(gw.issuerUrl), 'strict-bot', undefined, oidc.PrivateKeyJwt(strict.privateKey), { execute: [oidc.allowInsecureRequests], algorithm: 'oauth2' });
    const refused = await oauthError(await oidc.clientCredentialsGrant(strictConfig, { scope: 'crm:read' }).catch((e: unknown) => e));
    expect(refused).toMatchObject({ error: 'invalid_dpop_proof', reasons: ['dpop_required'] });
    const DPoP = oidc.getDPoPHandle(strictConfig, await oidc.randomDPoPKeyPair('ES256'));
    expect((await oidc.clientCredentialsGrant(strictConfig, { scope: 'crm:read' }, { DPoP })).token_type).toBe('dpop');
    const bearer = await issuer.token('strict-bot', 'crm:read');
    const res = await call(bearer, undefined, 'Bearer');
    expect(res.status).toBe(401);
    expect(res.json().reasons).toEqual(['dpop_required']);
  });
});
