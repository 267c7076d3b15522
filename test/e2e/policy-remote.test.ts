import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestIssuer, type TestIssuer } from '../helpers/issuer.js';
import { startUpstream, type RecordingUpstream } from '../helpers/upstream.js';
import { startGateway } from '../helpers/gateway.js';
import { send } from '../helpers/http.js';
import { buildPolicyBundle, letSalesWriteTickets, pollUntil, SHIPPED_BUNDLE } from '../helpers/policy.js';
import { shippedCatalogue } from './shipped-catalogue.js';

// A minimal OPA bundle server: serves one bundle with an ETag and answers 304 to a matching If-None-Match.
let served: Buffer;
const requests: { ifNoneMatch: string | undefined; status: number }[] = [];
let server: Server;
let url: string;
let issuer: TestIssuer;
let up: RecordingUpstream;

beforeAll(async () => {
  issuer = await createTestIssuer();
  up = await startUpstream();
  served = readFileSync(SHIPPED_BUNDLE);
  server = createServer((req, res) => {
    const etag = `"${createHash('sha256').update(served).digest('hex').slice(0, 16)}"`;
    const inm = req.headers['if-none-match'];
    const status = inm === etag ? 304 : 200;
    requests.push({ ifNoneMatch: inm, status });
    res.writeHead(status, { etag, 'content-type': 'application/gzip' });
    res.end(status === 200 ? served : undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/bundles/portcullis.tar.gz`;
});
afterAll(async () => {
  await up.close();
  server.close();
});

describe('a remote bundle from an OPA bundle server', () => {
  it('loads at start, polls with ETag, and swaps in a new bundle when the server has one', async () => {
    // Unsigned, so the default (a remote bundle must be signed) is turned off explicitly.
    const gw = await startGateway(shippedCatalogue(issuer, up, { bundle: url, poll_interval: '200ms', require_signature: false }), { policy: true });
    try {
      const token = await issuer.token('sales-bot', 'ticketing:write');
      const create = () => send(gw.proxyUrl, { method: 'POST', path: '/tools/ticketing/tickets', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{"title":"x"}' });
      expect((await create()).status).toBe(403);

      await new Promise((r) => setTimeout(r, 700));
      expect(requests[0]).toEqual({ ifNoneMatch: undefined, status: 200 });
      expect(requests.slice(1).length).toBeGreaterThan(0);
      expect(requests.slice(1).every((r) => r.status === 304 && r.ifNoneMatch !== undefined)).toBe(true);

      served = readFileSync(await buildPolicyBundle({ editData: letSalesWriteTickets }));
      expect((await pollUntil(create, (r) => r.status !== 403)).status).toBe(200);
      expect(gw.logs.some((l) => l.msg === 'policy bundle loaded' && l.trigger === 'poll')).toBe(true);
    } finally {
      await gw.close();
    }
  }, 60_000);
});

describe('remote bundles are signed, authenticated and bounded', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-bundle-keys-'));
  const keyPair = (name: string) => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(join(dir, `${name}.pem`), privateKey.export({ type: 'pkcs8', format: 'pem' }));
    writeFileSync(join(dir, `${name}.pub.pem`), publicKey.export({ type: 'spki', format: 'pem' }));
    return { key: join(dir, `${name}.pem`), pub: join(dir, `${name}.pub.pem`) };
  };
  const ours = keyPair('ours');
  const theirs = keyPair('theirs');
  let signed: Buffer;
  let forged: Buffer;
  let body: () => Buffer | Buffer[] = () => signed;
  let bundleServer: Server;
  let bundleUrl: string;
  const BEARER = 'bundle-server-token-3c2b1a';

  beforeAll(async () => {
    // Signed by the real opa compiler (opa build --signing-key), as a platform team would.
    signed = readFileSync(await buildPolicyBundle({ editData: letSalesWriteTickets, signingKey: ours.key }));
    forged = readFileSync(await buildPolicyBundle({ editData: letSalesWriteTickets, signingKey: theirs.key }));
    bundleServer = createServer((req, res) => {
      if (req.headers.authorization !== `Bearer ${BEARER}`) return void res.writeHead(401).end();
      const b = body();
      res.writeHead(200, { 'content-type': 'application/gzip' });
      if (Array.isArray(b)) {
        for (const chunk of b) res.write(chunk);
        return void res.end();
      }
      res.end(b);
    });
    await new Promise<void>((r) => bundleServer.listen(0, '127.0.0.1', r));
    bundleUrl = `http://127.0.0.1:${(bundleServer.address() as AddressInfo).port}/b.tar.gz`;
  }, 120_000);
  afterAll(() => {
    bundleServer.close();
  });

  const policy = (extra: Record<string, unknown> = {}) => ({ bundle: bundleUrl, watch: false, signing: { public_key: ours.pub }, download: { bearer_token: BEARER }, ...extra });
  async function outcome(p: Record<string, unknown>) {
    const gw = await startGateway(shippedCatalogue(issuer, up, p), { policy: true });
    try {
      const token = await issuer.token('sales-bot', 'ticketing:write');
      const res = await send(gw.proxyUrl, { method: 'POST', path: '/tools/ticketing/tickets', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{"title":"x"}' });
      const ready = (await send(gw.adminUrl, { path: '/readyz' })).status;
      return { status: res.status, reasons: res.json().reasons as string[] | undefined, ready, log: JSON.stringify(gw.logs) };
    } finally {
      await gw.close();
    }
  }

  it('loads a bundle signed with the configured key, fetched with the bearer token', async () => {
    body = () => signed;
    expect(await outcome(policy())).toMatchObject({ status: 200, ready: 200 });
  });

  it.each([
    ['signed by another key', () => forged, /does not verify/],
    ['not signed at all', () => readFileSync(SHIPPED_BUNDLE), /not signed/],
  ])('refuses a bundle %s: not ready, every call policy_unavailable', async (_name, make, why) => {
    body = make;
    const r = await outcome(policy());
    expect(r).toMatchObject({ status: 503, reasons: ['policy_error'], ready: 503 });
    expect(r.log).toMatch(why);
  });

  it('sends no bundle without the bearer token (the server refuses)', async () => {
    body = () => signed;
    const r = await outcome(policy({ download: {} }));
    expect(r).toMatchObject({ status: 503, ready: 503 });
    expect(r.log).toMatch(/answered 401/);
  });

  it('stops reading a chunked bundle past download.max_bytes', async () => {
    body = () => Array.from({ length: 64 }, () => Buffer.alloc(16 * 1024, 1));
    const r = await outcome(policy({ download: { bearer_token: BEARER, max_bytes: '256kb' } }));
    expect(r).toMatchObject({ status: 503, ready: 503 });
    expect(r.log).toMatch(/larger than policy.download.max_bytes/);
  });

  it.each([
    [{ bundle: 'http://bundles.example.com/b.tar.gz', signing: { public_key: 'x.pem' } }, /policy\.bundle.*plain http/],
    [{ bundle: 'https://bundles.example.com/b.tar.gz' }, /policy\.signing.*must be signed/],
  ])('refuses at start the config %j', async (p, message) => {
    expect(() => shippedCatalogue(issuer, up, p)).toThrow(message);
  });
});

describe('a bundle server that requires a client certificate (mTLS)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-bundle-mtls-'));
  const selfSigned = (name: string, cn: string) => {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', `/CN=${cn}`, '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout', join(dir, `${name}-key.pem`), '-out', join(dir, `${name}.pem`),
    ], { stdio: 'ignore' });
    return { cert: join(dir, `${name}.pem`), key: join(dir, `${name}-key.pem`) };
  };
  const server = selfSigned('server', 'localhost');
  const client = selfSigned('client', 'portcullis-replica');
  let tls: HttpsServer;
  let bundleUrl: string;
  const seen: string[] = [];

  beforeAll(async () => {
    tls = createHttpsServer(
      { key: readFileSync(server.key), cert: readFileSync(server.cert), ca: readFileSync(client.cert), requestCert: true, rejectUnauthorized: true },
      (req, res) => {
        seen.push(String((req.socket as TLSSocket).getPeerCertificate().subject?.CN));
        res.writeHead(200, { 'content-type': 'application/gzip' }).end(readFileSync(SHIPPED_BUNDLE));
      },
    );
    await new Promise<void>((r) => tls.listen(0, '127.0.0.1', r));
    bundleUrl = `https://127.0.0.1:${(tls.address() as AddressInfo).port}/b.tar.gz`;
  });
  afterAll(() => {
    tls.close();
  });

  const ready = async (download: Record<string, unknown>) => {
    const gw = await startGateway(shippedCatalogue(issuer, up, { bundle: bundleUrl, watch: false, require_signature: false, download }), { policy: true });
    try {
      return (await send(gw.adminUrl, { path: '/readyz' })).status;
    } finally {
      await gw.close();
    }
  };

  it('fetches the bundle presenting the configured client certificate, verifying the server against ca_file', async () => {
    expect(await ready({ cert_file: client.cert, key_file: client.key, ca_file: server.cert })).toBe(200);
    expect(seen).toEqual(['portcullis-replica']);
  });

  it('gets no bundle without the client certificate, or without trusting the server', async () => {
    expect(await ready({ ca_file: server.cert })).toBe(503);
    expect(await ready({ cert_file: client.cert, key_file: client.key })).toBe(503);
    expect(seen).toHaveLength(1);
  });
});
