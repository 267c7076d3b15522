import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileConfig } from '../../src/config/compile.js';
import { validate } from '../../src/config/load.js';
import { startUpstream, type RecordingUpstream } from '../helpers/upstream.js';
import { startGateway, tempAudit, tempState, type RunningGateway } from '../helpers/gateway.js';
import { send } from '../helpers/http.js';
import { crmTools } from './fixtures.js';

// An identity provider serving its JWKS over HTTP (loopback), which rotates its signing key.
const keys: { kid: string; jwk: JWK; sign: (claims: Record<string, unknown>) => Promise<string> }[] = [];
let served: JWK[] = [];
let fetches = 0;
let idp: Server;
let idpUrl: string;
let up: RecordingUpstream;
let gw: RunningGateway;

async function newKey() {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const kid = randomUUID();
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256' };
  const sign = (claims: Record<string, unknown>) => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ scope: 'crm:read', ...claims })
      .setProtectedHeader({ alg: 'ES256', kid })
      .setIssuer(idpUrl).setAudience('portcullis').setSubject('support-bot').setJti(randomUUID())
      .setIssuedAt(now).setExpirationTime(now + 300).sign(privateKey);
  };
  const key = { kid, jwk, sign };
  keys.push(key);
  return key;
}

beforeAll(async () => {
  idp = createServer((req, res) => {
    fetches++;
    if (served.length === 0) {
      res.statusCode = 503;
      res.end();
      return;
    }
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys: served }));
  });
  await new Promise<void>((r) => idp.listen(0, '127.0.0.1', r));
  idpUrl = `http://127.0.0.1:${(idp.address() as AddressInfo).port}`;
  up = await startUpstream();
  const raw = validate({
    listen: { proxy: { port: 0 }, admin: { port: 0 } },
    auth: { issuers: [{ issuer: idpUrl, jwks_uri: `${idpUrl}/jwks.json`, audiences: ['portcullis'] }], jwks_cooldown: '0s', token_cache: { enabled: false } },
    agents: { 'support-bot': { owner: 'alice@example.com', roles: ['support_agent'], max_classification: 'confidential' } },
    tools: crmTools(up),
    audit: tempAudit(),
    state: tempState(),
  });
  gw = await startGateway(compileConfig(raw, process.cwd()));
});
afterAll(async () => {
  await gw.close();
  await up.close();
  idp.close();
});

const call = (token: string) => send(gw.proxyUrl, { path: '/tools/crm/contacts', headers: { authorization: `Bearer ${token}` } });

describe('issuer keys from jwks_uri', () => {
  it('refuses every token while the JWKS cannot be fetched (fail closed)', async () => {
    const k = await newKey();
    served = [];
    const res = await call(await k.sign({}));
    expect(res.status).toBe(401);
    expect(res.json().reasons).toEqual(['token_keys_unavailable']);
  });

  it('verifies against the fetched keys, and caches them', async () => {
    served = [keys[0]!.jwk];
    expect((await call(await keys[0]!.sign({}))).status).toBe(200);
    const before = fetches;
    expect((await call(await keys[0]!.sign({}))).status).toBe(200);
    expect(fetches).toBe(before);
  });

  it('picks up a rotated key without a restart (refetch on an unknown kid)', async () => {
    const next = await newKey();
    served = [keys[0]!.jwk, next.jwk];
    expect((await call(await next.sign({}))).status).toBe(200);
  });

  it('refuses a kid the issuer does not publish, even after refetching', async () => {
    const rogue = await newKey();
    const res = await call(await rogue.sign({}));
    expect(res.status).toBe(401);
    expect(res.json().reasons).toEqual(['token_key_unknown']);
  });
});

describe('jwks_uri must be https except on loopback', () => {
  it('refuses a plain-http jwks_uri on another host', () => {
    const raw = validate({ auth: { issuers: [{ issuer: 'x', jwks_uri: 'http://idp.example.com/jwks', audiences: ['p'] }] } });
    expect(() => compileConfig(raw, process.cwd())).toThrowError(/auth\.issuers\.0\.jwks_uri: must use https/);
  });
});
