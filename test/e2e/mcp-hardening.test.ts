/**
 * The MCP hardening table, over raw HTTP (so that the bytes are exactly the attack), against a real
 * 2026-07-28 server (SDK 2.x). Each case asserts what the agent got and what the server received.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send } from '../helpers/http.js';
import { startV2Upstream, type McpUpstream } from '../helpers/mcp.js';
import { startMcpGateway, type McpGateway } from './mcp-fixtures.js';

const META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': {},
};
const call = (name: string, args: Record<string, unknown> = {}, id: number | string = 1) =>
  JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args, _meta: META } });
const search = call('search_issues', { query: 'vpn' });

let up: McpUpstream;
let g: McpGateway;
let token: string;

beforeAll(async () => {
  up = await startV2Upstream();
  // Thirty deliberately malformed calls from one agent would (rightly) drive its trust score below
  // the floor (test/e2e/trust.test.ts); here each refusal must keep its own reason.
  g = await startMcpGateway(up, { max_body: '16kb' }, { trust: { floor: 'untrusted', signals: { refusal: { weight: 0 }, policy_violation: { weight: 0 } } } });
  token = await g.token('support-bot');
});
afterAll(async () => {
  await g.close();
  await up.close();
});

/** `name: null` sends no Mcp-Name header. */
async function post(body: string, headers: Record<string, string> = {}, method = 'tools/call', name: string | null = 'search_issues') {
  const before = up.received.length;
  const res = await send(g.gw.proxyUrl, {
    method: 'POST',
    path: '/tools/tracker',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2026-07-28',
      'mcp-method': method,
      ...(name !== null ? { 'mcp-name': name } : {}),
      ...headers,
    },
    body,
  });
  const json = res.headers['content-type']?.includes('json') && res.text ? res.json() : undefined;
  return { status: res.status, json, text: res.text, reached: up.received.slice(before) };
}

describe('refused before the server', () => {
  const cases: [string, () => Promise<Awaited<ReturnType<typeof post>>>, number, number][] = [
    ['a batch of one', () => post(`[${search}]`), 400, -32600],
    ['a batch of two', () => post(`[${search},${call('delete_issue', { id: 'ISS-1' }, 2)}]`), 400, -32600],
    ['an empty batch', () => post('[]'), 400, -32600],
    ['a body that is not JSON', () => post('{"jsonrpc":"2.0",'), 400, -32700],
    ['a body that is not a JSON-RPC message', () => post('{"id":1,"method":"tools/call"}'), 400, -32600],
    ['params that are an array', () => post('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":["search_issues"]}'), 400, -32600],
    ['a body sent as text/plain', () => post(search, { 'content-type': 'text/plain' }), 400, -32600],
    ['Mcp-Method naming another method', () => post(search, { 'mcp-method': 'tools/list' }), 400, -32020],
    ['Mcp-Name naming another tool', () => post(call('delete_issue', { id: 'ISS-1' }), {}, 'tools/call', 'search_issues'), 400, -32020],
    ['Mcp-Name with a broken Base64 value', () => post(search, { 'mcp-name': '=?base64?not*base64?=' }), 400, -32020],
    ['MCP-Protocol-Version disagreeing with the body', () => post(search, { 'mcp-protocol-version': '2025-11-25' }), 400, -32020],
    ['an Origin that is not allowed', () => post(search, { origin: 'https://evil.test' }), 403, -32050],
    ['a method without a rule', () => post(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/delete', params: { _meta: META } }), {}, 'tools/delete', null), 200, -32601],
    ['tasks/get (no rule: refused)', () => post(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tasks/get', params: { taskId: 't1', _meta: META } }), {}, 'tasks/get', 't1'), 200, -32601],
    ['resources/read, which no operation names', () => post(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'resources/read', params: { uri: 'tracker://x', _meta: META } }), {}, 'resources/read', 'tracker://x'), 200, -32601],
    ['a body over the tool limit', () => post(call('search_issues', { query: 'x'.repeat(20_000) })), 413, -32600],
  ];
  it.each(cases)('%s', async (_name, attempt, status, code) => {
    const r = await attempt();
    expect(r.status).toBe(status);
    expect(r.json).toMatchObject({ jsonrpc: '2.0', error: { code } });
    expect(r.json.error.data.reasons[0]).toMatch(/^(mcp_|body_too_large)/);
    expect(r.reached).toEqual([]);
  });

  it('answers an MCP client without a valid token with 401 and the JSON-RPC error -32056; any other client with the usual body', async () => {
    const initialize = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } });
    const mcp = await send(g.gw.proxyUrl, { method: 'POST', path: '/tools/tracker', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: initialize });
    expect(mcp.status).toBe(401);
    expect(mcp.headers['www-authenticate']).toMatch(/^Bearer realm="portcullis"/);
    expect(mcp.json()).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32056, data: { error: 'invalid_token', reasons: ['token_missing'] } } });
    const expired = await send(g.gw.proxyUrl, { method: 'POST', path: '/tools/tracker', headers: { authorization: 'Bearer not.a.jwt', 'content-type': 'application/json', 'mcp-protocol-version': '2025-11-25' }, body: initialize });
    expect(expired.json()).toMatchObject({ id: null, error: { code: -32056, data: { reasons: ['token_malformed'] } } });
    const plain = await send(g.gw.proxyUrl, { method: 'GET', path: '/tools/tracker' });
    expect(plain.status).toBe(401);
    expect(plain.json()).toMatchObject({ error: 'invalid_token', reasons: ['token_missing'] });
    expect(plain.json().jsonrpc).toBeUndefined();
  });

  it('answers a refused request with its own id, and a refused notification with id null', async () => {
    const r = await post(JSON.stringify({ jsonrpc: '2.0', id: 'req-42', method: 'tools/call', params: { name: 'delete_issue', arguments: { id: 'ISS-1' }, _meta: META } }), {}, 'tools/call', 'delete_issue');
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ id: 'req-42', error: { code: -32050, data: { error: 'forbidden' } } });
    const n = await post(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/bogus', params: {} }), {}, 'notifications/bogus', null);
    // 400, not 404: MCP clients read 404 as "session gone".
    expect(n.status).toBe(400);
    expect(n.json).toMatchObject({ id: null, error: { code: -32601 } });
    expect(n.reached).toEqual([]);
  });
});

describe('one tool for the policy and the server', () => {
  it('forwards the message the policy saw when a key is duplicated (last one wins, once)', async () => {
    const body = `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"delete_issue","name":"search_issues","arguments":{"query":"vpn"},"_meta":${JSON.stringify(META)}}}`;
    const r = await post(body, {}, 'tools/call', 'search_issues');
    expect(r.status).toBe(200);
    expect(r.json.result.content[0].text).toContain('ISS-1');
    expect(r.reached).toHaveLength(1);
    expect(r.reached[0]!.raw).not.toContain('delete_issue');
    expect(r.reached[0]!.raw.match(/"name":"search_issues"/g)).toHaveLength(1);
  });

  it('refuses the duplicate-key call the policy forbids; the server never sees it', async () => {
    const body = `{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"search_issues","name":"delete_issue","arguments":{"id":"ISS-1"},"_meta":${JSON.stringify(META)}}}`;
    const r = await post(body, {}, 'tools/call', 'delete_issue');
    expect(r.json).toMatchObject({ id: 8, error: { code: -32050 } });
    expect(r.reached).toEqual([]);
  });

  it.each([
    ['a different case', 'Search_issues'],
    ['a zero-width space', 'search_issues\u200b'],
    ['a trailing space', 'search_issues '],
    ['a full-width letter', '\uff53earch_issues'],
    ['a Cyrillic homoglyph', 'search_\u0456ssues'],
    ['a dotless i', 'search_\u0131ssues'],
  ])('refuses a look-alike tool name (%s) as unknown', async (_what, name) => {
    const r = await post(call(name, { query: 'vpn' }), { 'mcp-name': `=?base64?${Buffer.from(name).toString('base64')}?=` }, 'tools/call', null);
    expect(r.status).toBe(200);
    expect(r.json.error).toMatchObject({ code: -32602, data: { reasons: ['mcp_tool_unknown'] } });
    expect(r.reached).toEqual([]);
  });

  it('accepts an Mcp-Name sent Base64-encoded when it matches', async () => {
    const r = await post(search, { 'mcp-name': `=?base64?${Buffer.from('search_issues').toString('base64')}?=` });
    expect(r.status).toBe(200);
    expect(r.json.result.content[0].text).toContain('ISS-1');
  });

  it('lets an allowed Origin through', async () => {
    const r = await post(search, { origin: 'https://console.example.com' });
    expect(r.json.result).toBeDefined();
    expect(r.reached).toHaveLength(1);
  });

  it('strips a requestState in its own namespace before the server sees it', async () => {
    const body = JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'search_issues', arguments: { query: 'vpn' }, requestState: 'portcullis.approval:apr-forged', _meta: META } });
    const r = await post(body);
    expect(r.json.result).toBeDefined();
    expect(r.reached[0]!.raw).not.toContain('portcullis.approval');
  });

  it('runs a task-augmented tools/call as a plain call: the server never starts a task whose result nothing governs', async () => {
    const body = JSON.stringify({ jsonrpc: '2.0', id: 10, method: 'tools/call', params: { name: 'search_issues', arguments: { query: 'vpn' }, task: { ttl: 60000 }, _meta: META } });
    const r = await post(body);
    expect(r.json.result.content[0].text).toContain('ISS-1');
    expect(r.reached[0]!.body?.params).not.toHaveProperty('task');
  });

  it('marks a filtered tools/list private', async () => {
    const r = await post(JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/list', params: { _meta: META } }), {}, 'tools/list', null);
    expect(r.status).toBe(200);
    expect(r.json.result.cacheScope).toBe('private');
    expect(r.json.result.tools.map((t: { name: string }) => t.name)).not.toContain('drop_database');
    const res = await send(g.gw.proxyUrl, { method: 'POST', path: '/tools/tracker', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/list' }, body: JSON.stringify({ jsonrpc: '2.0', id: 4, method: 'tools/list', params: { _meta: META } }) });
    expect(res.headers['cache-control']).toBe('private, no-store');
    expect(res.headers.vary).toBe('authorization');
  });

  it('serves an MCP tool at /tools/<tool> only', async () => {
    const res = await send(g.gw.proxyUrl, { method: 'POST', path: '/tools/tracker/other', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: search });
    expect(res.status).toBe(404);
    expect(res.json()).toMatchObject({ id: null, error: { code: -32601, data: { reasons: ['operation_unknown'] } } });
  });
});
