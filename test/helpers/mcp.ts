/**
 * Real MCP peers for the tests, built with the official SDKs, unmodified:
 *  - 2025-11-25: @modelcontextprotocol/sdk 1.x — a sessionful Streamable HTTP server and its client;
 *  - 2026-07-28: @modelcontextprotocol/server and /client 2.x — the stateless server and a client
 *    pinned to that revision.
 * Each server records every HTTP request it receives, so tests assert what reached it (or did not).
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer as V1Server, ResourceTemplate, type RegisteredTool } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport as V1ServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { CreateMessageResultSchema, ElicitResultSchema, isInitializeRequest, ListRootsResultSchema } from '@modelcontextprotocol/sdk/types.js';
import type { AnySchema } from '@modelcontextprotocol/sdk/server/zod-compat.js';
import { Client as V1Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as V1ClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Client as V2Client, StreamableHTTPClientTransport as V2ClientTransport } from '@modelcontextprotocol/client';
import * as z from 'zod';
import { createMcpToolServer } from '../../src/examples/tracker.js';
import { trackerTools, type TrackerTool, type ToolResult } from '../../src/examples/tracker-tools.js';
import { registerTrackerToolsV1 } from '../../src/examples/tracker-sdk1.js';

export type Revision = '2025-11-25' | '2026-07-28';
export const REVISIONS: readonly Revision[] = ['2025-11-25', '2026-07-28'];

export interface Received {
  readonly method: string;
  readonly headers: IncomingHttpHeaders;
  readonly raw: string;
  /** The parsed JSON-RPC message (undefined for GET/DELETE). */
  readonly body: Record<string, unknown> | undefined;
}

export interface McpUpstream {
  readonly url: string;
  readonly received: Received[];
  /** The tools served; a test may change a definition (a "rug pull"). */
  readonly tools: TrackerTool[];
  /** tools/call names the server received. */
  calls(): string[];
  /** 2025-11-25 server only: changes a tool in every open session, which announces notifications/tools/list_changed. */
  redefine?(name: string, description: string): void;
  close(): Promise<void>;
}

export const CREDENTIAL = { header: 'authorization', value: 'Bearer tracker-secret' };

/** The tracker's tools plus two the tests need: one no operation names, and one that streams until stopped. */
export function testTools(): TrackerTool[] {
  return [
    ...trackerTools(),
    { name: 'drop_database', description: 'Not in the gateway config: must never be listed or called.', shape: {}, handler: async () => ({ content: [{ type: 'text', text: 'dropped' }] }) },
    {
      name: 'slow_stream',
      description: 'Reports progress every 50 ms for up to 20 s.',
      shape: { seconds: z.number().optional() },
      async handler({ seconds }, extra): Promise<ToolResult> {
        const end = Date.now() + (typeof seconds === 'number' ? seconds : 20) * 1000;
        let i = 0;
        while (Date.now() < end && !extra.signal.aborted) {
          await extra.progress(++i, 0, `tick ${i}`);
          await new Promise((r) => setTimeout(r, 50));
        }
        return { content: [{ type: 'text', text: extra.signal.aborted ? 'aborted' : `ticks ${i}` }] };
      },
    },
  ];
}

function recorder(received: Received[]) {
  return (req: { method?: string; headers: IncomingHttpHeaders }, body: Buffer) => {
    const raw = body.toString('utf8');
    let parsed: Record<string, unknown> | undefined;
    try {
      parsed = raw ? (JSON.parse(raw) as Record<string, unknown>) : undefined;
    } catch {
      parsed = undefined;
    }
    received.push({ method: req.method ?? '', headers: req.headers, raw, body: parsed });
  };
}

function upstreamApi(url: string, received: Received[], tools: TrackerTool[], close: () => Promise<void>): McpUpstream {
  return {
    url,
    received,
    tools,
    calls: () => received.filter((r) => r.body?.method === 'tools/call').map((r) => String((r.body!.params as { name: string }).name)),
    close,
  };
}

/** 2026-07-28 (and its stateless 2025 fallback): the SDK 2.x server, as the bundled tracker is built. */
export async function startV2Upstream(tools = testTools()): Promise<McpUpstream> {
  const received: Received[] = [];
  const server = createMcpToolServer(tools, { credential: CREDENTIAL, observe: recorder(received) });
  const base = await server.listen({ host: '127.0.0.1', port: 0 });
  return upstreamApi(`${base}/mcp`, received, tools, () => server.close().then(() => undefined));
}

/** 2025-11-25: the SDK 1.x server with sessions (Mcp-Session-Id, GET stream, DELETE). */
/** `extras`: the server also offers a resource and a prompt (and advertises both capabilities). */
export async function startV1Upstream(tools = testTools(), opts: { extras?: boolean } = {}): Promise<McpUpstream> {
  const received: Received[] = [];
  const record = recorder(received);
  const sessions = new Map<string, V1ServerTransport>();
  const registered: Map<string, RegisteredTool>[] = [];
  const http = createServer((req, res) => {
    void (async () => {
      if (req.headers[CREDENTIAL.header] !== CREDENTIAL.value) return void res.writeHead(401).end();
      const chunks: Buffer[] = [];
      for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
      const body = Buffer.concat(chunks);
      record(req, body);
      const parsed: unknown = body.length > 0 ? JSON.parse(body.toString('utf8')) : undefined;
      const sid = req.headers['mcp-session-id'];
      let transport = typeof sid === 'string' ? sessions.get(sid) : undefined;
      if (!transport) {
        if (req.method !== 'POST' || !isInitializeRequest(parsed)) {
          return void res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32001, message: 'Session not found' } }));
        }
        const t = new V1ServerTransport({ sessionIdGenerator: () => randomUUID(), onsessioninitialized: (id) => void sessions.set(id, t) });
        t.onclose = () => void (t.sessionId && sessions.delete(t.sessionId));
        const { server, handles } = v1Server(tools, opts.extras);
        registered.push(handles);
        await server.connect(t);
        transport = t;
      }
      await transport.handleRequest(req, res, parsed);
    })().catch(() => res.destroy());
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`;
  const api = upstreamApi(url, received, tools, async () => {
    for (const t of sessions.values()) await t.close().catch(() => undefined);
    http.closeAllConnections();
    await new Promise<void>((r) => http.close(() => r()));
  });
  return { ...api, redefine: (name, description) => registered.forEach((h) => h.get(name)?.update({ description })) };
}

function v1Server(tools: readonly TrackerTool[], extras = false): { server: V1Server; handles: Map<string, RegisteredTool> } {
  const server = new V1Server({ name: 'tracker', version: '1.0.0' });
  if (extras) {
    server.registerResource('knowledge', 'memory://knowledge-graph', { description: 'the knowledge graph' }, async (uri) => ({ contents: [{ uri: uri.href, text: 'graph' }] }));
    server.registerResource('note', new ResourceTemplate('memory://notes/{name}', { list: undefined }), { description: 'one note' }, async (uri) => ({ contents: [{ uri: uri.href, text: `note ${uri.href}` }] }));
    server.registerResource('keys', 'memory://secrets/keys', { description: 'not for agents' }, async (uri) => ({ contents: [{ uri: uri.href, text: 'hunter2' }] }));
    // Tools that ask the client something mid-call (server-to-client requests on the call's stream).
    const ask = (name: string, method: string, params: Record<string, unknown>, schema: AnySchema, show: (r: any) => string) =>
      server.registerTool(name, { description: `asks the client: ${method}` }, async (extra) => {
        try {
          return { content: [{ type: 'text' as const, text: show(await extra.sendRequest({ method, params } as never, schema)) }] };
        } catch (err) {
          return { content: [{ type: 'text' as const, text: `refused: ${(err as Error).message}` }], isError: true };
        }
      });
    ask('ask_user', 'elicitation/create', { message: 'Which colour?', requestedSchema: { type: 'object', properties: { colour: { type: 'string' } } } }, ElicitResultSchema, (r) => `${r.action} ${r.content?.colour}`);
    ask('ask_model', 'sampling/createMessage', { messages: [{ role: 'user', content: { type: 'text', text: 'hello' } }], maxTokens: 10 }, CreateMessageResultSchema, (r) => `model said ${r.content.text}`);
    ask('list_roots', 'roots/list', {}, ListRootsResultSchema, (r) => r.roots.map((x: { uri: string }) => x.uri).join(','));
    server.registerPrompt('triage', { description: 'triage an issue' }, () => ({ messages: [{ role: 'user', content: { type: 'text', text: 'triage' } }] }));
    server.registerPrompt('summarise', { description: 'summarise a topic', argsSchema: { topic: z.string() } }, ({ topic }) => ({ messages: [{ role: 'user', content: { type: 'text', text: `summarise ${topic}` } }] }));
  }
  const handles = registerTrackerToolsV1(server, tools);
  return { server, handles };
}

/** The client side, one shape for both SDKs. */
export interface McpTestClient {
  listTools(): Promise<{ name: string; description?: string }[]>;
  callTool(name: string, args: Record<string, unknown>, opts?: { onprogress?: (p: { progress: number }) => void; timeout?: number }): Promise<ToolResult>;
  close(): Promise<void>;
}

export async function connectClient(revision: Revision, url: string, token: string): Promise<McpTestClient> {
  const requestInit = { headers: { authorization: `Bearer ${token}` } };
  if (revision === '2025-11-25') {
    const client = new V1Client({ name: 'test-agent', version: '1.0.0' });
    await client.connect(new V1ClientTransport(new URL(url), { requestInit }));
    return {
      listTools: async () => (await client.listTools()).tools,
      callTool: async (name, args, opts) => (await client.callTool({ name, arguments: args }, undefined, { ...opts, ...(opts?.onprogress ? { resetTimeoutOnProgress: true } : {}) })) as ToolResult,
      close: () => client.close(),
    };
  }
  const client = new V2Client({ name: 'test-agent', version: '1.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
  await client.connect(new V2ClientTransport(new URL(url), { requestInit }));
  return {
    listTools: async () => (await client.listTools()).tools,
    callTool: async (name, args, opts) => (await client.callTool({ name, arguments: args }, opts)) as unknown as ToolResult,
    close: () => client.close(),
  };
}

/** The JSON-RPC error a call was refused with (the SDKs raise it); fails when the call succeeds. */
export async function rejection(p: Promise<unknown>): Promise<{ code: number; message: string; data: any }> {
  try {
    await p;
  } catch (err) {
    return err as { code: number; message: string; data: any };
  }
  throw new Error('expected the call to be refused');
}
