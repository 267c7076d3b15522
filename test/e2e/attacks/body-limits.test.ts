/**
 * A refused call forwards nothing: body limits hold before the policy runs and before a byte goes
 * upstream, chunked or not; MCP GET and DELETE carry no body; JSON nested past the limit is a 400.
 * Bodies are sent as raw bytes so the framing is exactly the attacker's.
 */
import type { Socket } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestIssuer, type TestIssuer } from '../../helpers/issuer.js';
import { startByteUpstream, type ByteUpstream } from '../../helpers/byte-upstream.js';
import { auditEvents, scopeOnlyDecider, startGateway, testConfig, type RunningGateway } from '../../helpers/gateway.js';
import { head, rawJson, rawRequest } from '../../helpers/raw-socket.js';
import type { Decider } from '../../../src/pipeline/decide.js';

let issuer: TestIssuer;
let up: ByteUpstream;
let gw: RunningGateway;
let token: string;
let decisions = 0;
const counting: Decider = { decide: (ctx) => (decisions++, scopeOnlyDecider.decide(ctx)) };

beforeAll(async () => {
  issuer = await createTestIssuer();
  up = await startByteUpstream();
  gw = await startGateway(testConfig(issuer, {
    notes: {
      upstream: up.url, classification: 'internal', max_body: '64kb',
      operations: [{ name: 'add', method: 'POST', path: '/notes', action: 'write' }],
      audit: { capture_body: true },
    },
    tracker: { upstream: `${up.url}/mcp`, protocol: 'mcp', classification: 'internal', operations: [{ name: 'create_issue', mcp_tool: 'create_issue', action: 'write' }] },
  }), { decider: counting });
  token = await issuer.token('support-bot', 'notes:write tracker:write');
});
afterAll(async () => {
  await gw.close();
  await up.close();
});
beforeEach(() => {
  up.reset();
  decisions = 0;
});

const auth: [string, string] = ['Authorization', ''];
const headers = (extra: [string, string][]) => [['Host', 'gw.test'], [auth[0], `Bearer ${token}`], ...extra] as [string, string][];

/** Writes a chunked body of `total` bytes in 16 KiB chunks, then the last chunk. */
function chunked(path: string, total: number, method = 'POST') {
  return (socket: Socket) => {
    socket.write(head(method, path, headers([['Content-Type', 'application/json'], ['Transfer-Encoding', 'chunked'], ['Connection', 'close']])));
    let left = total;
    const next = () => {
      if (socket.destroyed) return;
      if (left <= 0) return void socket.write('0\r\n\r\n');
      const n = Math.min(16 * 1024, left);
      left -= n;
      socket.write(`${n.toString(16)}\r\n${'a'.repeat(n)}\r\n`, () => setImmediate(next));
    };
    next();
  };
}

async function lastCall(reason: string) {
  const events = await auditEvents(gw);
  return events.filter((e) => e.type === 'tool_call' && e.outcome?.reason === reason).at(-1);
}

describe('body limits', () => {
  it('refuses a 208 KiB chunked body with 413 before the policy runs, forwarding not one byte', async () => {
    const res = await rawRequest(gw.proxyUrl, chunked('/tools/notes/notes', 208 * 1024));
    expect(res.status).toBe(413);
    expect(rawJson(res.text)).toMatchObject({ error: 'payload_too_large', reasons: ['body_too_large'] });
    expect(res.text.toLowerCase()).toContain('connection: close');
    expect(decisions).toBe(0);
    await new Promise((r) => setTimeout(r, 100));
    expect(up.bytes()).toBe(0);
    expect(await lastCall('body_too_large')).toMatchObject({ outcome: { result: 'refused', status: 413 }, decision: null });
  });

  it('refuses a declared Content-Length over the limit before reading it', async () => {
    const res = await rawRequest(gw.proxyUrl, head('POST', '/tools/notes/notes', headers([['Content-Type', 'application/json'], ['Content-Length', String(65 * 1024)]])) + '{"a":');
    expect(res.status).toBe(413);
    expect(decisions).toBe(0);
    expect(up.bytes()).toBe(0);
  });

  it('forwards a chunked body within the limit whole, once the policy allowed it', async () => {
    const res = await rawRequest(gw.proxyUrl, chunked('/tools/notes/notes', 40 * 1024));
    expect(res.status).toBe(200);
    expect(decisions).toBe(1);
    expect(up.bytes()).toBeGreaterThan(40 * 1024);
  });
});

describe('MCP GET and DELETE carry no body', () => {
  it.each([
    ['GET', [['Content-Length', '2']], '{}'],
    ['DELETE', [['Content-Length', '2']], '{}'],
    ['GET', [['Transfer-Encoding', 'chunked']], '2\r\n{}\r\n0\r\n\r\n'],
    ['DELETE', [['Transfer-Encoding', 'chunked']], '2\r\n{}\r\n0\r\n\r\n'],
  ] as const)('refuses an MCP %s with a body (%j)', async (method, extra, body) => {
    const res = await rawRequest(gw.proxyUrl, head(method, '/tools/tracker', headers([['Accept', 'text/event-stream'], ['Mcp-Session-Id', 's-1'], ...extra.map(([k, v]) => [k, v] as [string, string])])) + body);
    expect(res.status).toBe(400);
    expect(rawJson(res.text)).toMatchObject({ error: { data: { reasons: ['body_not_allowed'] } } });
    expect(up.bytes()).toBe(0);
    expect(await lastCall('body_not_allowed')).toMatchObject({ outcome: { result: 'refused', status: 400 } });
  });
});

describe('deeply nested JSON', () => {
  const deep = (n: number) => `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"create_issue","arguments":{"x":${'['.repeat(n)}${']'.repeat(n)}}}}`;

  it('refuses an MCP message nested 100,000 deep with 400, not 500', async () => {
    const body = deep(100_000);
    const res = await rawRequest(gw.proxyUrl, head('POST', '/tools/tracker', headers([['Content-Type', 'application/json'], ['Accept', 'application/json, text/event-stream'], ['Content-Length', String(body.length)]])) + body);
    expect(res.status).toBe(400);
    expect(JSON.stringify(rawJson(res.text))).toContain('json_too_deep');
    expect(up.bytes()).toBe(0);
  });

  it('refuses a captured JSON body nested past the limit with 400', async () => {
    const body = `{"a":${'['.repeat(65)}${']'.repeat(65)}}`;
    const res = await rawRequest(gw.proxyUrl, head('POST', '/tools/notes/notes', headers([['Content-Type', 'application/json'], ['Content-Length', String(body.length)]])) + body);
    expect(res.status).toBe(400);
    expect(rawJson(res.text)).toMatchObject({ error: 'invalid_request', reasons: ['json_too_deep'] });
    expect(up.bytes()).toBe(0);
  });

  it('lets 64 levels through, and brackets inside strings do not count', async () => {
    const body = `{"s":"${'['.repeat(200)}","a":${'['.repeat(63)}${']'.repeat(63)}}`;
    const res = await rawRequest(gw.proxyUrl, head('POST', '/tools/notes/notes', headers([['Content-Type', 'application/json'], ['Content-Length', String(body.length)], ['Connection', 'close']])) + body);
    expect(res.status).toBe(200);
  });
});
