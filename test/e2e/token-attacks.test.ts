import { createHmac } from 'node:crypto';
import { generateKeyPair } from 'jose';
import { describe, expect, it } from 'vitest';
import { b64url } from '../helpers/issuer.js';
import { startGateway, testConfig } from '../helpers/gateway.js';
import { send } from '../helpers/http.js';
import { crmGatewaySuite, crmTools } from './fixtures.js';

const s = crmGatewaySuite();
const now = () => Math.floor(Date.now() / 1000);


/** Each attack builds the Authorization value (or null to send none) and may use a different path. */
const attacks: { name: string; reason: string; build: () => Promise<{ auth: string | null; path?: string }> }[] = [
  {
    name: 'alg: none',
    reason: 'token_algorithm_refused',
    build: async () => ({ auth: `Bearer ${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ iss: s.issuer.issuer, aud: 'portcullis', sub: 'support-bot', scope: 'crm:read', iat: now(), exp: now() + 60, jti: 'x' })}.` }),
  },
  {
    name: 'HS256 signed with the issuer public key as the HMAC secret',
    reason: 'token_algorithm_refused',
    build: async () => {
      const head = b64url({ alg: 'HS256', typ: 'JWT', kid: s.issuer.kid });
      const body = b64url({ iss: s.issuer.issuer, aud: 'portcullis', sub: 'support-bot', scope: 'crm:read', iat: now(), exp: now() + 60, jti: 'x' });
      const sig = createHmac('sha256', JSON.stringify(s.issuer.publicJwk)).update(`${head}.${body}`).digest('base64url');
      return { auth: `Bearer ${head}.${body}.${sig}` };
    },
  },
  {
    name: 'an unknown kid',
    reason: 'token_key_unknown',
    build: async () => {
      const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
      return { auth: `Bearer ${await s.issuer.sign({ sub: 'support-bot', scope: 'crm:read' }, { key: privateKey, header: { kid: 'not-ours' } })}` };
    },
  },
  {
    name: 'the right kid signed by another key',
    reason: 'token_signature_invalid',
    build: async () => {
      const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
      return { auth: `Bearer ${await s.issuer.sign({ sub: 'support-bot', scope: 'crm:read' }, { key: privateKey })}` };
    },
  },
  {
    name: 'a payload edited after signing',
    reason: 'token_signature_invalid',
    build: async () => {
      const [h, , sig] = (await s.issuer.token('support-bot', 'crm:read')).split('.');
      return { auth: `Bearer ${h}.${b64url({ iss: s.issuer.issuer, aud: 'portcullis', sub: 'support-bot', scope: 'crm:*', iat: now(), exp: now() + 60, jti: 'x' })}.${sig}` };
    },
  },
  { name: 'expired', reason: 'token_expired', build: async () => ({ auth: `Bearer ${await s.issuer.sign({ sub: 'support-bot', scope: 'crm:read', iat: now() - 600, exp: now() - 60 })}` }) },
  { name: 'nbf in the future', reason: 'token_not_yet_valid', build: async () => ({ auth: `Bearer ${await s.issuer.sign({ sub: 'support-bot', scope: 'crm:read', nbf: now() + 120 })}` }) },
  { name: 'iat in the future', reason: 'token_issued_in_future', build: async () => ({ auth: `Bearer ${await s.issuer.sign({ sub: 'support-bot', scope: 'crm:read', iat: now() + 120, exp: now() + 300 })}` }) },
  { name: 'missing exp', reason: 'token_claim_missing', build: async () => ({ auth: `Bearer ${await s.issuer.sign({ sub: 'support-bot', scope: 'crm:read' }, { omit: ['exp'] })}` }) },
  { name: 'missing jti', reason: 'token_claim_missing', build: async () => ({ auth: `Bearer ${await s.issuer.sign({ sub: 'support-bot', scope: 'crm:read' }, { omit: ['jti'] })}` }) },
  { name: 'missing iat', reason: 'token_claim_missing', build: async () => ({ auth: `Bearer ${await s.issuer.sign({ sub: 'support-bot', scope: 'crm:read' }, { omit: ['iat'] })}` }) },
  { name: 'missing sub', reason: 'token_claim_missing', build: async () => ({ auth: `Bearer ${await s.issuer.sign({ scope: 'crm:read' })}` }) },
  { name: 'wrong aud', reason: 'token_claim_invalid', build: async () => ({ auth: `Bearer ${await s.issuer.sign({ sub: 'support-bot', scope: 'crm:read', aud: 'another-gateway' })}` }) },
  {
    name: 'wrong iss (an issuer we do not trust)',
    reason: 'token_issuer_unknown',
    build: async () => ({ auth: `Bearer ${await s.issuer.sign({ sub: 'support-bot', scope: 'crm:read', iss: 'https://evil.example' })}` }),
  },
  {
    name: 'lifetime over max_token_ttl',
    reason: 'token_lifetime_too_long',
    build: async () => ({ auth: `Bearer ${await s.issuer.sign({ sub: 'support-bot', scope: 'crm:read', iat: now(), exp: now() + 3600 })}` }),
  },
  {
    name: 'an oversized token',
    reason: 'token_too_large',
    build: async () => ({ auth: `Bearer ${await s.issuer.sign({ sub: 'support-bot', scope: 'crm:read', pad: 'x'.repeat(9000) })}` }),
  },
  {
    name: 'a token in the query string (even alongside a valid header)',
    reason: 'token_in_query',
    build: async () => {
      const t = await s.issuer.token('support-bot', 'crm:read');
      return { auth: `Bearer ${t}`, path: `/tools/crm/contacts?access_token=${t}` };
    },
  },
  ...['%61ccess_token', 'access%5Ftoken', 'ACCESS_TOKEN', 'access%255Ftoken', 'x=1;access_token'].map((name) => ({
    name: `a token in the query as ${name}`,
    reason: 'token_in_query',
    build: async () => ({ auth: `Bearer ${await s.issuer.token('support-bot', 'crm:read')}`, path: `/tools/crm/contacts?${name}=eyJhbGciOi` }),
  })),
  ...['dpop+jwt', 'logout+jwt', 'application/id_token+jwt', 'JOSE', 7].map((typ) => ({
    name: `a token typed ${JSON.stringify(typ)} (RFC 8725 §3.11)`,
    reason: 'token_type_refused',
    build: async () => ({ auth: `Bearer ${await s.issuer.sign({ sub: 'support-bot', scope: 'crm:read' }, { header: { typ } })}` }),
  })),
  {
    name: 'a signature re-encoded with stray bits in its last base64url character',
    reason: 'token_malformed',
    build: async () => {
      const token = await s.issuer.token('support-bot', 'crm:read');
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      // Ed25519: 64 bytes → 86 characters, the last one carrying 4 unused bits. Setting one decodes to the same bytes.
      const last = alphabet.indexOf(token.at(-1)!);
      const forged = token.slice(0, -1) + alphabet[last | 1];
      expect(Buffer.from(forged.split('.')[2]!, 'base64url')).toEqual(Buffer.from(token.split('.')[2]!, 'base64url'));
      return { auth: `Bearer ${forged}` };
    },
  },
  { name: 'no Authorization header', reason: 'token_missing', build: async () => ({ auth: null }) },
  { name: 'a Basic credential', reason: 'token_malformed', build: async () => ({ auth: 'Basic c3VwcG9ydC1ib3Q6cGFzcw==' }) },
  { name: 'garbage in place of a JWT', reason: 'token_malformed', build: async () => ({ auth: 'Bearer not.a.jwt!' }) },
  {
    name: 'a non-object "act" claim',
    reason: 'token_claim_invalid',
    build: async () => ({ auth: `Bearer ${await s.issuer.sign({ sub: 'alice', act: 'support-bot', scope: 'crm:read' })}` }),
  },
];

describe('token attacks: each refused with 401 and no upstream request', () => {
  it.each(attacks)('refuses $name', async ({ reason, build }) => {
    const before = s.up.received.length;
    const { auth, path } = await build();
    const res = await send(s.gw.proxyUrl, { path: path ?? '/tools/crm/contacts', headers: auth === null ? {} : { authorization: auth } });
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="portcullis"/);
    expect(res.json()).toMatchObject({ error: 'invalid_token', reasons: [reason] });
    expect(s.up.received.length).toBe(before);
  });

  it('accepts the same kind of token when it is valid (the table is not refusing everything)', async () => {
    const res = await send(s.gw.proxyUrl, { path: '/tools/crm/contacts', headers: { authorization: `Bearer ${await s.issuer.token('support-bot', 'crm:read')}` } });
    expect(res.status).toBe(200);
    for (const typ of [undefined, 'JWT', 'at+jwt', 'application/AT+JWT']) {
      const token = await s.issuer.sign({ sub: 'support-bot', scope: 'crm:read' }, { header: { typ } });
      expect((await send(s.gw.proxyUrl, { path: '/tools/crm/contacts?access=token', headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    }
  });

  it('accepts a typ named in auth.token_types', async () => {
    const issuers = [{ issuer: s.issuer.issuer, jwks_file: s.issuer.jwksFile, audiences: ['portcullis'] }];
    const typed = await startGateway(testConfig(s.issuer, crmTools(s.up), { auth: { issuers, token_types: ['vnd.example.cap+jwt'] } }));
    try {
      const token = await s.issuer.sign({ sub: 'support-bot', scope: 'crm:read' }, { header: { typ: 'application/vnd.example.cap+jwt' } });
      expect((await send(typed.proxyUrl, { path: '/tools/crm/contacts', headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    } finally {
      await typed.close();
    }
  });
});

describe('token cache', () => {
  it('verifies a token once for many calls and counts hits', async () => {
    const token = await s.issuer.token('support-bot', 'crm:read');
    for (let i = 0; i < 3; i++) {
      expect((await send(s.gw.proxyUrl, { path: '/tools/crm/contacts', headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    }
    const metrics = await s.gw.gateway.metrics.registry.getSingleMetricAsString('portcullis_token_cache_total');
    expect(metrics).toMatch(/result="hit"} [1-9]/);
  });

  it('never serves a cached token past its exp', async () => {
    // clock_tolerance 0 so that the only thing that could let the token through after exp is the cache.
    const strict = await startGateway(testConfig(s.issuer, crmTools(s.up), { auth: { issuers: [{ issuer: s.issuer.issuer, jwks_file: s.issuer.jwksFile, audiences: ['portcullis'] }], clock_tolerance: '0s' } }));
    try {
      const token = await s.issuer.sign({ sub: 'support-bot', scope: 'crm:read', exp: now() + 1 });
      expect((await send(strict.proxyUrl, { path: '/tools/crm/contacts', headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
      await new Promise((r) => setTimeout(r, 1100 + (1000 - (Date.now() % 1000))));
      const res = await send(strict.proxyUrl, { path: '/tools/crm/contacts', headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(401);
      expect(res.json().reasons).toEqual(['token_expired']);
    } finally {
      await strict.close();
    }
  });
});
