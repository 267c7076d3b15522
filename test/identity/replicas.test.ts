import { createHash, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { decodeJwt, exportJWK } from 'jose';
import { createTestIssuer, type TestIssuer } from '../helpers/issuer.js';
import { startUpstream, type RecordingUpstream } from '../helpers/upstream.js';
import { tempState, type RunningGateway } from '../helpers/gateway.js';
import { send } from '../helpers/http.js';
import { startTestRedis, type TestRedis } from '../helpers/redis.js';
import { freePort } from '../helpers/cli.js';
import { agentKey, clientAssertion, dpopProof, JWT_BEARER, signingKeyFile, startTokenService, tokenRequest, type AgentKey } from '../helpers/token-service.js';
import { crmTools } from '../e2e/fixtures.js';

// Two replicas behind one public URL, sharing a (throwaway) Redis and one signing key: single use
// (assertion and proof ids) and cascade revocation hold across them.
const BREAK_GLASS = 'identity-replicas-break-glass';
let issuer: TestIssuer;
let up: RecordingUpstream;
let redis: TestRedis;
let a: RunningGateway & { issuerUrl: string };
let b: RunningGateway & { issuerUrl: string };
let bot: AgentKey;
let sub: AgentKey;
let publicUrl: string;

beforeAll(async () => {
  issuer = await createTestIssuer();
  redis = await startTestRedis();
  up = await startUpstream();
  bot = await agentKey();
  sub = await agentKey();
  const portA = await freePort();
  publicUrl = `http://127.0.0.1:${portA}`;
  const key = signingKeyFile('p256');
  const prefix = `portcullis-test:${randomUUID()}:`;
  const start = (port?: number) =>
    startTokenService(issuer, {
      port,
      issuerUrl: publicUrl,
      tools: crmTools(up),
      agents: {
        'support-bot': { credentials: { jwks_file: bot.jwksFile }, scopes: ['crm:read', 'crm:write'] },
        'sub-bot': { credentials: { jwks_file: sub.jwksFile }, scopes: ['crm:read'] },
      },
      tokenService: { signing_keys: [key] },
      extra: {
        listen: { proxy: { host: '127.0.0.1', port: port ?? 0, public_url: publicUrl }, admin: { host: '127.0.0.1', port: 0 } },
        state: tempState({ store: 'redis', redis: { url: redis.url, prefix }, max_staleness: '2s' }),
        admin: { break_glass: { sha256: createHash('sha256').update(BREAK_GLASS).digest('hex') } },
      },
    });
  a = await start(portA);
  b = await start(await freePort());
});
afterAll(async () => {
  await a?.close();
  await b?.close();
  await up.close();
  await redis.stop();
});

const assertion = () => clientAssertion('support-bot', bot, { aud: publicUrl });

describe('the token service across replicas (Redis)', () => {
  it('a client assertion used on one replica is refused on the other', async () => {
    const form = { grant_type: 'client_credentials', client_assertion_type: JWT_BEARER, client_assertion: await assertion() };
    expect((await tokenRequest(a.proxyUrl, form)).status).toBe(200);
    expect(await tokenRequest(b.proxyUrl, form)).toMatchObject({ status: 401, body: { reasons: ['client_assertion_replayed'] } });
  });

  it('a token minted by one replica is accepted by the other, and a DPoP proof spent on one is refused by the other', async () => {
    const pair = await oidc.randomDPoPKeyPair('ES256', { extractable: true });
    const key = { privateKey: pair.privateKey, publicJwk: await exportJWK(pair.publicKey) };
    const res = await tokenRequest(a.proxyUrl, { grant_type: 'client_credentials', scope: 'crm:read', client_assertion_type: JWT_BEARER, client_assertion: await assertion() }, { dpop: await dpopProof(key, { htm: 'POST', htu: `${publicUrl}/oauth2/token`, alg: 'ES256' }) });
    expect(res.body.token_type).toBe('DPoP');
    const token = res.body.access_token as string;
    const proof = await dpopProof(key, { htm: 'GET', htu: `${publicUrl}/tools/crm/contacts/c-1`, accessToken: token, alg: 'ES256' });
    const call = (g: RunningGateway) => send(g.proxyUrl, { path: '/tools/crm/contacts/c-1', headers: { authorization: `DPoP ${token}`, dpop: proof } });
    expect((await call(b)).status).toBe(200);
    const replay = await call(a);
    expect(replay.status).toBe(401);
    expect(replay.json().reasons).toEqual(['dpop_proof_replayed']);
  });

  it('revoking a token on one replica refuses the tokens exchanged from it on both', async () => {
    const parent = (await tokenRequest(a.proxyUrl, { grant_type: 'client_credentials', scope: 'crm:read', client_assertion_type: JWT_BEARER, client_assertion: await assertion() })).body.access_token as string;
    const child = (
      await tokenRequest(b.proxyUrl, {
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
        subject_token: parent,
        subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
        client_assertion_type: JWT_BEARER,
        client_assertion: await clientAssertion('sub-bot', sub, { aud: publicUrl }),
      })
    ).body.access_token as string;
    expect(decodeJwt(child)).toMatchObject({ sub: 'support-bot', act: { sub: 'sub-bot' }, parents: [decodeJwt(parent).jti] });
    const call = (g: RunningGateway) => send(g.proxyUrl, { path: '/tools/crm/contacts/c-1', headers: { authorization: `Bearer ${child}` } });
    expect((await call(a)).status).toBe(200);
    const revoke = await send(b.adminUrl, { method: 'POST', path: '/admin/revoke', headers: { authorization: `Bearer ${BREAK_GLASS}`, 'content-type': 'application/json' }, body: JSON.stringify({ jti: decodeJwt(parent).jti }) });
    expect(revoke.status).toBeLessThan(300);
    // The revocation reaches the other replica by pub/sub: within the kill switch's propagation bound.
    for (let i = 0; i < 100 && (await call(a)).status !== 401; i++) await new Promise((r) => setTimeout(r, 10));
    for (const g of [a, b]) expect((await call(g)).json().reasons).toEqual(['token_revoked']);
  });

  it('with Redis gone past max_staleness, mints nothing (503 temporarily_unavailable), audited', async () => {
    await redis.stop();
    let res: Awaited<ReturnType<typeof tokenRequest>> | undefined;
    for (let i = 0; i < 60; i++) {
      res = await tokenRequest(a.proxyUrl, { grant_type: 'client_credentials', client_assertion_type: JWT_BEARER, client_assertion: await assertion() });
      if (res.status === 503) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(res).toMatchObject({ status: 503, body: { error: 'temporarily_unavailable', reasons: ['state_unavailable'] } });
    await redis.start();
  });
});
