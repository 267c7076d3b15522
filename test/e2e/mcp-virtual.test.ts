/**
 * A virtual MCP server: one endpoint over several MCP tools (the official SDK 1.x client against two
 * SDK servers, one of each revision), every call authorised and audited as the tool it names.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEvents } from '../helpers/gateway.js';
import { CREDENTIAL, startV1Upstream, startV2Upstream, type McpUpstream } from '../helpers/mcp.js';
import { startMcpGateway, TRACKER_OPERATIONS, type McpGateway } from './mcp-fixtures.js';

let a: McpUpstream;
let b: McpUpstream;
let g: McpGateway;

beforeAll(async () => {
  a = await startV1Upstream();
  b = await startV2Upstream();
  g = await startMcpGateway(a, {}, {
    tools: {
      tracker: { upstream: a.url, protocol: 'mcp', classification: 'internal', credentials: CREDENTIAL, operations: TRACKER_OPERATIONS },
      ticketing: { upstream: b.url, protocol: 'mcp', classification: 'internal', credentials: CREDENTIAL, operations: TRACKER_OPERATIONS.filter((o) => o.action === 'read') },
      workspace: { protocol: 'mcp', classification: 'internal', servers: ['tracker', 'ticketing'] },
    },
  });
});
afterAll(async () => {
  await g?.close();
  await a?.close();
  await b?.close();
});

async function connect(scope: string): Promise<Client> {
  const c = new Client({ name: 'host', version: '1' });
  await c.connect(new StreamableHTTPClientTransport(new URL(`${g.gw.proxyUrl}/tools/workspace`), { requestInit: { headers: { authorization: `Bearer ${await g.token('support-bot', scope)}` } } }));
  return c;
}

describe('a virtual MCP server', () => {
  it('lists the tools of every server it presents, prefixed, each filtered as its own tool', async () => {
    const c = await connect('tracker:read tracker:write ticketing:read');
    const names = (await c.listTools()).tools.map((t) => t.name).sort();
    expect(names).toContain('tracker__create_issue');
    expect(names).toContain('ticketing__search_issues');
    expect(names).not.toContain('ticketing__create_issue'); // ticketing has no write operation
    expect(names).not.toContain('tracker__drop_database'); // no operation names it
    expect(c.getServerVersion()?.name).toBe('workspace');
    await c.close();
  });

  it('calls the tool of the server a name points to, authorised and audited as that tool', async () => {
    const c = await connect('tracker:read tracker:write ticketing:read');
    const res = (await c.callTool({ name: 'ticketing__search_issues', arguments: { query: 'vpn' } })) as { content: { text: string }[] };
    expect(res.content[0]!.text).toContain('ISS-');
    expect(b.calls()).toContain('search_issues');
    expect(a.calls()).not.toContain('search_issues');
    const call = (await auditEvents(g.gw)).find((e) => e.type === 'tool_call' && e.tool === 'ticketing' && e.mcp?.tool === 'search_issues' && e.outcome.result === 'ok');
    expect(call).toMatchObject({ agent: { id: 'support-bot' }, outcome: { result: 'ok' } });
    await c.close();
  });

  it('refuses what the underlying tool refuses, and names it', async () => {
    const c = await connect('tracker:read ticketing:read');
    expect((await c.listTools()).tools.map((t) => t.name)).not.toContain('tracker__create_issue');
    await expect(c.callTool({ name: 'tracker__create_issue', arguments: { title: 'x' } })).rejects.toMatchObject({ code: -32051 });
    await expect(c.callTool({ name: 'tracker__delete_issue', arguments: { id: 'ISS-1' } })).rejects.toMatchObject({ code: -32051 });
    await expect(c.callTool({ name: 'nowhere__x', arguments: {} })).rejects.toMatchObject({ code: -32602 });
    expect(a.calls()).not.toContain('create_issue');
    await c.close();
  });

  it('needs a token like any tool: without one, the servers’ 401', async () => {
    const res = await fetch(`${g.gw.proxyUrl}/tools/workspace`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }) });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain('Bearer');
  });

  it('is worth nothing to another agent: its session is the servers’ sessions, bound to their opener', async () => {
    const c = await connect('tracker:read ticketing:read');
    const sid = (c.transport as StreamableHTTPClientTransport).sessionId!;
    const res = await fetch(`${g.gw.proxyUrl}/tools/workspace`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await g.token('kill-bot', 'tracker:read ticketing:read')}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'tracker__search_issues', arguments: { query: 'x' } } }),
    });
    const body = (await res.json()) as { error?: { data?: { reasons?: string[] } } };
    expect(body.error?.data?.reasons).toEqual(['mcp_session_foreign']);
    // Nor can it end the session: the servers refuse its DELETE, and the session goes on.
    const del = await fetch(`${g.gw.proxyUrl}/tools/workspace`, { method: 'DELETE', headers: { authorization: `Bearer ${await g.token('kill-bot', 'tracker:read ticketing:read')}`, 'mcp-session-id': sid } });
    expect(del.status).toBe(403);
    expect((await c.listTools()).tools.length).toBeGreaterThan(0);
    await c.close();
  });
});
