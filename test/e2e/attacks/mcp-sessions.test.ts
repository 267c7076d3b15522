/**
 * An MCP session belongs to the principal that opened it. Another agent (or the same agent for
 * another user) presenting its Mcp-Session-Id — to run tools in it, read its notification stream or
 * end it — is refused and audited, and nothing reaches the server. The victim is a real 2025-11-25
 * session (SDK 1.x client and server); the attacker sends raw requests.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { send } from '../../helpers/http.js';
import { startV1Upstream, type McpUpstream } from '../../helpers/mcp.js';
import { auditEvents } from '../../helpers/gateway.js';
import { startMcpGateway, type McpGateway } from '../mcp-fixtures.js';

let up: McpUpstream;
let g: McpGateway;
let victim: Client;
let transport: StreamableHTTPClientTransport;
let session: string;

beforeAll(async () => {
  up = await startV1Upstream();
  g = await startMcpGateway(up, {}, { trust: { floor: 'untrusted' } });
  victim = new Client({ name: 'victim', version: '1.0.0' });
  transport = new StreamableHTTPClientTransport(new URL(g.url), { requestInit: { headers: { authorization: `Bearer ${await g.token('support-bot')}` } } });
  await victim.connect(transport);
  session = transport.sessionId!;
  expect(session).toEqual(expect.any(String));
});
afterAll(async () => {
  await victim.close().catch(() => undefined);
  await g.close();
  await up.close();
});

const headers = (token: string, extra: Record<string, string> = {}) => ({
  authorization: `Bearer ${token}`,
  'mcp-session-id': session,
  'mcp-protocol-version': '2025-11-25',
  accept: 'application/json, text/event-stream',
  ...extra,
});
const toolCall = JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'search_issues', arguments: { query: 'vpn' } } });

describe("another principal presenting a session's id", () => {
  const attackers: [string, () => Promise<string>][] = [
    ['another agent', () => g.token('sales-bot')],
    ['the same agent acting for a user', () => g.agents.sign({ sub: 'mallory', act: { sub: 'support-bot' }, scope: 'tracker:read tracker:write' })],
  ];

  it.each(attackers)('%s cannot run a tool in it, open its stream or end it', async (_who, mint) => {
    const token = await mint();
    const before = up.received.length;
    const post = await send(g.gw.proxyUrl, { method: 'POST', path: '/tools/tracker', headers: headers(token, { 'content-type': 'application/json' }), body: toolCall });
    expect(post.status).toBe(200);
    expect(post.json()).toMatchObject({ id: 7, error: { data: { error: 'forbidden', reasons: ['mcp_session_foreign'] } } });
    const stream = await send(g.gw.proxyUrl, { method: 'GET', path: '/tools/tracker', headers: headers(token), timeoutMs: 2000 });
    expect(stream.status).toBe(403);
    const del = await send(g.gw.proxyUrl, { method: 'DELETE', path: '/tools/tracker', headers: headers(token) });
    expect(del.status).toBe(403);
    // (The victim's own client keeps a listening GET open, so only the attacker's messages are looked for.)
    expect(up.received.slice(before).filter((r) => r.method === 'DELETE' || r.body?.id === 7)).toEqual([]);

    const events = await auditEvents(g.gw);
    const refused = events.filter((e) => e.type === 'tool_call' && e.outcome?.reason === 'mcp_session_foreign');
    expect(refused.slice(-3).map((e) => e.mcp.transport)).toEqual(['message', 'stream', 'session-end']);
    expect(refused.at(-1)).toMatchObject({ mcp: { session }, outcome: { result: 'refused', status: 403 } });
    // The owner's session is untouched.
    expect((await victim.listTools()).tools.length).toBeGreaterThan(0);
  });

  it('an id no session was opened with through the gateway is 404, as MCP says, and forwarded nowhere', async () => {
    const before = up.received.length;
    const res = await send(g.gw.proxyUrl, { method: 'POST', path: '/tools/tracker', headers: headers(await g.token('support-bot'), { 'content-type': 'application/json', 'mcp-session-id': 'made-up-session' }), body: toolCall });
    expect(res.status).toBe(404);
    expect(res.json()).toMatchObject({ error: { data: { reasons: ['mcp_session_unknown'] } } });
    expect(up.received.length).toBe(before);
  });

  it('the owner ends the session, after which its id is unknown', async () => {
    await transport.terminateSession();
    const res = await send(g.gw.proxyUrl, { method: 'POST', path: '/tools/tracker', headers: headers(await g.token('support-bot'), { 'content-type': 'application/json' }), body: toolCall });
    expect(res.status).toBe(404);
  });
});
