/**
 * Stage 3b — the request body, read whole before anything decides on it and before a byte goes
 * upstream. A refused call forwards nothing: a body over the tool's limit is refused by its
 * Content-Length up front or, chunked, as soon as the count passes the limit — never after part of
 * it streamed on. The read is bounded in time too (`listen.proxy.timeouts.body`), so a body trickled
 * a byte at a time cannot hold a connection. The digest (and, for tools that opt in, the redacted
 * content) goes to the audit event and binds approvals.
 */
import type { IncomingMessage } from 'node:http';
import { GatewayError } from '../errors.js';
import { sha256Hex } from '../audit/chain.js';
import { exceedsDepth, MAX_JSON_DEPTH } from '../mcp/json-depth.js';
import type { CallContext } from './context.js';

export function createBody(timeoutMs: number) {
  // Synchronous for a call without a body (a GET): no promise on the hot path.
  return function body(ctx: CallContext): Promise<void> | undefined {
    if (ctx.bufferedBody !== undefined) return undefined;
    const read = readBody(ctx, timeoutMs);
    if (read === null) {
      ctx.bufferedBody = null;
      return undefined;
    }
    return read.then((buf) => {
      ctx.bufferedBody = buf;
      const capture = ctx.tool!.captureBody;
      if (capture) ctx.body = { ...ctx.body!, captured: captured(buf, capture.redact) };
    });
  };
}

/** Whether the request has a body, refusing one whose Content-Length is over the limit up front. */
function hasBody(raw: IncomingMessage, max: number): boolean {
  const cl = raw.headers['content-length'];
  if (raw.headers['transfer-encoding'] === undefined && (cl === undefined || cl === '0')) return false;
  if (cl !== undefined && Number(cl) > max) throw tooLarge(max, cl);
  return true;
}

/**
 * The whole body within the tool's limit and the body timeout, hashed; null when there is none.
 * Listeners rather than an async iterator: the common body is one chunk, and this runs per call.
 */
export function readBody(ctx: CallContext, timeoutMs: number): Promise<Buffer> | null {
  const raw = ctx.raw;
  const max = ctx.tool!.maxBodyBytes;
  if (!hasBody(raw, max)) return null;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    // A body that arrived with its headers (the common small call) has nothing left to wait for.
    const timer = raw.complete ? undefined : setTimeout(() => fail(new GatewayError('body_timeout', `The request body did not arrive within ${timeoutMs}ms.`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > max) return fail(tooLarge(max));
      chunks.push(chunk);
    };
    const onEnd = () => {
      done();
      const buf = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, bytes);
      ctx.body = { sha256: sha256Hex(buf), bytes };
      resolve(buf);
    };
    const onError = (err?: unknown) => fail(new GatewayError('client_aborted', 'The request body could not be read.', { cause: err }));
    const onClose = () => {
      if (!raw.complete) onError();
    };
    const fail = (err: GatewayError) => {
      done();
      reject(err);
    };
    const done = () => {
      clearTimeout(timer);
      raw.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
    };
    raw.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
  });
}

function tooLarge(max: number, declared?: string): GatewayError {
  return new GatewayError('body_too_large', `The request body${declared === undefined ? '' : ` (${declared} bytes)`} exceeds this tool's limit of ${max} bytes.`);
}

/** For tools that opt in to body capture: the JSON body with the named paths redacted. */
function captured(buf: Buffer, redact: readonly string[]): unknown {
  if (exceedsDepth(buf, MAX_JSON_DEPTH)) throw new GatewayError('json_too_deep', `The JSON body is nested deeper than ${MAX_JSON_DEPTH} levels.`);
  try {
    return redactPaths(JSON.parse(buf.toString('utf8')), redact);
  } catch {
    return { not_json: true };
  }
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
