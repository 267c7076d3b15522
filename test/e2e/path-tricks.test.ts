import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestIssuer, type TestIssuer } from '../helpers/issuer.js';
import { startUpstream, type RecordingUpstream } from '../helpers/upstream.js';
import { capturedLogText, startGateway, testConfig, type RunningGateway } from '../helpers/gateway.js';
import { expectNoSecrets } from '../helpers/secrets.js';
import { send } from '../helpers/http.js';
import { CRM_SECRET, crmTools } from './fixtures.js';

let issuer: TestIssuer;
let up: RecordingUpstream;
let gw: RunningGateway;
let token: string;

beforeAll(async () => {
  issuer = await createTestIssuer();
  up = await startUpstream();
  gw = await startGateway(testConfig(issuer, crmTools(up)));
  token = await issuer.token('support-bot', 'crm:read crm:export');
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
    const res = await send(gw.proxyUrl, { path, headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(400);
    expect(res.json()).toMatchObject({ error: 'invalid_request', reasons: [reason] });
    expect(up.received).toHaveLength(0);
  });

  it('a path outside /tools/ is an unknown route, never forwarded', async () => {
    const res = await send(gw.proxyUrl, { path: '/api/contacts', headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(404);
    expect(up.received).toHaveLength(0);
  });

  it('what is authorised is what is forwarded: an encoded character reaches the upstream canonically', async () => {
    const res = await send(gw.proxyUrl, { path: '/tools/crm/contacts/%41%42%3F%23', headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    expect(up.received[0]!.url).toBe('/api/contacts/AB%3F%23');
  });

  it('the query string is forwarded as sent', async () => {
    await send(gw.proxyUrl, { path: '/tools/crm/contacts?limit=5&q=a%2Fb', headers: { authorization: `Bearer ${token}` } });
    expect(up.received[0]!.url).toBe('/api/contacts?limit=5&q=a%2Fb');
  });

  it('an unmatched method on a known path is an unknown route (deny by default)', async () => {
    const res = await send(gw.proxyUrl, { method: 'DELETE', path: '/tools/crm/contacts/42', headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(404);
    expect(res.json()).toMatchObject({ error: 'unknown_route', reasons: ['operation_unknown'] });
    expect(up.received).toHaveLength(0);
  });
});
