import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestIssuer, type TestIssuer } from '../helpers/issuer.js';
import { startUpstream, type RecordingUpstream } from '../helpers/upstream.js';
import { auditEvents, capturedLogText, type RunningGateway } from '../helpers/gateway.js';
import { rawRequest } from '../helpers/raw-socket.js';
import { agentKey, clientAssertion, JWT_BEARER, startTokenService, testSecretHash, tokenRequest, type AgentKey } from '../helpers/token-service.js';
import { crmTools } from '../e2e/fixtures.js';

// What an attacker (or a broken client) sends to the token endpoint: each refused with the RFC's
// error code and our reason, audited as token_refused, and nothing minted.
let issuer: TestIssuer;
let up: RecordingUpstream;
let gw: RunningGateway & { issuerUrl: string };
let bot: AgentKey;
let stranger: AgentKey;
const SECRET = 'secret-bot-secret-0123456789';

beforeAll(async () => {
  issuer = await createTestIssuer();
  up = await startUpstream();
  bot = await agentKey();
  stranger = await agentKey();
  gw = await startTokenService(issuer, {
    tools: crmTools(up),
    agents: {
      'support-bot': { credentials: { jwks_file: bot.jwksFile }, scopes: ['crm:read'] },
      'sleepy-bot': { credentials: { jwks_file: bot.jwksFile }, scopes: ['crm:read'], status: 'suspended' },
      'old-bot': { credentials: { jwks_file: bot.jwksFile }, scopes: ['crm:read'], status: 'retired' },
      'secret-bot': { credentials: { secret_hashes: [await testSecretHash(SECRET)] }, scopes: ['crm:read'] },
      'no-keys-bot': { scopes: ['crm:read'] },
    },
    tokenService: { rate_limits: { client: { rate: '1000/s', burst: 1000 }, address: { rate: '1000/s', burst: 1000 } } },
  });
});
afterAll(async () => {
  await gw.close();
  await up.close();
});

const now = () => Math.floor(Date.now() / 1000);
async function cc(extra: Record<string, string> = {}, agent = 'support-bot', key: AgentKey = bot, o: Parameters<typeof clientAssertion>[2] | undefined = undefined) {
  const assertion = await clientAssertion(agent, key, o ?? { aud: gw.issuerUrl });
  return { grant_type: 'client_credentials', client_assertion_type: JWT_BEARER, client_assertion: assertion, ...extra };
}

type Case = [name: string, form: () => Promise<Record<string, string>>, error: string, reason: string, headers?: Record<string, string>];
const cases: Case[] = [
  ['an assertion signed by a key the agent did not register', () => cc({}, 'support-bot', stranger), 'invalid_client', 'client_assertion_invalid'],
  ['an assertion for another audience', () => cc({}, 'support-bot', bot, { aud: 'https://other-as.example' }), 'invalid_client', 'client_assertion_audience'],
  ['an expired assertion', () => cc({}, 'support-bot', bot, { aud: gw.issuerUrl, iat: now() - 600, exp: now() - 300 }), 'invalid_client', 'client_assertion_expired'],
  ['an assertion living an hour', () => cc({}, 'support-bot', bot, { aud: gw.issuerUrl, exp: now() + 3600 }), 'invalid_client', 'client_assertion_invalid'],
  ['an assertion whose sub is another agent', () => cc({}, 'support-bot', bot, { aud: gw.issuerUrl, sub: 'secret-bot' }), 'invalid_client', 'client_assertion_invalid'],
  ['an assertion type other than jwt-bearer', async () => ({ ...(await cc()), client_assertion_type: 'urn:x:saml' }), 'invalid_client', 'client_assertion_invalid'],
  ['client_id naming another agent than the assertion', async () => ({ ...(await cc()), client_id: 'secret-bot' }), 'invalid_client', 'client_assertion_invalid'],
  ['an unknown client', () => cc({}, 'ghost-bot'), 'invalid_client', 'client_unknown'],
  ['a suspended agent', () => cc({}, 'sleepy-bot'), 'invalid_client', 'client_inactive'],
  ['a retired agent', () => cc({}, 'old-bot'), 'invalid_client', 'client_inactive'],
  ['an assertion from an agent with no registered keys', () => cc({}, 'no-keys-bot'), 'invalid_client', 'client_method_not_allowed'],
  ['a secret for a key-only agent', async () => ({ grant_type: 'client_credentials', client_id: 'support-bot', client_secret: 'guess' }), 'invalid_client', 'client_method_not_allowed'],
  ['a wrong secret', async () => ({ grant_type: 'client_credentials', client_id: 'secret-bot', client_secret: 'guess' }), 'invalid_client', 'client_secret_invalid'],
  ['two authentication methods at once', async () => ({ ...(await cc()), client_secret: SECRET }), 'invalid_request', 'client_auth_multiple'],
  ['no client authentication', async () => ({ grant_type: 'client_credentials', client_id: 'support-bot' }), 'invalid_client', 'client_auth_missing'],
  ['a scope beyond the agent ceiling', () => cc({ scope: 'crm:write' }), 'invalid_scope', 'scope_beyond_ceiling'],
  ['a scope naming an unknown tool', () => cc({ scope: 'payroll:read' }), 'invalid_scope', 'scope_invalid'],
  ['a malformed scope', () => cc({ scope: 'crm' }), 'invalid_scope', 'scope_invalid'],
  ['a resource this service does not issue for', () => cc({ resource: 'https://elsewhere.example' }), 'invalid_target', 'resource_unknown'],
  ['an unsupported grant', async () => ({ ...(await cc()), grant_type: 'password' }), 'unsupported_grant_type', 'grant_unsupported'],
  ['no grant_type', async () => { const f = await cc(); delete (f as Record<string, string>).grant_type; return f; }, 'invalid_request', 'parameter_missing'],
  ['a token exchange without subject_token', () => cc({ grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange' }), 'invalid_request', 'parameter_missing'],
  ['a task_id with a newline', () => cc({ task_id: 'a\nb' }), 'invalid_request', 'parameter_invalid'],
];

describe('the token endpoint refuses bad input with the RFC error, audits it and mints nothing', () => {
  it.each(cases.map(([name, form, error, reason, headers]) => [name, error, reason, form, headers] as const))('refuses %s: %s (%s)', async (_name, error, reason, form, headers) => {
    const before = (await auditEvents(gw)).filter((e) => e.type === 'token_issued').length;
    const res = await tokenRequest(gw.issuerUrl, await form(), headers);
    expect(res.body).toMatchObject({ error, reasons: [reason] });
    expect(res.body.access_token).toBeUndefined();
    expect(res.status).toBe(error === 'invalid_client' ? 401 : 400);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const events = await auditEvents(gw);
    expect(events.filter((e) => e.type === 'token_issued').length).toBe(before);
    expect(events.find((e) => e.type === 'token_refused' && e.request_id === res.body.request_id)).toMatchObject({ outcome: { error, reason } });
  });

  it('refuses a replayed client assertion', async () => {
    const form = await cc({ scope: 'crm:read' });
    expect((await tokenRequest(gw.issuerUrl, form)).status).toBe(200);
    const again = await tokenRequest(gw.issuerUrl, form);
    expect(again).toMatchObject({ status: 401, body: { error: 'invalid_client', reasons: ['client_assertion_replayed'] } });
  });

  it('refuses a repeated parameter sent raw (two scopes: which would a second layer read?)', async () => {
    const body = `grant_type=client_credentials&scope=crm%3Aread&scope=crm%3Awrite&client_assertion_type=${encodeURIComponent(JWT_BEARER)}&client_assertion=${await clientAssertion('support-bot', bot, { aud: gw.issuerUrl })}`;
    const res = await rawRequest(gw.proxyUrl, `POST /oauth2/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
    expect(res.status).toBe(400);
    expect(res.text).toContain('"reasons":["parameter_repeated"]');
  });

  it('refuses an oversized body without reading it, and a JSON body', async () => {
    const big = await rawRequest(gw.proxyUrl, `POST /oauth2/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000000\r\n\r\ngrant_type=`);
    expect(big.status).toBe(400);
    expect(big.text).toContain('"reasons":["form_too_large"]');
    const json = await fetch(`${gw.issuerUrl}/oauth2/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(await cc()) });
    expect(json.status).toBe(400);
    expect(((await json.json()) as { reasons: string[] }).reasons).toEqual(['form_malformed']);
  });

  it('answers Basic client authentication failures with WWW-Authenticate: Basic', async () => {
    const res = await tokenRequest(gw.issuerUrl, { grant_type: 'client_credentials' }, { authorization: `Basic ${Buffer.from('secret-bot:nope').toString('base64')}` });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Basic realm="portcullis"');
    const ok = await tokenRequest(gw.issuerUrl, { grant_type: 'client_credentials' }, { authorization: `Basic ${Buffer.from(`secret-bot:${SECRET}`).toString('base64')}` });
    expect(ok.status).toBe(200);
  });

  it('rate limits per client before checking its credentials, and per source address, with Retry-After', async () => {
    const limited = await startTokenService(issuer, {
      tools: crmTools(up),
      agents: { 'busy-bot': { credentials: { jwks_file: bot.jwksFile }, scopes: ['crm:read'] }, 'calm-bot': { credentials: { jwks_file: bot.jwksFile }, scopes: ['crm:read'] } },
      tokenService: { rate_limits: { client: { rate: '1/m', burst: 3 }, address: { rate: '1/m', burst: 6 } } },
    });
    try {
      const statuses: number[] = [];
      let last: Awaited<ReturnType<typeof tokenRequest>> | undefined;
      for (let i = 0; i < 5; i++) {
        last = await tokenRequest(limited.issuerUrl, { grant_type: 'client_credentials', client_assertion_type: JWT_BEARER, client_assertion: await clientAssertion('busy-bot', stranger, { aud: limited.issuerUrl }) });
        statuses.push(last.status);
      }
      expect(statuses).toEqual([401, 401, 401, 429, 429]);
      expect(last!.body).toMatchObject({ error: 'rate_limited', reasons: ['rate_limited_client'] });
      expect(Number(last!.headers.get('retry-after'))).toBeGreaterThan(0);
      // Another client from the same address: the address limit (6) is spent after one more.
      const calm = async () => tokenRequest(limited.issuerUrl, { grant_type: 'client_credentials', client_assertion_type: JWT_BEARER, client_assertion: await clientAssertion('calm-bot', bot, { aud: limited.issuerUrl }) });
      expect((await calm()).status).toBe(200);
      expect((await calm()).body.reasons).toEqual(['rate_limited_address']);
    } finally {
      await limited.close();
    }
  });

  it('never writes a secret, an assertion or a minted token into the audit trail or the logs', async () => {
    const form = await cc({ scope: 'crm:read' });
    const res = await tokenRequest(gw.issuerUrl, form);
    await tokenRequest(gw.issuerUrl, { grant_type: 'client_credentials', client_id: 'secret-bot', client_secret: SECRET });
    const text = JSON.stringify(await auditEvents(gw)) + capturedLogText.join('');
    for (const secret of [SECRET, form.client_assertion.split('.')[2]!, String(res.body.access_token).split('.')[2]!]) expect(text).not.toContain(secret);
  });
});
