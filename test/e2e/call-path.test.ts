import { describe, expect, it } from 'vitest';
import { echoJson } from '../helpers/upstream.js';
import { send } from '../helpers/http.js';
import { CRM_SECRET, crmGatewaySuite } from './fixtures.js';

const s = crmGatewaySuite();

describe('an allowed call, end to end', () => {
  it('reaches the upstream with the tool credential and never the agent token', async () => {
    const token = await s.issuer.token('support-bot', 'crm:read', { task_id: 'task-42' });
    const res = await send(s.gw.proxyUrl, {
      path: '/tools/crm/contacts/c-1?fields=name',
      headers: { authorization: `Bearer ${token}`, traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
    });
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({ ok: true, method: 'GET', url: '/api/contacts/c-1?fields=name' });
    expect(res.headers['portcullis-request-id']).toMatch(/^[0-9a-f-]{36}$/);

    expect(s.up.received).toHaveLength(1);
    const got = s.up.received[0]!;
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
    const token = await s.issuer.sign({ sub: 'alice@example.com', act: { sub: 'support-bot' }, scope: 'crm:read', roles: ['support'] });
    const res = await send(s.gw.proxyUrl, { path: '/tools/crm/contacts', headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    expect(s.up.received[0]!.headers['portcullis-agent']).toBe('support-bot');
    expect(s.up.received[0]!.headers['portcullis-user']).toBe('alice@example.com');
  });

  it('streams a request body to the upstream and the response body back', async () => {
    s.up.handler = (req, res) => {
      res.setHeader('content-type', 'application/json');
      res.statusCode = 201;
      res.end(JSON.stringify({ echoed: req.body.toString('utf8') }));
    };
    try {
      const token = await s.issuer.token('support-bot', 'crm:write');
      const res = await send(s.gw.proxyUrl, {
        method: 'POST',
        path: '/tools/crm/contacts/c-1/notes',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ text: 'called back' }),
      });
      expect(res.status).toBe(201);
      expect(res.json()).toEqual({ echoed: '{"text":"called back"}' });
    } finally {
      s.up.handler = echoJson;
    }
  });

  it('matches `*` templates and forwards the canonical path', async () => {
    const token = await s.issuer.token('support-bot', 'crm:*');
    const res = await send(s.gw.proxyUrl, { path: '/tools/crm/files/reports/q3%20plan.pdf', headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    expect(s.up.received[0]!.url).toBe('/api/files/reports/q3%20plan.pdf');
  });

  it('returns upstream redirects to the agent instead of following them', async () => {
    s.up.handler = (_req, res) => {
      res.statusCode = 302;
      res.setHeader('location', 'http://169.254.169.254/latest/meta-data/');
      res.end();
    };
    try {
      const token = await s.issuer.token('support-bot', 'crm:read');
      const res = await send(s.gw.proxyUrl, { path: '/tools/crm/contacts', headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(302);
      expect(s.up.received).toHaveLength(1);
    } finally {
      s.up.handler = echoJson;
    }
  });

  it('logs one line per call with the reason code and no headers', async () => {
    const token = await s.issuer.token('support-bot', 'crm:read');
    const res = await send(s.gw.proxyUrl, { path: '/tools/crm/contacts', headers: { authorization: `Bearer ${token}` } });
    const line = s.gw.logs.find((l) => l.request_id === res.headers['portcullis-request-id']);
    expect(line).toMatchObject({ msg: 'call', tool: 'crm', operation: 'list-contacts', agent: 'support-bot', status: 200, outcome: 'ok', reason: 'allowed' });
    expect(s.gw.logs.filter((l) => l.request_id === res.headers['portcullis-request-id'])).toHaveLength(1);
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
    const token = await s.issuer.token('support-bot', 'crm:read');
    const res = await send(s.gw.proxyUrl, { path: '/tools/crm/contacts', headers: { authorization: `Bearer ${token}`, [name]: value } });
    expect(res.status).toBe(200);
    const got = s.up.received[0]!;
    expect(JSON.stringify(got.rawHeaders)).not.toContain(value);
    expect(got.headers['portcullis-agent']).toBe('support-bot');
    expect(got.headers['x-forwarded-for']).toBe('127.0.0.1');
  });

  it('does not let `Connection: authorization` remove the injected credential or identity headers', async () => {
    const token = await s.issuer.token('support-bot', 'crm:read');
    const res = await send(s.gw.proxyUrl, {
      path: '/tools/crm/contacts',
      headers: { authorization: `Bearer ${token}`, connection: 'keep-alive, authorization, portcullis-agent, x-forwarded-for, portcullis-request-id' },
    });
    expect(res.status).toBe(200);
    const got = s.up.received[0]!;
    expect(got.headers.authorization).toBe(CRM_SECRET);
    expect(got.headers['portcullis-agent']).toBe('support-bot');
    expect(got.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(got.headers['portcullis-request-id']).toBe(res.headers['portcullis-request-id']);
  });

  it('drops headers the client lists in Connection (hop-by-hop)', async () => {
    const token = await s.issuer.token('support-bot', 'crm:read');
    await send(s.gw.proxyUrl, { path: '/tools/crm/contacts', headers: { authorization: `Bearer ${token}`, connection: 'x-hop', 'x-hop': 'secret-hop' } });
    expect(s.up.received[0]!.headers['x-hop']).toBeUndefined();
  });

  it('keeps ordinary end-to-end headers', async () => {
    const token = await s.issuer.token('support-bot', 'crm:read');
    await send(s.gw.proxyUrl, { path: '/tools/crm/contacts', headers: { authorization: `Bearer ${token}`, accept: 'application/json', 'x-custom': 'kept' } });
    expect(s.up.received[0]!.headers.accept).toBe('application/json');
    expect(s.up.received[0]!.headers['x-custom']).toBe('kept');
  });
});
