/**
 * Requests an MCP server sends its client: `sampling/createMessage` (the server borrows the
 * client's model), `elicitation/create` (it asks the person, in a form or by sending them to a URL)
 * and `roots/list` (it reads the client's folders). Each is a channel from the server to the agent's
 * model or its human, so each is audited — method, ids, a digest of the content — and passes only
 * when the tool allows its kind (`mcp.server_requests`); `ping` passes, anything else is refused.
 *
 * They arrive inside answers: on 2025-11-25 as messages in a call's event stream or on the GET
 * stream (a refused one is dropped, and the gateway answers the server with an error so that it does
 * not wait), on 2026-07-28 as `inputRequests` of an `input_required` result (a refused one turns
 * the answer into the client's JSON-RPC error). Client responses are audited with the method they
 * answer (`serverRequestMethod`), as far as this replica saw the request.
 */
import { Readable, pipeline } from 'node:stream';
import { LRUCache } from 'lru-cache';
import { canonical, sha256Hex } from '../audit/chain.js';
import { GatewayError } from '../errors.js';
import type { Metrics } from '../observability/metrics.js';
import { isObject } from '../mcp/message.js';
import { rpcRefusal } from '../mcp/rpc-errors.js';
import { sseRewriter } from '../mcp/sse.js';
import { readBounded } from '../mcp/listing.js';
import type { AuditPort, CallContext } from './context.js';
import { discardBody, type UpstreamResponse, type Upstreams } from './forward.js';

const KINDS: Readonly<Record<string, string>> = { 'sampling/createMessage': 'sampling', 'elicitation/create': 'elicitation', 'roots/list': 'roots' };
/** Results that may be input_required on 2026-07-28 (multi round-trip requests). */
const MRTR_METHODS = new Set(['tools/call', 'prompts/get', 'resources/read']);
/** Server requests remembered per replica, so that the client's response is audited with their method. */
const REMEMBERED = 10_000;

export interface ServerRequests {
  /** The answer, with server requests checked as they stream through; `notified` hears the server's notifications. */
  inspect(ctx: CallContext, res: UpstreamResponse, notified?: (ctx: CallContext, method: string) => void): UpstreamResponse | Promise<UpstreamResponse>;
  /** The method of the server request a client response answers, if this replica passed it. */
  methodAnswered(ctx: CallContext): string | undefined;
}

export function createServerRequests(deps: { audit: AuditPort; metrics: Metrics; upstreams: Pick<Upstreams, 'request'> }): ServerRequests {
  const passed = new LRUCache<string, string>({ max: REMEMBERED });
  const key = (ctx: CallContext, id: unknown) => JSON.stringify([ctx.tool!.name, ctx.mcp!.session, ctx.principal!.agentId, id]);

  /** Audits one server request and says whether its kind is allowed. */
  function check(ctx: CallContext, method: string, id: unknown, params: unknown, via: 'stream' | 'input_required'): boolean {
    const kind = KINDS[method];
    const allowed = method === 'ping' || (kind !== undefined && ctx.tool!.mcp!.serverRequests.has(kind));
    const p = ctx.principal!;
    const mode = kind === 'elicitation' && isObject(params) && typeof params.mode === 'string' ? params.mode.slice(0, 32) : undefined;
    deps.audit.record('mcp_server_request', {
      request_id: ctx.requestId,
      agent: p.agentId,
      user: p.userId,
      tool: ctx.tool!.name,
      mcp_tool: ctx.mcp!.tool ?? null,
      session: ctx.mcp!.session,
      method: method.slice(0, 128),
      id: typeof id === 'string' ? id.slice(0, 256) : id ?? null,
      via,
      ...(mode ? { mode } : {}),
      params_sha256: sha256Hex(canonical(params ?? null)),
      outcome: allowed ? { result: 'allowed' } : { result: 'refused', reason: 'mcp_server_request_refused' },
    });
    deps.metrics.mcpServerRequests.inc({ tool: ctx.tool!.name, method: kind !== undefined || method === 'ping' ? method : 'other', result: allowed ? 'allowed' : 'refused' });
    return allowed;
  }

  function refusal(ctx: CallContext, method: string): GatewayError {
    const kind = KINDS[method];
    return new GatewayError('mcp_server_request_refused', kind
      ? `The server asked the client for ${method}; tools.${ctx.tool!.name}.mcp.server_requests does not allow ${kind}.`
      : `The server sent the client a request (${method.slice(0, 128)}) the gateway has no rule for.`);
  }

  /** One message of the answer: undefined to pass it, null to drop it, or its replacement. */
  function message(ctx: CallContext, data: string, notified?: (ctx: CallContext, method: string) => void): string | undefined | null {
    let msg: unknown;
    try {
      msg = JSON.parse(data);
    } catch {
      return undefined;
    }
    if (!isObject(msg)) return undefined;
    if (typeof msg.method === 'string' && !('id' in msg)) {
      notified?.(ctx, msg.method);
      return undefined;
    }
    if (typeof msg.method === 'string') {
      if (check(ctx, msg.method, msg.id, msg.params, 'stream')) {
        passed.set(key(ctx, msg.id), msg.method);
        return undefined;
      }
      // The server waits for an answer: it gets an error instead of the client's.
      const err = refusal(ctx, msg.method);
      const answer = { jsonrpc: '2.0', id: msg.id, error: { code: -32050, message: err.message, data: { reasons: [err.reason] } } };
      deps.upstreams.request(ctx, answer).then((r) => discardBody(r.body), () => undefined);
      return null;
    }
    const result = msg.result;
    if (!isObject(result) || result.resultType !== 'input_required' || !isObject(result.inputRequests)) return undefined;
    let refused: string | undefined;
    for (const [k, r] of Object.entries(result.inputRequests)) {
      const method = isObject(r) && typeof r.method === 'string' ? r.method : '';
      if (!check(ctx, method, k, isObject(r) ? r.params : undefined, 'input_required')) refused ??= method;
    }
    return refused === undefined ? undefined : JSON.stringify(rpcRefusal(refusal(ctx, refused), ctx.mcp, ctx.requestId).body);
  }

  return {
    inspect(ctx, res, notified) {
      const mcp = ctx.mcp!;
      const type = String(res.headers['content-type'] ?? '').toLowerCase();
      if (type.startsWith('text/event-stream')) {
        const body = pipeline(res.body as Readable, sseRewriter((e) => message(ctx, e.data, notified), ctx.tool!.mcp!.maxListBytes), () => undefined);
        return { ...res, headers: withoutLength(res.headers), body };
      }
      if (!type.startsWith('application/json') || !mcp.modern || !MRTR_METHODS.has(mcp.method ?? '')) return res;
      return whole(ctx, res, (text) => message(ctx, text) ?? text);
    },
    methodAnswered(ctx) {
      return ctx.mcp?.kind === 'response' ? passed.get(key(ctx, ctx.mcp.id)) : undefined;
    },
  };
}

/** A JSON answer read whole (bounded: one result, at most `max_list_bytes`), then rewritten, and relayed whole. */
async function whole(ctx: CallContext, res: UpstreamResponse, rewrite: (text: string) => string): Promise<UpstreamResponse> {
  const max = ctx.tool!.mcp!.maxListBytes;
  const read = await readBounded(res.body as NodeJS.ReadableStream, max);
  if (read === undefined) {
    (res.body as Readable).destroy?.();
    throw new GatewayError('upstream_reset', `The server's answer exceeds ${max} bytes (tools.${ctx.tool!.name}.mcp.max_list_bytes), so it could not be checked for server requests.`);
  }
  const text = rewrite(read);
  // Whole, the answer is relayed in one write with its final audit event (no intent, no stream).
  return { ...res, headers: { ...res.headers, 'content-length': String(Buffer.byteLength(text)) }, body: Buffer.from(text) };
}

function withoutLength(headers: Record<string, string | string[]>): Record<string, string | string[]> {
  const { 'content-length': _, ...rest } = headers;
  return rest;
}
