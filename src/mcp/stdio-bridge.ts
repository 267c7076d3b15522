/**
 * A stdio MCP server behind the gateway: the bridge serves Streamable HTTP (the official SDK's
 * server transport) on a private Unix socket, and runs one server process per MCP session, so that
 * the pipeline treats it like any HTTP MCP server — every message authorised, filtered, audited
 * before it reaches the bridge — and no two sessions (agents, people) ever share a process.
 *
 * Server messages that answer a request go back on its stream; a progress notification goes to the
 * request that asked for progress, and any other server message to the one request in flight (or,
 * with none or several, to the session's GET stream). A session ends on DELETE, when its process
 * exits, or after `idle_timeout` unused; at most `max_sessions` run at once (then 503).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest, type JSONRPCMessage, type RequestId } from '@modelcontextprotocol/sdk/types.js';
import type { ToolRoute } from '../config/compile.js';
import type { Logger } from '../observability/logger.js';
import { ServerProcess } from './stdio-process.js';

export interface StdioBridge {
  readonly tool: string;
  readonly socketPath: string;
  /** Live sessions (one process each). */
  sessions(): number;
  listen(): Promise<void>;
  close(): Promise<void>;
}

interface Session {
  readonly http: StreamableHTTPServerTransport;
  readonly child: ServerProcess;
  /** Requests in flight: id → the progress token it asked with, if any. */
  readonly inflight: Map<RequestId, unknown>;
  lastUsed: number;
}

export function createStdioBridge(tool: ToolRoute, logger: Logger): StdioBridge {
  const spec = tool.stdio!;
  const log = logger.child({ tool: tool.name });
  // In a folder of its own (mkdtemp: mode 0700): no other local user can reach the server past the gateway.
  const folder = mkdtempSync(join(tmpdir(), 'portcullis-stdio-'));
  const socketPath = join(folder, `${tool.name.slice(0, 40)}.sock`);
  const sessions = new Map<string, Session>();
  let opening = 0;
  let server: Server | undefined;
  let reaper: NodeJS.Timeout | undefined;

  async function open(): Promise<Session> {
    const child = new ServerProcess(spec, log);
    const inflight = new Map<RequestId, unknown>();
    const session: Session = {
      child,
      inflight,
      lastUsed: Date.now(),
      http: new StreamableHTTPServerTransport({ sessionIdGenerator: () => randomUUID(), onsessioninitialized: (id) => void sessions.set(id, session) }),
    };
    const { http } = session;
    http.onmessage = (m: JSONRPCMessage) => {
      if ('method' in m && 'id' in m && m.id !== undefined) inflight.set(m.id, (m.params as { _meta?: { progressToken?: unknown } } | undefined)?._meta?.progressToken);
      child.send(m).catch(() => undefined);
    };
    child.onmessage = (m: JSONRPCMessage) => {
      if (!('method' in m) && 'id' in m && m.id !== undefined) inflight.delete(m.id);
      void http.send(m, { relatedRequestId: related(m, inflight) }).catch((err: Error) => log.debug({ error: err.message }, 'MCP stdio message not delivered'));
    };
    child.onerror = (err) => log.warn({ error: err.message }, 'MCP stdio server error');
    // A process that ends answers what it left unanswered, so no client waits on a dead stream.
    child.onclose = () => {
      void (async () => {
        for (const id of [...inflight.keys()]) {
          await http.send({ jsonrpc: '2.0', id, error: { code: -32000, message: `The MCP server ${tool.name} exited.` } }).catch(() => undefined);
        }
        await http.close();
      })();
    };
    http.onclose = () => {
      if (http.sessionId) sessions.delete(http.sessionId);
      void child.close();
    };
    await child.start();
    await http.start();
    log.info({ pid: child.pid }, 'MCP stdio server started for a new session');
    return session;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
    const body = chunks.length > 0 ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown) : undefined;
    const sid = req.headers['mcp-session-id'];
    let session = typeof sid === 'string' ? sessions.get(sid) : undefined;
    if (!session) {
      if (req.method !== 'POST' || sid !== undefined || !isInitializeRequest(body)) return rpcError(res, 404, -32001, 'Session not found');
      if (sessions.size + opening >= spec.maxSessions) return rpcError(res, 503, -32000, `The MCP server ${tool.name} runs at most ${spec.maxSessions} sessions at once.`);
      opening++;
      try {
        session = await open();
      } finally {
        opening--;
      }
    }
    session.lastUsed = Date.now();
    await session.http.handleRequest(req, res, body);
  }

  function reap(): void {
    const cutoff = Date.now() - spec.idleTimeoutMs;
    for (const s of sessions.values()) if (s.lastUsed < cutoff) void s.http.close();
  }

  return {
    tool: tool.name,
    socketPath,
    sessions: () => sessions.size,
    async listen() {
      rmSync(socketPath, { force: true });
      server = createServer((req, res) => {
        handle(req, res).catch((err: Error) => {
          log.warn({ error: err.message }, 'MCP stdio bridge failed a request');
          if (!res.headersSent) rpcError(res, 502, -32603, 'The MCP server could not be reached.');
          else res.destroy();
        });
      });
      await new Promise<void>((resolve, reject) => server!.once('error', reject).listen(socketPath, () => resolve()));
      reaper = setInterval(reap, Math.min(spec.idleTimeoutMs, 60_000)).unref();
    },
    async close() {
      clearInterval(reaper);
      await Promise.all([...sessions.values()].map((s) => s.http.close()));
      if (server) {
        server.closeAllConnections();
        await new Promise<void>((r) => server!.close(() => r()));
      }
      rmSync(folder, { recursive: true, force: true });
    },
  };
}

/** The client request a server message belongs with: its answer's, its progress token's, or the only one in flight. */
function related(m: JSONRPCMessage, inflight: ReadonlyMap<RequestId, unknown>): RequestId | undefined {
  if ('id' in m && !('method' in m)) return undefined; // a response: routed by its own id
  const token = 'params' in m ? (m.params as { progressToken?: unknown } | undefined)?.progressToken : undefined;
  if (token !== undefined) for (const [id, t] of inflight) if (t === token) return id;
  return inflight.size === 1 ? inflight.keys().next().value : undefined;
}

function rpcError(res: ServerResponse, status: number, code: number, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code, message } }));
}
