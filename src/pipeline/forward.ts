/**
 * Stage 6 — send the call to the tool and relay the answer back. One undici Pool per tool, TLS
 * verified (set explicitly, never left to a default), redirects never followed (a 3xx goes back to
 * the agent as is), bodies streamed both ways with the tool's size limit (small ones with a declared
 * length read whole: one write instead of a stream's machinery), and the tool's timeout bounding the
 * wait for response headers and every gap in the response body.
 * Upstream failures become generic errors: an upstream's error body may carry internals or echo the
 * injected credential, so 5xx bodies are discarded, never relayed.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { Pool } from 'undici';
import type { RuntimeConfig, ToolRoute } from '../config/compile.js';
import { GatewayError } from '../errors.js';
import { sha256Hex } from '../audit/chain.js';
import type { CallContext } from './context.js';
import { relayableResponseHeaders } from './inject.js';

export interface UpstreamResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[]>;
  /** A small answer with a Content-Length is read whole (relayWhole); any other is streamed. */
  readonly body: NodeJS.ReadableStream | Buffer;
}

export interface Upstreams {
  forward(ctx: CallContext): Promise<UpstreamResponse>;
  close(): Promise<void>;
}

class BodyTooLarge extends Error {}

export function createUpstreams(config: RuntimeConfig): Upstreams {
  const pools = new Map<string, Pool>();
  for (const tool of config.tools.values()) pools.set(tool.name, createPool(tool));

  async function forward(ctx: CallContext): Promise<UpstreamResponse> {
    const tool = ctx.tool!;
    const pool = pools.get(tool.name)!;
    let body = ctx.bufferedBody !== undefined ? ctx.bufferedBody : tool.captureBody ? await capturedBody(ctx, tool.captureBody.redact) : requestBody(ctx);
    if (body instanceof Promise) body = await body;
    // A body read whole may have been re-serialised (MCP): its length is the one sent.
    if (Buffer.isBuffer(body)) ctx.upstreamHeaders!['content-length'] = String(body.length);
    const started = performance.now();
    try {
      const res = await pool.request({
        method: ctx.method as 'GET',
        path: ctx.upstreamPath!,
        headers: ctx.upstreamHeaders!,
        body,
        // undici listens to any object with add/removeEventListener (call-abort.ts).
        signal: ctx.abort.signal as unknown as AbortSignal,
        headersTimeout: tool.timeoutMs,
        // An MCP listening stream (a 2025-11-25 GET, subscriptions/listen) is idle by design: no gap limit.
        bodyTimeout: ctx.mcp?.transport === 'stream' || ctx.mcp?.method === 'subscriptions/listen' ? 0 : tool.timeoutMs,
      });
      ctx.outcome = { status: res.statusCode, upstreamStatus: res.statusCode, upstreamMs: performance.now() - started };
      if (res.statusCode >= 500) {
        await res.body.dump().catch(() => undefined);
        throw new GatewayError('upstream_5xx', `The tool's upstream answered ${res.statusCode}.`);
      }
      const headers = relayableResponseHeaders(res.headers);
      return { status: res.statusCode, headers, body: relayWhole(ctx, res.statusCode, headers) ? Buffer.from(await res.body.arrayBuffer()) : res.body };
    } catch (err) {
      if (err instanceof GatewayError) throw err;
      throw upstreamFailure(err, ctx);
    }
  }

  async function close(): Promise<void> {
    await Promise.all([...pools.values()].map((p) => p.close().catch(() => p.destroy())));
  }

  return { forward, close };
}

function createPool(tool: ToolRoute): Pool {
  return new Pool(tool.origin, {
    connections: 256,
    pipelining: 1,
    keepAliveTimeout: 4_000,
    connect: {
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

/** Whether the request has a body, refusing one whose Content-Length is over the limit up front. */
function hasBody(raw: IncomingMessage, max: number): boolean {
  const cl = raw.headers['content-length'];
  if (raw.headers['transfer-encoding'] === undefined && (cl === undefined || cl === '0')) return false;
  if (cl !== undefined && Number(cl) > max) throw new GatewayError('body_too_large', `The request body (${cl} bytes) exceeds this tool's limit of ${max} bytes.`);
  return true;
}

/** A body of at most this many bytes, with a declared length, is read whole before it is forwarded. */
const READ_WHOLE_UP_TO = 64 * 1024;

/**
 * The request body for undici. A small one with a Content-Length is read whole and sent with the
 * headers in one write (the common tool call: a few KB of JSON; a stream costs a second write and a
 * stream's machinery per call, bench/profile.mjs). Anything else is streamed: counted against the
 * limit (chunked bodies have no length up front) and hashed on the way through, so the audit event
 * gets its SHA-256 without buffering.
 */
function requestBody(ctx: CallContext): Readable | Promise<Buffer> | null {
  if (!hasBody(ctx.raw, ctx.tool!.maxBodyBytes)) return null;
  const cl = ctx.raw.headers['content-length'];
  if (cl !== undefined && ctx.raw.headers['transfer-encoding'] === undefined && Number(cl) <= READ_WHOLE_UP_TO) return readDeclared(ctx);
  return Readable.from(tapped(ctx), { objectMode: false });
}

/** Reads a body whose length the client declared (Node's parser delivers exactly that many bytes). */
function readDeclared(ctx: CallContext): Promise<Buffer> {
  const raw = ctx.raw;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      bytes += chunk.length;
    };
    const onEnd = () => {
      done();
      const buf = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, bytes);
      ctx.body = { sha256: sha256Hex(buf), bytes };
      resolve(buf);
    };
    const onFail = (err?: unknown) => {
      done();
      reject(new GatewayError('client_aborted', 'The request body could not be read.', { cause: err }));
    };
    const onClose = () => {
      if (!raw.complete) onFail();
    };
    const done = () => {
      raw.off('data', onData).off('end', onEnd).off('error', onFail).off('close', onClose);
    };
    raw.on('data', onData).on('end', onEnd).on('error', onFail).on('close', onClose);
  });
}

async function* tapped(ctx: CallContext): AsyncIterable<Buffer> {
  const max = ctx.tool!.maxBodyBytes;
  const hash = createHash('sha256');
  let seen = 0;
  for await (const chunk of ctx.raw as AsyncIterable<Buffer>) {
    seen += chunk.length;
    if (seen > max) throw new BodyTooLarge();
    hash.update(chunk);
    yield chunk;
  }
  ctx.body = { sha256: hash.digest('hex'), bytes: seen };
}

/** Reads the whole body (within the tool's limit), hashing it; null when there is none. */
export async function readWholeBody(ctx: CallContext): Promise<Buffer | null> {
  if (!hasBody(ctx.raw, ctx.tool!.maxBodyBytes)) return null;
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of tapped(ctx)) chunks.push(chunk);
  } catch (err) {
    if (err instanceof BodyTooLarge) throw new GatewayError('body_too_large', `The request body exceeds this tool's limit of ${ctx.tool!.maxBodyBytes} bytes.`);
    throw new GatewayError('client_aborted', 'The request body could not be read.', { cause: err });
  }
  return Buffer.concat(chunks);
}

/** For tools that opt in to body capture: read the body whole, keep a redacted copy for the audit event. */
export async function capturedBody(ctx: CallContext, redact: readonly string[]): Promise<Buffer | null> {
  const buf = await readWholeBody(ctx);
  if (buf === null) return null;
  let captured: unknown;
  try {
    captured = redactPaths(JSON.parse(buf.toString('utf8')), redact);
  } catch {
    captured = { not_json: true };
  }
  ctx.body = { ...ctx.body!, captured };
  return buf;
}

/** Replaces the values at dotted paths (`card.number`, `password`) with "[redacted]", through arrays too. */
export function redactPaths(value: unknown, paths: readonly string[]): unknown {
  let out = value;
  for (const p of paths) out = redactOne(out, p.split('.'));
  return out;
}

function redactOne(value: unknown, path: string[]): unknown {
  if (Array.isArray(value)) return value.map((v) => redactOne(v, path));
  if (value === null || typeof value !== 'object' || path.length === 0) return value;
  const [head, ...rest] = path;
  if (!Object.hasOwn(value, head!)) return value;
  const copy = { ...(value as Record<string, unknown>) };
  copy[head!] = rest.length === 0 ? '[redacted]' : redactOne(copy[head!], rest);
  return copy;
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'UND_ERR_DESTROYED']);
const TIMEOUT = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);

/** What a failure of the upstream's connection or answer is refused as (also an answer failing while relayed). */
export function upstreamFailure(err: unknown, ctx: CallContext): GatewayError {
  const e = err as { code?: string; name?: string; cause?: unknown };
  if (err instanceof BodyTooLarge || (e.cause instanceof BodyTooLarge)) {
    return new GatewayError('body_too_large', `The request body exceeds this tool's limit of ${ctx.tool!.maxBodyBytes} bytes.`);
  }
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
