/**
 * Stage 6 — send the call to the tool and relay the answer back. One undici Pool per tool, TLS
 * verified (set explicitly, never left to a default), redirects never followed (a 3xx goes back to
 * the agent as is), the request body as the body stage read it (whole, within the tool's limit, so a
 * refused call forwards nothing), answers streamed back, and the tool's timeout bounding the wait for
 * response headers and every gap in the response body.
 * Upstream failures become generic errors: an upstream's error body may carry internals or echo the
 * injected credential, so 5xx bodies are discarded, never relayed.
 */
import { readFileSync } from 'node:fs';
import { Pool } from 'undici';
import type { RuntimeConfig, ToolRoute } from '../config/compile.js';
import { GatewayError } from '../errors.js';
import type { CallContext } from './context.js';
import { relayableResponseHeaders } from './inject.js';
import { Deadlines } from './deadlines.js';

export interface UpstreamResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[]>;
  /** A small answer with a Content-Length is read whole (relayWhole); any other is streamed. */
  readonly body: NodeJS.ReadableStream | Buffer;
}

export interface Upstreams {
  forward(ctx: CallContext): Promise<UpstreamResponse>;
  /** POSTs the MCP server a message of the gateway's own, on the exchange's endpoint with its credential and session. */
  request(ctx: CallContext, message: Record<string, unknown>): Promise<UpstreamResponse>;
  close(): Promise<void>;
}

export function createUpstreams(config: RuntimeConfig, sockets: ReadonlyMap<string, string> = new Map()): Upstreams {
  const pools = new Map<string, Pool>();
  for (const tool of config.tools.values()) pools.set(tool.name, createPool(tool, sockets.get(tool.name)));
  const waiting = new Deadlines<CallContext>(DEADLINE_RESOLUTION_MS, headersTimedOut);

  async function forward(ctx: CallContext): Promise<UpstreamResponse> {
    const tool = ctx.tool!;
    const pool = pools.get(tool.name)!;
    // Read whole by the body stage (or re-serialised by the MCP stage): its length is the one sent.
    const body = ctx.bufferedBody ?? null;
    if (body !== null) ctx.upstreamHeaders!['content-length'] = String(body.length);
    const started = performance.now();
    // The wait for the answer's headers is bounded by our deadlines (deadlines.ts), with undici's
    // coarser header timeout as a backstop.
    waiting.add(ctx, tool.timeoutMs);
    try {
      const res = await pool.request({
        method: ctx.method as 'GET',
        path: ctx.upstreamPath!,
        headers: ctx.upstreamHeaders!,
        body,
        // undici listens to any object with add/removeEventListener (call-abort.ts).
        signal: ctx.abort.signal as unknown as AbortSignal,
        headersTimeout: tool.timeoutMs + 1000,
        // An MCP listening stream (a 2025-11-25 GET, subscriptions/listen) is idle by design: no gap limit.
        bodyTimeout: ctx.mcp?.transport === 'stream' || ctx.mcp?.method === 'subscriptions/listen' ? 0 : tool.timeoutMs,
      });
      waiting.delete(ctx);
      ctx.outcome = { status: res.statusCode, upstreamStatus: res.statusCode, upstreamMs: performance.now() - started };
      if (res.statusCode >= 500) {
        await res.body.dump().catch(() => undefined);
        throw new GatewayError('upstream_5xx', `The tool's upstream answered ${res.statusCode}.`);
      }
      const headers = relayableResponseHeaders(res.headers);
      return { status: res.statusCode, headers, body: relayWhole(ctx, res.statusCode, headers) ? Buffer.from(await res.body.arrayBuffer()) : res.body };
    } catch (err) {
      waiting.delete(ctx);
      if (err instanceof GatewayError) throw err;
      throw upstreamFailure(err, ctx);
    }
  }

  async function request(ctx: CallContext, message: Record<string, unknown>): Promise<UpstreamResponse> {
    const body = Buffer.from(JSON.stringify(message));
    // The exchange's own headers (credential, session, revision), less those that described its message.
    const { 'mcp-method': _m, 'mcp-name': _n, 'last-event-id': _l, ...headers } = ctx.upstreamHeaders!;
    const method = ctx.mcp?.modern && typeof message.method === 'string' ? { 'mcp-method': message.method } : {};
    const res = await pools.get(ctx.tool!.name)!.request({
      method: 'POST',
      path: ctx.upstreamPath!,
      headers: { ...headers, ...method, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'content-length': String(body.length) },
      body,
      headersTimeout: ctx.tool!.timeoutMs,
      bodyTimeout: ctx.tool!.timeoutMs,
    });
    if (res.statusCode >= 300) {
      await res.body.dump().catch(() => undefined);
      throw new Error(`the server answered ${res.statusCode}`);
    }
    return { status: res.statusCode, headers: relayableResponseHeaders(res.headers), body: res.body };
  }

  async function close(): Promise<void> {
    await Promise.all([...pools.values()].map((p) => p.close().catch(() => p.destroy())));
  }

  return { forward, request, close };
}

/** How often deadlines are checked: a tool's timeout is kept to within this (plus event-loop lag). */
const DEADLINE_RESOLUTION_MS = 10;

function headersTimedOut(ctx: CallContext): void {
  ctx.abort.abort(new GatewayError('upstream_timeout', `The tool's upstream did not answer within ${ctx.tool!.timeoutMs}ms.`));
}

function createPool(tool: ToolRoute, socketPath: string | undefined): Pool {
  if (tool.stdio && !socketPath) throw new Error(`the stdio MCP server ${tool.name} has no bridge`);
  return new Pool(tool.origin, {
    connections: 256,
    pipelining: 1,
    keepAliveTimeout: 4_000,
    connect: {
      // A stdio server is reached through its bridge's private socket.
      ...(socketPath ? { socketPath } : {}),
      rejectUnauthorized: true,
      ...(tool.tls?.caFile ? { ca: readFileSync(tool.tls.caFile) } : {}),
      ...(tool.tls?.servername ? { servername: tool.tls.servername } : {}),
    },
  });
}

/** An answer of at most this many bytes, with a declared length, is read whole before it is relayed. */
const RELAY_WHOLE_UP_TO = 64 * 1024;

/**
 * Whether to read the answer whole and relay it as one buffer: a plain HTTP answer whose length is
 * declared and small (the common tool answer: a few KB of JSON). Piping a stream to the client costs
 * a stream's machinery per call (end-of-stream listeners, pipe, reads; bench/profile.mjs); a whole
 * body is written with the headers in one go, and an upstream that dies mid-answer becomes a clean
 * upstream_reset instead of a cut response. MCP answers are left to mcp-response.ts, and answers
 * without a body (HEAD, 204, 304), whose Content-Length describes another message, go as they came.
 */
function relayWhole(ctx: CallContext, status: number, headers: Record<string, string | string[]>): boolean {
  if (ctx.mcp || ctx.method === 'HEAD' || status === 204 || status === 304) return false;
  const cl = headers['content-length'];
  return typeof cl === 'string' && Number(cl) <= RELAY_WHOLE_UP_TO;
}

/** Releases an answer that will not be relayed (its connection goes back to the pool or is closed). */
export function discardBody(body: UpstreamResponse['body']): void {
  if (Buffer.isBuffer(body)) return;
  const stream = body as NodeJS.ReadableStream & { destroy?: () => void };
  stream.on('error', () => undefined);
  stream.destroy?.();
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'UND_ERR_DESTROYED']);
const TIMEOUT = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);

/** What a failure of the upstream's connection or answer is refused as (also an answer failing while relayed). */
export function upstreamFailure(err: unknown, ctx: CallContext): GatewayError {
  const e = err as { code?: string; name?: string; cause?: unknown };
  if (ctx.abort.signal.aborted) {
    // Aborted by the kill switch (the reason is its refusal) or because the client went away.
    const reason: unknown = ctx.abort.signal.reason;
    if (reason instanceof GatewayError) return reason;
    return new GatewayError('client_aborted', 'The call was aborted before the upstream answered.', { cause: err });
  }
  const code = e.code ?? (e.cause as { code?: string } | undefined)?.code ?? '';
  if (TIMEOUT.has(code)) return new GatewayError('upstream_timeout', `The tool's upstream did not answer within ${ctx.tool!.timeoutMs}ms.`, { cause: err });
  if (UNREACHABLE.has(code)) return new GatewayError('upstream_unreachable', "The tool's upstream could not be reached.", { cause: err });
  if (/CERT|TLS|SSL|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code)) {
    return new GatewayError('upstream_tls', "The tool's upstream TLS certificate did not verify.", { cause: err });
  }
  return new GatewayError('upstream_reset', "The tool's upstream closed the connection.", { cause: err });
}
