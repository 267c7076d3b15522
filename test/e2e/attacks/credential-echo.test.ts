/**
 * Secrets never come back: an upstream that echoes the injected credential — in a 401 body, a
 * header, a streamed answer split across chunks — has it replaced before the agent sees a byte.
 */
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestIssuer, type TestIssuer } from '../../helpers/issuer.js';
import { startUpstream, type RecordingUpstream } from '../../helpers/upstream.js';
import { startGateway, testConfig, type RunningGateway } from '../../helpers/gateway.js';
import { send } from '../../helpers/http.js';

const SECRET = 'Bearer sk-live-echo-4b3c2d1e0f';
const BARE = 'sk-live-echo-4b3c2d1e0f';
let issuer: TestIssuer;
let up: RecordingUpstream;
let gw: RunningGateway;
let token: string;

beforeAll(async () => {
  issuer = await createTestIssuer();
  up = await startUpstream(async (req, res) => {
    const auth = String(req.headers.authorization);
    if (req.url.endsWith('/denied')) {
      res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': `Bearer error="invalid_token", token="${auth}"`, 'x-echo': auth });
      return void res.end(JSON.stringify({ error: 'bad credential', got: auth, bare: auth.slice(7) }));
    }
    if (req.url.endsWith('/stream')) {
      // No Content-Length: streamed, the secret split across writes.
      res.writeHead(200, { 'content-type': 'text/plain' });
      const text = `first ${auth} then ${auth} end`;
      for (let i = 0; i < text.length; i += 5) {
        res.write(text.slice(i, i + 5));
        await new Promise((r) => setTimeout(r, 1));
      }
      return void res.end();
    }
    if (req.url.endsWith('/gzip')) {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'gzip' });
      return void res.end(gzipSync(auth));
    }
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ accept_encoding: req.headers['accept-encoding'] ?? null }));
  });
  gw = await startGateway(testConfig(issuer, {
    crm: {
      upstream: up.url, classification: 'internal', credentials: { header: 'authorization', value: SECRET },
      operations: [{ name: 'any', method: 'GET', path: '/*', action: 'read' }],
    },
  }));
  token = await issuer.token('support-bot', 'crm:read');
});
afterAll(async () => {
  await gw.close();
  await up.close();
});

const call = (path: string) => send(gw.proxyUrl, { path, headers: { authorization: `Bearer ${token}`, 'accept-encoding': 'gzip' } });

describe('an upstream echoing the injected credential', () => {
  it('has it replaced in a 401 body and in every header', async () => {
    const res = await call('/tools/crm/denied');
    expect(res.status).toBe(401);
    const all = JSON.stringify(res.headers) + res.text;
    expect(all).not.toContain(BARE);
    expect(res.json()).toEqual({ error: 'bad credential', got: '[redacted]', bare: '[redacted]' });
    expect(res.headers['x-echo']).toBe('[redacted]');
  });

  it('has it replaced in a streamed answer, even split across chunks', async () => {
    const res = await call('/tools/crm/stream');
    expect(res.status).toBe(200);
    expect(res.text).toBe('first [redacted] then [redacted] end');
  });

  it('asks for identity encoding, and refuses an answer compressed anyway (it cannot be searched)', async () => {
    expect((await call('/tools/crm/plain')).json()).toEqual({ accept_encoding: 'identity' });
    const res = await call('/tools/crm/gzip');
    expect(res.status).toBe(502);
    expect(res.json()).toMatchObject({ error: 'upstream_error', reasons: ['upstream_unscannable'] });
  });

  it('counts every echo', async () => {
    const text = await gw.gateway.metrics.registry.getSingleMetricAsString('portcullis_credential_echo_total');
    expect(text).toMatch(/portcullis_credential_echo_total\{tool="crm"\} [2-9]/);
  });
});
