/**
 * Slow clients cannot hold the gateway, and refusals made before the pipeline runs speak the
 * product's language (JSON, request id, audit event, metric, Connection: close). Sent as raw bytes:
 * a client library would never trickle a body or send a 20 KB header.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Pool } from 'undici';
import { createTestIssuer, type TestIssuer } from '../../helpers/issuer.js';
import { startByteUpstream, type ByteUpstream } from '../../helpers/byte-upstream.js';
import { auditEvents, startGateway, testConfig, type RunningGateway } from '../../helpers/gateway.js';
import { head, rawJson, rawRequest } from '../../helpers/raw-socket.js';

let issuer: TestIssuer;
let up: ByteUpstream;
let gw: RunningGateway;
let token: string;

beforeAll(async () => {
  issuer = await createTestIssuer();
  up = await startByteUpstream();
  gw = await startGateway(testConfig(issuer, {
    notes: { upstream: up.url, classification: 'internal', operations: [{ name: 'add', method: 'POST', path: '/notes', action: 'write' }, { name: 'list', method: 'GET', path: '/notes', action: 'read' }] },
  }, { listen: { proxy: { host: '127.0.0.1', port: 0, timeouts: { headers: '600ms', body: '800ms', idle: '400ms' } }, admin: { host: '127.0.0.1', port: 0 } } }));
  token = await issuer.token('support-bot', 'notes:write notes:read');
});
afterAll(async () => {
  await gw.close();
  await up.close();
});
beforeEach(() => up.reset());

const metric = async (reason: string) => {
  const text = await gw.gateway.metrics.registry.getSingleMetricAsString('portcullis_calls_total');
  return Number(new RegExp(`reason="${reason}"} (\\d+)`).exec(text)?.[1] ?? 0);
};

describe('slow clients', () => {
  it('cuts a body trickled at 1 byte per 100 ms with 408 at the body timeout, audited, nothing forwarded', async () => {
    const res = await rawRequest(gw.proxyUrl, (socket) => {
      socket.write(head('POST', '/tools/notes/notes', [['Host', 'gw.test'], ['Authorization', `Bearer ${token}`], ['Content-Type', 'application/json'], ['Content-Length', '100']]));
      const timer = setInterval(() => (socket.destroyed ? clearInterval(timer) : socket.write('a')), 100);
    }, 3000);
    expect(res.status).toBe(408);
    expect(res.closed).toBe(true);
    expect(res.ms).toBeGreaterThanOrEqual(750);
    expect(res.ms).toBeLessThan(2500);
    expect(res.text.toLowerCase()).toContain('connection: close');
    expect(rawJson(res.text)).toMatchObject({ error: 'request_timeout', reasons: ['body_timeout'], request_id: expect.any(String) });
    expect(up.bytes()).toBe(0);
    const events = await auditEvents(gw);
    expect(events.filter((e) => e.type === 'tool_call').at(-1)).toMatchObject({ outcome: { result: 'refused', status: 408, reason: 'body_timeout' } });
    expect(await metric('body_timeout')).toBe(1);
  });

  it('closes a connection whose headers never finish (no token yet) at the header timeout, with a 408', async () => {
    const before = await metric('headers_timeout');
    const res = await rawRequest(gw.proxyUrl, (socket) => {
      socket.write('GET /tools/notes/notes HTTP/1.1\r\nHost: gw.test\r\n');
      const timer = setInterval(() => (socket.destroyed ? clearInterval(timer) : socket.write('X-Slow: a\r\n')), 100);
    }, 5000);
    expect(res.closed).toBe(true);
    expect(res.status).toBe(408);
    // The header timeout is checked every second at most (connectionsCheckingInterval).
    expect(res.ms).toBeLessThan(2500);
    expect(rawJson(res.text)).toMatchObject({ error: 'request_timeout', reasons: ['headers_timeout'] });
    expect(res.text.toLowerCase()).toContain('connection: close');
    expect(await metric('headers_timeout')).toBe(before + 1);
    const events = await auditEvents(gw);
    expect(events.filter((e) => e.type === 'client_error').at(-1)).toMatchObject({ outcome: { result: 'refused', status: 408, reason: 'headers_timeout' }, client: { ip: '127.0.0.1' } });
  });

  it('closes a connection that sends nothing, without an answer or an audit event', async () => {
    const before = (await auditEvents(gw)).filter((e) => e.type === 'client_error').length;
    const res = await rawRequest(gw.proxyUrl, () => undefined, 5000);
    expect(res.closed).toBe(true);
    expect(res.text).toBe('');
    expect(res.ms).toBeLessThan(2500);
    expect((await auditEvents(gw)).filter((e) => e.type === 'client_error')).toHaveLength(before);
  });

  it('closes an idle kept-alive connection after the idle timeout', async () => {
    const res = await rawRequest(gw.proxyUrl, head('GET', '/tools/notes/notes', [['Host', 'gw.test'], ['Authorization', `Bearer ${token}`]]), 3000);
    expect(res.status).toBe(200);
    expect(res.closed).toBe(true);
    expect(res.ms).toBeLessThan(2500);
  });
});

describe('refusals before the pipeline runs', () => {
  it.each([
    ['431 for 20 KB of headers', head('GET', '/tools/notes/notes', [['Host', 'gw.test'], ['X-Big', 'a'.repeat(20_000)]]), 431, 'request_header_fields_too_large', 'headers_too_large'],
    ['400 for a header line without a colon', 'GET /tools/notes/notes HTTP/1.1\r\nHost: gw.test\r\nBad Header\r\n\r\n', 400, 'invalid_request', 'request_malformed'],
    ['400 for both Content-Length and chunked', 'POST /tools/notes/notes HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400, 'invalid_request', 'request_malformed'],
    ['400 for a target the router cannot decode', head('GET', '/tools/notes/%zz', [['Host', 'gw.test']]), 400, 'invalid_request', 'request_malformed'],
  ])('answers %s as JSON with a request id, audited, counted, Connection: close', async (_name, bytes, status, error, reason) => {
    const before = await metric(reason);
    const res = await rawRequest(gw.proxyUrl, bytes);
    expect(res.status).toBe(status);
    expect(res.closed).toBe(true);
    expect(res.text.toLowerCase()).toContain('connection: close');
    const body = rawJson(res.text);
    expect(body).toMatchObject({ error, reasons: [reason], request_id: expect.any(String) });
    expect(res.text.toLowerCase()).toContain(`portcullis-request-id: ${body.request_id}`);
    expect(await metric(reason)).toBe(before + 1);
    const events = await auditEvents(gw);
    expect(events.find((e) => e.request_id === body.request_id)).toMatchObject({ outcome: { result: 'refused', status, reason } });
    expect(up.bytes()).toBe(0);
  });

  it("does not cost a pooled client its next call after a 431", async () => {
    const pool = new Pool(gw.proxyUrl, { connections: 1, pipelining: 1 });
    try {
      const big = await pool.request({ method: 'GET', path: '/tools/notes/notes', headers: { 'x-big': 'a'.repeat(20_000), authorization: `Bearer ${token}` } });
      expect(big.statusCode).toBe(431);
      expect(big.headers.connection).toBe('close');
      await big.body.dump();
      const next = await pool.request({ method: 'GET', path: '/tools/notes/notes', headers: { authorization: `Bearer ${token}` } });
      expect(next.statusCode).toBe(200);
      await next.body.dump();
    } finally {
      await pool.close();
    }
  });
});
