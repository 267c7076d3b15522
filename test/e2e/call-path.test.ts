import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestIssuer, type TestIssuer } from '../helpers/issuer.js';
import { echoJson, startUpstream, type RecordingUpstream } from '../helpers/upstream.js';
import { capturedLogText, startGateway, testConfig, type RunningGateway } from '../helpers/gateway.js';
import { expectNoSecrets } from '../helpers/secrets.js';
import { send } from '../helpers/http.js';
import { CRM_SECRET, crmTools } from './fixtures.js';

let issuer: TestIssuer;
let up: RecordingUpstream;
let gw: RunningGateway;

beforeAll(async () => {
  issuer = await createTestIssuer();
  up = await startUpstream();
  gw = await startGateway(testConfig(issuer, crmTools(up)));
});
afterAll(async () => {
  await gw.close();
  await up.close();
  // Whatever happened above, the logs never held a token or the injected credential.
  expectNoSecrets(capturedLogText, [CRM_SECRET, 'crm-secret-credential']);
});
beforeEach(() => {
  up.received.length = 0;
});

describe('an allowed call, end to end', () => {
  it('reaches the upstream with the tool credential and never the agent token', async () => {
    const token = await issuer.token('support-bot', 'crm:read', { task_id: 'task-42' });
    const res = await send(gw.proxyUrl, {
      path: '/tools/crm/contacts/c-1?fields=name',
      headers: { authorization: `Bearer ${token}`, traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
    });
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({ ok: true, method: 'GET', url: '/api/contacts/c-1?fields=name' });
    expect(res.headers['portcullis-request-id']).toMatch(/^[0-9a-f-]{36}$/);

    expect(up.received).toHaveLength(1);
    const got = up.received[0]!;
    expect(got.headers.authorization).toBe(CRM_SECRET);
    expect(JSON.stringify(got.rawHeaders)).not.toContain(token);
    expect(got.headers['portcullis-agent']).toBe('support-bot');
    expect(got.headers['portcullis-user']).toBeUndefined();
    expect(got.headers['portcullis-request-id']).toBe(res.headers['portcullis-request-id']);
    expect(got.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(got.headers['x-forwarded-proto']).toBe('http');
    expect(got.headers.traceparent).toBe('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
  });

  it('names the delegating user to the upstream for a delegated token', async () => {
    const token = await issuer.sign({ sub: 'alice@example.com', act: { sub: 'support-bot' }, scope: 'crm:read', roles: ['support'] });
    const res = await send(gw.proxyUrl, { path: '/tools/crm/contacts', headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    expect(up.received[0]!.headers['portcullis-agent']).toBe('support-bot');
    expect(up.received[0]!.headers['portcullis-user']).toBe('alice@example.com');
  });

  it('streams a request body to the upstream and the response body back', async () => {
    up.handler = (req, res) => {
      res.setHeader('content-type', 'application/json');
      res.statusCode = 201;
      res.end(JSON.stringify({ echoed: req.body.toString('utf8') }));
    };
    try {
      const token = await issuer.token('support-bot', 'crm:write');
      const res = await send(gw.proxyUrl, {
        method: 'POST',
        path: '/tools/crm/contacts/c-1/notes',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ text: 'called back' }),
      });
      expect(res.status).toBe(201);
      expect(res.json()).toEqual({ echoed: '{"text":"called back"}' });
    } finally {
      up.handler = echoJson;
    }
  });

  it('matches `*` templates and forwards the canonical path', async () => {
    const token = await issuer.token('support-bot', 'crm:*');
    const res = await send(gw.proxyUrl, { path: '/tools/crm/files/reports/q3%20plan.pdf', headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    expect(up.received[0]!.url).toBe('/api/files/reports/q3%20plan.pdf');
  });

  it('returns upstream redirects to the agent instead of following them', async () => {
    up.handler = (_req, res) => {
      res.statusCode = 302;
      res.setHeader('location', 'http://169.254.169.254/latest/meta-data/');
      res.end();
    };
    try {
      const token = await issuer.token('support-bot', 'crm:read');
      const res = await send(gw.proxyUrl, { path: '/tools/crm/contacts', headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(302);
      expect(up.received).toHaveLength(1);
    } finally {
      up.handler = echoJson;
    }
  });

  it('logs one line per call with the reason code and no headers', async () => {
    const token = await issuer.token('support-bot', 'crm:read');
    const res = await send(gw.proxyUrl, { path: '/tools/crm/contacts', headers: { authorization: `Bearer ${token}` } });
    const line = gw.logs.find((l) => l.request_id === res.headers['portcullis-request-id']);
    expect(line).toMatchObject({ msg: 'call', tool: 'crm', operation: 'list-contacts', agent: 'support-bot', status: 200, outcome: 'ok', reason: 'allowed' });
    expect(gw.logs.filter((l) => l.request_id === res.headers['portcullis-request-id'])).toHaveLength(1);
  });
});

describe('header spoofing', () => {
  const spoofed = {
    'x-forwarded-for': '10.0.0.1',
    'x-forwarded-host': 'evil.example',
    'x-real-ip': '10.0.0.2',
    forwarded: 'for=10.0.0.3',
    'portcullis-agent': 'finance-bot',
    'portcullis-user': 'ceo@example.com',
    'portcullis-request-id': 'forged-id',
    cookie: 'session=agent-cookie',
    'proxy-authorization': 'Basic Zm9vOmJhcg==',
    'x-http-method-override': 'DELETE',
  };

  it.each(Object.entries(spoofed))('neutralises a client-sent %s header', async (name, value) => {
    const token = await issuer.token('support-bot', 'crm:read');
    const res = await send(gw.proxyUrl, { path: '/tools/crm/contacts', headers: { authorization: `Bearer ${token}`, [name]: value } });
    expect(res.status).toBe(200);
    const got = up.received[0]!;
    expect(JSON.stringify(got.rawHeaders)).not.toContain(value);
    expect(got.headers['portcullis-agent']).toBe('support-bot');
    expect(got.headers['x-forwarded-for']).toBe('127.0.0.1');
  });

  it('does not let `Connection: authorization` remove the injected credential or identity headers', async () => {
    const token = await issuer.token('support-bot', 'crm:read');
    const res = await send(gw.proxyUrl, {
      path: '/tools/crm/contacts',
      headers: { authorization: `Bearer ${token}`, connection: 'keep-alive, authorization, portcullis-agent, x-forwarded-for, portcullis-request-id' },
    });
    expect(res.status).toBe(200);
    const got = up.received[0]!;
    expect(got.headers.authorization).toBe(CRM_SECRET);
    expect(got.headers['portcullis-agent']).toBe('support-bot');
    expect(got.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(got.headers['portcullis-request-id']).toBe(res.headers['portcullis-request-id']);
  });

  it('drops headers the client lists in Connection (hop-by-hop)', async () => {
    const token = await issuer.token('support-bot', 'crm:read');
    await send(gw.proxyUrl, { path: '/tools/crm/contacts', headers: { authorization: `Bearer ${token}`, connection: 'x-hop', 'x-hop': 'secret-hop' } });
    expect(up.received[0]!.headers['x-hop']).toBeUndefined();
  });

  it('keeps ordinary end-to-end headers', async () => {
    const token = await issuer.token('support-bot', 'crm:read');
    await send(gw.proxyUrl, { path: '/tools/crm/contacts', headers: { authorization: `Bearer ${token}`, accept: 'application/json', 'x-custom': 'kept' } });
    expect(up.received[0]!.headers.accept).toBe('application/json');
    expect(up.received[0]!.headers['x-custom']).toBe('kept');
  });
});
