import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestIssuer, type TestIssuer } from '../helpers/issuer.js';
import { startGateway, testConfig, type RunningGateway } from '../helpers/gateway.js';
import { send } from '../helpers/http.js';

// A real HTTPS upstream with a certificate no public CA signed (generated with openssl per run).
let issuer: TestIssuer;
let server: Server;
let url: string;
let caFile: string;
let gw: RunningGateway;

beforeAll(async () => {
  issuer = await createTestIssuer();
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-tls-'));
  caFile = join(dir, 'cert.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    '-keyout', join(dir, 'key.pem'), '-out', caFile,
  ], { stdio: 'ignore' });
  server = createServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(caFile) }, (_req, res) => res.end('{"secure":true}'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const op = [{ name: 'ping', method: 'GET', path: '/ping', action: 'read' }];
  gw = await startGateway(
    testConfig(issuer, {
      untrusted: { upstream: url, classification: 'internal', operations: op },
      pinned: { upstream: url, classification: 'internal', tls: { ca_file: caFile }, operations: op },
    }),
  );
});
afterAll(async () => {
  await gw.close();
  server.close();
});

describe('upstream TLS is verified', () => {
  it('refuses an upstream whose certificate does not verify (502 upstream_tls)', async () => {
    const token = await issuer.token('support-bot', 'untrusted:read');
    const res = await send(gw.proxyUrl, { path: '/tools/untrusted/ping', headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(502);
    expect(res.json()).toMatchObject({ error: 'upstream_error', reasons: ['upstream_tls'] });
  });

  it('trusts the same upstream when its CA is configured with tls.ca_file', async () => {
    const token = await issuer.token('support-bot', 'pinned:read');
    const res = await send(gw.proxyUrl, { path: '/tools/pinned/ping', headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({ secure: true });
  });
});
