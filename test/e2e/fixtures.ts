/** The tool set the whole-gateway tests share: one recording upstream behind a CRM-like tool. */
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { capturedLogText, startGateway, testConfig, type RunningGateway } from '../helpers/gateway.js';
import { createTestIssuer, type TestIssuer } from '../helpers/issuer.js';
import { expectNoSecrets } from '../helpers/secrets.js';
import { startUpstream, type RecordingUpstream } from '../helpers/upstream.js';

export const CRM_SECRET = 'Bearer crm-secret-credential-9f8e7d';

export function crmTools(up: RecordingUpstream, overrides: Record<string, unknown> = {}) {
  return {
    crm: {
      upstream: `${up.url}/api`,
      classification: 'confidential',
      credentials: { header: 'authorization', value: CRM_SECRET },
      timeout: '1s',
      max_body: '1kb',
      operations: [
        { name: 'list-contacts', method: 'GET', path: '/contacts', action: 'read' },
        { name: 'get-contact', method: 'GET', path: '/contacts/:id', action: 'read' },
        { name: 'add-note', method: 'POST', path: '/contacts/:id/notes', action: 'write' },
        { name: 'get-file', method: 'GET', path: '/files/*', action: 'read' },
        { name: 'export', method: 'GET', path: '/export', action: 'export', risk: 'high' },
      ],
      ...overrides,
    },
  };
}

/**
 * The common whole-gateway suite: a test issuer, a recording upstream behind `crm`, a gateway on
 * port 0; the upstream's record is cleared before each test, and after the suite the captured logs
 * must hold no token and no injected credential.
 */
export function crmGatewaySuite() {
  const s = {} as { issuer: TestIssuer; up: RecordingUpstream; gw: RunningGateway };
  beforeAll(async () => {
    s.issuer = await createTestIssuer();
    s.up = await startUpstream();
    s.gw = await startGateway(testConfig(s.issuer, crmTools(s.up)));
  });
  afterAll(async () => {
    await s.gw?.close();
    await s.up?.close();
    expectNoSecrets(capturedLogText, [CRM_SECRET, 'crm-secret-credential']);
  });
  beforeEach(() => {
    s.up.received.length = 0;
  });
  return s;
}
