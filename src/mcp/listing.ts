/**
 * tools/list results, filtered to what this caller may call, whether the server answers with one
 * JSON body or a server-sent-event stream. The filter sees each JSON-RPC response that carries a
 * `result.tools` array (for a POST, only the one answering the request's id; on a 2025-11-25 GET
 * stream, which may replay earlier responses on resumption, any). The result is marked private:
 * a filtered list must never be served to another caller from a cache.
 */
import { pipeline, type Readable } from 'node:stream';
import { isObject } from './message.js';
import type { RpcId } from './protocol.js';
import { sseRewriter } from './sse.js';

export type ToolsFilter = (tools: readonly unknown[]) => Promise<unknown[]>;
/** A JSON-RPC result's new form, or undefined to leave the message as it is. */
export type ResultRewrite = (result: Record<string, unknown>) => Promise<Record<string, unknown> | undefined>;

export interface ListedResponse {
  readonly headers: Record<string, string | string[]>;
  /** A JSON answer is read and rewritten whole, and relayed whole (one write, one audit event). */
  readonly body: NodeJS.ReadableStream | Buffer;
}

export interface ListingOptions {
  /** The request's id; undefined on a GET stream (any tools result is filtered). */
  readonly id: RpcId | undefined;
  readonly maxBytes: number;
  readonly modern: boolean;
  readonly filter: ToolsFilter;
}

export class ListingError extends Error {}

export function filterListing(headers: Record<string, string | string[]>, body: NodeJS.ReadableStream, opts: ListingOptions): Promise<ListedResponse> {
  return rewriteResults(headers, body, {
    id: opts.id,
    maxBytes: opts.maxBytes,
    async rewrite(result) {
      if (!('tools' in result)) return undefined;
      // A result whose tools field is not a list is not something the client can be shown safely.
      const tools = Array.isArray(result.tools) ? result.tools : [];
      const out: Record<string, unknown> = { ...result, tools: await opts.filter(tools) };
      if (opts.modern) out.cacheScope = 'private';
      return out;
    },
  });
}

/**
 * Rewrites the result of the JSON-RPC response answering `id` (any response on a GET stream, `id`
 * undefined), in one JSON body or in a server-sent-event stream; marked private, never cached for
 * another caller.
 */
export async function rewriteResults(headers: Record<string, string | string[]>, body: NodeJS.ReadableStream, opts: { id: RpcId | undefined; maxBytes: number; rewrite: ResultRewrite }): Promise<ListedResponse> {
  const type = String(headers['content-type'] ?? '').toLowerCase();
  const encoding = String(headers['content-encoding'] ?? 'identity').toLowerCase();
  // The gateway asks for identity; a server that compresses anyway cannot be filtered, so it is refused.
  if (encoding !== 'identity') throw new ListingError(`the server answered with content-encoding ${encoding}`);
  const out: Record<string, string | string[]> = { ...headers, 'cache-control': 'private, no-store', vary: 'authorization' };
  const rewrite = (data: string) => rewriteMessage(data, opts);
  if (type.startsWith('text/event-stream')) {
    delete out['content-length'];
    // pipeline: an upstream error (a kill aborting the call) or an oversized event destroys both ends.
    const stream = pipeline(body as Readable, sseRewriter((e) => rewrite(e.data), opts.maxBytes), () => undefined);
    return { headers: out, body: stream };
  }
  if (type.startsWith('application/json')) {
    const text = await readBounded(body, opts.maxBytes);
    if (text === undefined) throw new ListingError(`the response exceeds ${opts.maxBytes} bytes (tools.<name>.mcp.max_list_bytes)`);
    const next = (await rewrite(text)) ?? text;
    out['content-length'] = String(Buffer.byteLength(next));
    return { headers: out, body: Buffer.from(next) };
  }
  // An empty answer (202 to a notification) or an error page: nothing to filter.
  return { headers: out, body };
}

/** The message's new serialisation if it is a result to rewrite, else undefined. */
async function rewriteMessage(data: string, opts: { id: RpcId | undefined; rewrite: ResultRewrite }): Promise<string | undefined> {
  let msg: unknown;
  try {
    msg = JSON.parse(data);
  } catch {
    // Not JSON (an SSE comment payload, say): no tools can hide in it.
    return undefined;
  }
  if (!isObject(msg) || !isObject(msg.result)) return undefined;
  if (opts.id !== undefined && msg.id !== opts.id) return undefined;
  const result = await opts.rewrite(msg.result);
  return result === undefined ? undefined : JSON.stringify({ ...msg, result });
}

/** A body read whole as UTF-8, or undefined once it passes `max` bytes (the caller decides the stream's fate). */
export async function readBounded(body: NodeJS.ReadableStream, max: number): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of body as AsyncIterable<Buffer | string>) {
    const b = Buffer.isBuffer(c) ? c : Buffer.from(c);
    n += b.length;
    if (n > max) return undefined;
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8');
}
