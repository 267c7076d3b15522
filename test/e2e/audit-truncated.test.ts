/**
 * The log says what really happened to a streamed answer: an upstream that resets or stalls after its
 * headers, mid-body, is recorded as "truncated" with the bytes relayed, not "ok" — and the record
 * that the answer started (`tool_call_intent`, "relaying") was written before its status line went.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { createTestIssuer, type TestIssuer } from '../helpers/issuer.js';
import { startUpstream, type RecordingUpstream } from '../helpers/upstream.js';
import { auditEvents, startGateway, testConfig, type RunningGateway } from '../helpers/gateway.js';

let issuer: TestIssuer;
let up: RecordingUpstream;
let gw: RunningGateway;

beforeAll(async () => {
  issuer = await createTestIssuer();
  up = await startUpstream(async (req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('a'.repeat(1000));
    if (req.url.endsWith('/reset')) {
      await new Promise((r) => setTimeout(r, 20));
      res.socket?.destroy();
    } else if (req.url.endsWith('/stall')) {
      await new Promise((r) => setTimeout(r, 3000));
      if (!res.destroyed) res.end();
    } else {
      res.end('b'.repeat(500));
    }
  });
  gw = await startGateway(testConfig(issuer, {
    files: { upstream: up.url, classification: 'internal', timeout: '600ms', operations: [{ name: 'get', method: 'GET', path: '/*', action: 'read' }] },
  }));
});
afterAll(async () => {
  await gw.close();
  await up.close();
});

async function fetchCut(path: string): Promise<{ id: string; got: number }> {
  const res = await request(`${gw.proxyUrl}${path}`, { headers: { authorization: `Bearer ${await issuer.token('support-bot', 'files:read')}` } });
  expect(res.statusCode).toBe(200);
  let got = 0;
  try {
    for await (const chunk of res.body) got += (chunk as Buffer).length;
  } catch {
    // the cut
  }
  return { id: String(res.headers['portcullis-request-id']), got };
}

async function eventsOf(id: string) {
  await new Promise((r) => setTimeout(r, 100));
  return (await auditEvents(gw)).filter((e) => e.request_id === id);
}

describe('a streamed answer', () => {
  it('that arrives whole is "ok", with its bytes', async () => {
    const { id, got } = await fetchCut('/tools/files/whole');
    expect(got).toBe(1500);
    const events = await eventsOf(id);
    expect(events.map((e) => [e.type, e.outcome.result])).toEqual([['tool_call_intent', 'relaying'], ['tool_call', 'ok']]);
    expect(events[1]!.outcome).toMatchObject({ status: 200, bytes_relayed: 1500 });
  });

  it.each([
    ['reset mid-body', '/tools/files/reset', 'upstream_reset'],
    ['stalled mid-body past the tool timeout', '/tools/files/stall', 'upstream_timeout'],
  ])('that the upstream %s is "truncated", with the bytes relayed', async (_name, path, reason) => {
    const { id, got } = await fetchCut(path);
    expect(got).toBe(1000);
    const events = await eventsOf(id);
    expect(events.map((e) => [e.type, e.outcome.result])).toEqual([['tool_call_intent', 'relaying'], ['tool_call', 'truncated']]);
    expect(events[1]!.outcome).toMatchObject({ status: 200, bytes_relayed: 1000, reason });
  });
});
