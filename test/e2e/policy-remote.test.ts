import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
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
    const gw = await startGateway(shippedCatalogue(issuer, up, { bundle: url, poll_interval: '200ms' }), { policy: true });
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
