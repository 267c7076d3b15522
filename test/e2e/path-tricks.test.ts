import { beforeAll, describe, expect, it } from 'vitest';
import { send } from '../helpers/http.js';
import { crmGatewaySuite } from './fixtures.js';

const s = crmGatewaySuite();
let token: string;

beforeAll(async () => {
  token = await s.issuer.token('support-bot', 'crm:read crm:export');
});

describe('path tricks: refused with 400 before anything is forwarded', () => {
  it.each([
    ['/tools/crm/contacts/../export', 'path_traversal'],
    ['/tools/crm/contacts/%2e%2e/export', 'path_traversal'],
    ['/tools/crm/contacts/%2E%2e/export', 'path_traversal'],
    ['/tools/crm/contacts/%252e%252e/export', 'path_double_encoding'],
    ['/tools/crm/contacts%2F..%2Fexport', 'path_encoded_separator'],
    ['/tools/crm/contacts/42%2Fnotes', 'path_encoded_separator'],
    ['/tools/crm/contacts%5C..%5Cexport', 'path_encoded_separator'],
    ['/tools/crm//contacts', 'path_empty_segment'],
    ['/tools/crm/contacts/42;x=y', 'path_parameters'],
    ['/tools/crm/contacts;jsessionid=1/42', 'path_parameters'],
    ['/tools/crm/contacts/42%00', 'path_nul'],
    ['/tools/crm/contacts/42%0d%0aX-Evil:%201', 'path_malformed'],
  ])('%s → %s', async (path, reason) => {
    const res = await send(s.gw.proxyUrl, { path, headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(400);
    expect(res.json()).toMatchObject({ error: 'invalid_request', reasons: [reason] });
    expect(s.up.received).toHaveLength(0);
  });

  it('a path outside /tools/ is an unknown route, never forwarded', async () => {
    const res = await send(s.gw.proxyUrl, { path: '/api/contacts', headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(404);
    expect(s.up.received).toHaveLength(0);
  });

  it('what is authorised is what is forwarded: an encoded character reaches the upstream canonically', async () => {
    const res = await send(s.gw.proxyUrl, { path: '/tools/crm/contacts/%41%42%3F%23', headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    expect(s.up.received[0]!.url).toBe('/api/contacts/AB%3F%23');
  });

  it('the query string is forwarded as sent', async () => {
    await send(s.gw.proxyUrl, { path: '/tools/crm/contacts?limit=5&q=a%2Fb', headers: { authorization: `Bearer ${token}` } });
    expect(s.up.received[0]!.url).toBe('/api/contacts?limit=5&q=a%2Fb');
  });

  it('an unmatched method on a known path is an unknown route (deny by default)', async () => {
    const res = await send(s.gw.proxyUrl, { method: 'DELETE', path: '/tools/crm/contacts/42', headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(404);
    expect(res.json()).toMatchObject({ error: 'unknown_route', reasons: ['operation_unknown'] });
    expect(s.up.received).toHaveLength(0);
  });
});
