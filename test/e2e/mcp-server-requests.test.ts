/**
 * Requests an MCP server sends its client mid-call (elicitation, sampling, roots) are audited and
 * pass only when the tool allows their kind: the official SDK 1.x server asks, the official client
 * answers. A 2026-07-28 `input_required` carrying a refused request is turned into an error.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema, ElicitRequestSchema, ListRootsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEvents } from '../helpers/gateway.js';
import { CREDENTIAL, startV1Upstream, type McpUpstream } from '../helpers/mcp.js';
import { pollUntil } from '../helpers/policy.js';
import { startMcpGateway, TRACKER_OPERATIONS, type McpGateway } from './mcp-fixtures.js';

const ASKING = ['ask_user', 'ask_model', 'list_roots'].map((name) => ({ name, mcp_tool: name, action: 'read' }));

describe('server-to-client requests (2025-11-25)', () => {
  let up: McpUpstream;
  let g: McpGateway;
  let client: Client;
  const asked: string[] = [];

  beforeAll(async () => {
    up = await startV1Upstream(undefined, { extras: true });
    g = await startMcpGateway(up, { operations: [...TRACKER_OPERATIONS, ...ASKING], mcp: { server_requests: ['elicitation'] } });
    client = new Client({ name: 'host', version: '1.0.0' }, { capabilities: { elicitation: {}, sampling: {}, roots: {} } });
    client.setRequestHandler(ElicitRequestSchema, async () => (asked.push('elicitation'), { action: 'accept', content: { colour: 'blue' } }));
    client.setRequestHandler(CreateMessageRequestSchema, async () => (asked.push('sampling'), { role: 'assistant', content: { type: 'text', text: 'secret plans' }, model: 'm' }));
    client.setRequestHandler(ListRootsRequestSchema, async () => (asked.push('roots'), { roots: [{ uri: 'file:///home/alice' }] }));
    await client.connect(new StreamableHTTPClientTransport(new URL(g.url), { requestInit: { headers: { authorization: `Bearer ${await g.token('support-bot', 'tracker:read')}` } } }));
  });
  afterAll(async () => {
    await client?.close();
    await g?.close();
    await up?.close();
  });

  it('passes an allowed kind (elicitation), audits it, and audits the client’s answer with its method', async () => {
    const res = (await client.callTool({ name: 'ask_user', arguments: {} })) as { content: { text: string }[] };
    expect(res.content[0]!.text).toBe('accept blue');
    expect(asked).toEqual(['elicitation']);
    const events = await pollUntil(async () => auditEvents(g.gw), (e) => e.some((x) => x.type === 'tool_call' && x.mcp?.answers === 'elicitation/create'));
    const request = events.find((e) => e.type === 'mcp_server_request')!;
    expect(request).toMatchObject({ tool: 'tracker', mcp_tool: 'ask_user', agent: 'support-bot', method: 'elicitation/create', via: 'stream', outcome: { result: 'allowed' }, params_sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    const answer = events.find((e) => e.type === 'tool_call' && e.mcp?.kind === 'response')!;
    expect(answer.mcp).toMatchObject({ answers: 'elicitation/create', id: request.id });
    // A digest of the content, never the content itself.
    expect(JSON.stringify(events)).not.toContain('Which colour?');
  });

  it('refuses a kind the tool does not allow: the client is never asked, the server gets an error at once', async () => {
    for (const [tool, kind, method] of [['ask_model', 'sampling', 'sampling/createMessage'], ['list_roots', 'roots', 'roots/list']] as const) {
      const started = Date.now();
      const res = (await client.callTool({ name: tool, arguments: {} })) as { content: { text: string }[]; isError?: boolean };
      expect(Date.now() - started).toBeLessThan(5000);
      expect(res.isError).toBe(true);
      expect(res.content[0]!.text).toContain(`does not allow ${kind}`);
      const events = await auditEvents(g.gw);
      expect(events.find((e) => e.type === 'mcp_server_request' && e.method === method)).toMatchObject({ mcp_tool: tool, outcome: { result: 'refused', reason: 'mcp_server_request_refused' } });
    }
    expect(asked).toEqual(['elicitation']);
    // What reached the server instead of the client's answers: the gateway's errors.
    const errors = up.received.filter((r) => r.body && 'error' in r.body).map((r) => (r.body!.error as { data: { reasons: string[] } }).data.reasons);
    expect(errors).toEqual([['mcp_server_request_refused'], ['mcp_server_request_refused']]);
    const metrics = await (await fetch(`${g.gw.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/portcullis_mcp_server_requests_total\{tool="tracker",method="sampling\/createMessage",result="refused"\} 1/);
  });
});

describe('server-to-client requests (2026-07-28, input_required)', () => {
  let g: McpGateway;
  let server: ReturnType<typeof createServer>;
  let inputRequests: Record<string, unknown> = {};

  beforeAll(async () => {
    // A server that answers every call input_required with the requests under test (raw: the SDK's
    // own client would fulfil them before a test could look).
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        if (req.headers[CREDENTIAL.header] !== CREDENTIAL.value) return void res.writeHead(401).end();
        const msg = JSON.parse(body);
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: { resultType: 'input_required', inputRequests, requestState: 'server-state' } }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`;
    g = await startMcpGateway({ url } as McpUpstream, { operations: TRACKER_OPERATIONS, mcp: { server_requests: ['elicitation'] } });
  });
  afterAll(async () => {
    await g?.close();
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
  });

  const call = async () => {
    const res = await fetch(g.url, {
      method: 'POST',
      headers: { authorization: `Bearer ${await g.token('support-bot')}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'get_issue', arguments: { id: 'ISS-1' }, _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28' } } }),
    });
    return (await res.json()) as any;
  };

  it('passes an allowed request through untouched', async () => {
    inputRequests = { q: { method: 'elicitation/create', params: { message: 'Which?', requestedSchema: { type: 'object', properties: {} } } } };
    expect((await call()).result).toMatchObject({ resultType: 'input_required', requestState: 'server-state', inputRequests });
  });

  it('turns a result asking for a refused kind into the client’s error, naming it', async () => {
    inputRequests = { q: { method: 'elicitation/create', params: {} }, s: { method: 'sampling/createMessage', params: { messages: [], maxTokens: 1 } } };
    const r = await call();
    expect(r.result).toBeUndefined();
    expect(r.error).toMatchObject({ code: -32050, data: { reasons: ['mcp_server_request_refused'] } });
    expect(r.error.message).toContain('does not allow sampling');
    const events = (await auditEvents(g.gw)).filter((e) => e.type === 'mcp_server_request');
    expect(events.at(-1)).toMatchObject({ method: 'sampling/createMessage', via: 'input_required', id: 's', outcome: { result: 'refused' } });
  });
});
