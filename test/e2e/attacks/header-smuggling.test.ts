/**
 * Forgeable headers under another spelling. CGI-style stacks (WSGI, Rack, PHP) read `Portcullis_Agent`
 * as `Portcullis-Agent`; a client library would normalise or refuse these names, so the attack is
 * sent as raw bytes.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestIssuer, type TestIssuer } from '../../helpers/issuer.js';
import { startUpstream, type RecordingUpstream } from '../../helpers/upstream.js';
import { auditEvents, startGateway, testConfig, type RunningGateway } from '../../helpers/gateway.js';
import { head, rawRequest } from '../../helpers/raw-socket.js';
import { send } from '../../helpers/http.js';
import { crmTools } from '../fixtures.js';

let issuer: TestIssuer;
let up: RecordingUpstream;
let gw: RunningGateway;
let token: string;

beforeAll(async () => {
  issuer = await createTestIssuer();
  up = await startUpstream();
  gw = await startGateway(testConfig(issuer, crmTools(up, { credentials: { header: 'x-api-key', value: 'crm-key-5f4e3d' } })));
  token = await issuer.token('support-bot', 'crm:read');
});
afterAll(async () => {
  await gw.close();
  await up.close();
});
beforeEach(() => {
  up.received.length = 0;
});

const smuggled = [
  'Portcullis_Agent', 'Portcullis.Agent', 'PORTCULLIS_USER', 'portcullis_request.id', 'X_Forwarded_For', 'X.Forwarded.Host', 'x_forwarded_proto',
  'X_Real_IP', 'True_Client_IP', 'X_HTTP_Method_Override', 'X_HTTP_Method', 'X.Method.Override', 'Proxy_Authorization',
  'X_Api_Key', 'Content_Length', 'Transfer_Encoding', 'X_Original_URL',
];

describe('header spellings', () => {
  it.each(smuggled)('strips %s before the upstream sees it', async (name) => {
    const res = await rawRequest(gw.proxyUrl, head('GET', '/tools/crm/contacts', [['Host', 'gw.test'], ['Authorization', `Bearer ${token}`], [name, 'smuggled-value'], ['Connection', 'close']]));
    expect(res.status).toBe(200);
    const got = up.received[0]!;
    expect(got.rawHeaders.filter((_v, i) => i % 2 === 0).map((n) => n.toLowerCase())).not.toContain(name.toLowerCase());
    expect(JSON.stringify(got.rawHeaders)).not.toContain('smuggled-value');
    expect(got.method).toBe('GET');
    expect(got.headers['portcullis-agent']).toBe('support-bot');
    expect(got.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(got.headers['x-api-key']).toBe('crm-key-5f4e3d');
  });

  it('keeps ordinary headers with underscores that mean nothing to the gateway', async () => {
    await rawRequest(gw.proxyUrl, head('GET', '/tools/crm/contacts', [['Host', 'gw.test'], ['Authorization', `Bearer ${token}`], ['X_Trace_Tag', 'keep-me'], ['Connection', 'close']]));
    expect(up.received[0]!.headers['x_trace_tag']).toBe('keep-me');
  });

  it('never copies the client Host into X-Forwarded-Host', async () => {
    await rawRequest(gw.proxyUrl, head('GET', '/tools/crm/contacts', [['Host', 'user@evil.example'], ['Authorization', `Bearer ${token}`], ['Connection', 'close']]));
    expect(up.received[0]!.headers['x-forwarded-host']).toBeUndefined();
    expect(up.received[0]!.headers['x-forwarded-proto']).toBe('http');
  });

  it('sets X-Forwarded-Host and -Proto from listen.proxy.public_url', async () => {
    const named = await startGateway(testConfig(issuer, crmTools(up), { listen: { proxy: { host: '127.0.0.1', port: 0, public_url: 'https://agents.example.com' }, admin: { host: '127.0.0.1', port: 0 } } }));
    try {
      await rawRequest(named.proxyUrl, head('GET', '/tools/crm/contacts', [['Host', 'user@evil.example'], ['Authorization', `Bearer ${token}`], ['Connection', 'close']]));
      expect(up.received[0]!.headers).toMatchObject({ 'x-forwarded-host': 'agents.example.com', 'x-forwarded-proto': 'https' });
    } finally {
      await named.close();
    }
  });
});

describe('method override in the query', () => {
  it.each(['_method=DELETE', '%5Fmethod=DELETE', '_METHOD=delete', 'a=1&_method=PUT', '%255Fmethod=DELETE'])('refuses ?%s with invalid_request and forwards nothing', async (query) => {
    const res = await send(gw.proxyUrl, { path: `/tools/crm/contacts?${query}`, headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(400);
    expect(res.json()).toMatchObject({ error: 'invalid_request', reasons: ['method_override'] });
    expect(up.received).toHaveLength(0);
    const events = await auditEvents(gw);
    expect(events.filter((e) => e.type === 'tool_call').at(-1)).toMatchObject({ outcome: { result: 'refused', reason: 'method_override' } });
  });

  it('lets a parameter that merely contains the word through', async () => {
    expect((await send(gw.proxyUrl, { path: '/tools/crm/contacts?payment_method=card', headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
  });
});
