/**
 * After forward, for an MCP tool: tools/list results (and tools results replayed on a 2025-11-25
 * GET stream) are filtered to what this agent — and the user it acts for — may call. A tool is
 * shown when an operation names it, its definition matches its pin, the token's scope covers it
 * and the policy would permit (or hold for approval) a call to it; otherwise it is hidden, and the
 * audit event of the list says which and why. Everything else streams through untouched.
 */
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { hasScope } from '../auth/principal.js';
import type { ToolRoute } from '../config/compile.js';
import { GatewayError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { filterListing, ListingError, rewriteResults } from '../mcp/listing.js';
import { isObject } from '../mcp/message.js';
import type { StateStore } from '../state/store.js';
import type { AuditPort, CallContext } from './context.js';
import type { Decider } from './decide.js';
import type { UpstreamResponse } from './forward.js';
import { rpcRefusal } from '../mcp/rpc-errors.js';
import type { ServerRequests } from './mcp-server-requests.js';
import type { PinKeeper } from './mcp-pin-keeper.js';

export interface McpResponseDeps {
  readonly decider: Decider;
  readonly state: StateStore;
  readonly audit: AuditPort;
  readonly metrics: Metrics;
  readonly logger: Logger;
}

export function createMcpResponse(deps: McpResponseDeps, serverRequests: ServerRequests, pins: PinKeeper) {
  const { metrics } = deps;

  return function mcpResponse(ctx: CallContext, res: UpstreamResponse): Promise<UpstreamResponse> | UpstreamResponse {
    const mcp = ctx.mcp;
    if (!mcp || res.status >= 300) return res;
    if (mcp.method === 'initialize' || mcp.method === 'server/discover') return advertised(ctx, res).then((r) => answeredOnCut(ctx, r));
    const listing = mcp.method === 'tools/list' || mcp.transport === 'stream';
    if (!listing) return relayed(ctx, res);
    return filtered(ctx, res).then((r) => relayed(ctx, r));
  };

  function notified(ctx: CallContext, method: string): void {
    if (method === 'notifications/tools/list_changed') pins.listChanged(ctx);
  }

  /** Any answer that may carry the server's requests to the client has them checked, then is relayed. */
  function relayed(ctx: CallContext, res: UpstreamResponse): Promise<UpstreamResponse> | UpstreamResponse {
    const checked = serverRequests.inspect(ctx, res, notified);
    return checked instanceof Promise ? checked.then((r) => answeredOnCut(ctx, r)) : answeredOnCut(ctx, checked);
  }

  async function filtered(ctx: CallContext, res: UpstreamResponse): Promise<UpstreamResponse> {
    const mcp = ctx.mcp!;
    const tool = ctx.tool!;
    const listing = (mcp.listing = { shown: 0, hidden: [] as { name: string; why: string }[] });
    const filter = async (tools: readonly unknown[]): Promise<unknown[]> => {
      const shown: unknown[] = [];
      for (const t of tools) {
        const why = await hideReason(ctx, tool, t);
        metrics.mcpToolsListed.inc({ tool: tool.name, result: why ?? 'shown' });
        if (why === undefined) shown.push(t);
        else listing.hidden.push({ name: isObject(t) && typeof t.name === 'string' ? t.name.slice(0, 256) : '', why });
      }
      listing.shown += shown.length;
      return shown;
    };
    try {
      // An MCP answer is always streamed (forward.ts reads only plain HTTP answers whole).
      const out = await filterListing(res.headers, res.body as NodeJS.ReadableStream, { id: mcp.transport === 'stream' ? undefined : mcp.id ?? undefined, maxBytes: tool.mcp!.maxListBytes, modern: mcp.modern, filter });
      return { status: res.status, headers: out.headers, body: out.body };
    } catch (err) {
      (res.body as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
      if (err instanceof ListingError) throw new GatewayError('upstream_reset', `The tool list could not be filtered: ${err.message}.`, { cause: err });
      throw err;
    }
  }

  /**
   * A request answered as a stream that the gateway cuts (the kill switch) ends with a JSON-RPC
   * error event for the request's id, so that the client's call fails with the reason (`killed`)
   * instead of waiting on a dead stream. Other failures still tear the stream down.
   */
  function answeredOnCut(ctx: CallContext, res: UpstreamResponse): UpstreamResponse {
    const mcp = ctx.mcp!;
    if (mcp.kind !== 'request' || !String(res.headers['content-type'] ?? '').toLowerCase().startsWith('text/event-stream')) return res;
    const out = new PassThrough();
    void (async () => {
      try {
        for await (const chunk of res.body as AsyncIterable<Buffer>) {
          if (out.destroyed) break;
          // Backpressure, without waiting forever on a reader that has gone.
          if (!out.write(chunk)) await Promise.race([once(out, 'drain'), once(out, 'close')]);
        }
        out.end();
      } catch (err) {
        const reason: unknown = ctx.abort.signal.reason;
        if (!(reason instanceof GatewayError) || out.destroyed) return void out.destroy(err as Error);
        out.end(`\n\nevent: message\ndata: ${JSON.stringify(rpcRefusal(reason, mcp, ctx.requestId).body)}\n\n`);
      }
    })();
    return { ...res, body: out };
  }

  /**
   * The server's capabilities as this caller may use them: resources, prompts and completions only
   * when an operation of the tool names one of their methods and the token's scope covers it; tasks
   * never (their methods are refused: a task's result would be fetched outside the decided call).
   * A host then does not ask for what it would be refused.
   */
  async function advertised(ctx: CallContext, res: UpstreamResponse): Promise<UpstreamResponse> {
    const tool = ctx.tool!;
    const route = tool.mcp!;
    const may = (op: { scope: string }) => hasScope(ctx.principal!, tool.name, op.scope);
    const usable = (prefix: string) =>
      [...route.methods].some(([method, op]) => method.startsWith(prefix) && may(op)) ||
      (prefix === 'resources/' && route.resources.some((r) => may(r.operation))) ||
      (prefix === 'prompts/' && [...route.prompts.values()].some(may));
    try {
      const out = await rewriteResults(res.headers, res.body as NodeJS.ReadableStream, {
        id: ctx.mcp!.id ?? undefined,
        maxBytes: tool.mcp!.maxListBytes,
        async rewrite(result) {
          if (!isObject(result.capabilities)) return undefined;
          const capabilities: Record<string, unknown> = { ...result.capabilities };
          delete capabilities.tasks;
          if (!usable('resources/')) delete capabilities.resources;
          if (!usable('prompts/')) delete capabilities.prompts;
          if (!usable('completion/')) delete capabilities.completions;
          return { ...result, capabilities };
        },
      });
      return { status: res.status, headers: out.headers, body: out.body };
    } catch (err) {
      (res.body as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
      if (err instanceof ListingError) throw new GatewayError('upstream_reset', `The server's capabilities could not be read: ${err.message}.`, { cause: err });
      throw err;
    }
  }

  /** Why this listed tool is hidden from this caller, or undefined to show it. */
  async function hideReason(ctx: CallContext, tool: ToolRoute, t: unknown): Promise<string | undefined> {
    if (!isObject(t) || typeof t.name !== 'string') return 'malformed';
    const name = t.name;
    const op = tool.mcp!.tools.get(name);
    if (!op) return 'not_configured';
    if (!(await pins.pinned(tool, name, t))) return 'definition_changed';
    if (!hasScope(ctx.principal!, tool.name, op.scope)) return 'scope';
    try {
      const d = await deps.decider.decide({ ...ctx, operation: op, mcp: { ...ctx.mcp!, method: 'tools/call', tool: name, arguments: null, argumentsSha256: null } });
      return d.allow || d.approvalRequired ? undefined : 'policy';
    } catch {
      return 'policy_error';
    }
  }
}
