/**
 * The request path, in one place. The order is the architecture; each position has a reason:
 *
 *  1. authenticate — who is acting. First, so nothing about tools or routes is revealed to a caller
 *                    without a valid capability token, and so every later refusal names an agent.
 *  2. resolve      — which tool and operation (deny by default), with the path decoded and checked
 *                    once; after it, `upstreamPath` is exactly what will be authorised and forwarded.
 *  2b mcp-message  — for an MCP tool, the JSON-RPC message: read, parsed once, headers checked, and
 *                    matched to an operation (tools/call by name; data methods; control by rule).
 *                    Before guard and decide, which need the operation and the call's arguments.
 *  2c mcp-session  — a presented Mcp-Session-Id must belong to this agent and user (bound when the
 *                    upstream opened it): before anything acts in someone else's session.
 *  3. guard        — may anything act right now (the audit log is writable) and may this agent
 *                    (registry, kill, revocation, live trust score against the organisation floor,
 *                    rate limits). Cheap snapshot checks before the policy's cost.
 *  3b body         — the request body, read whole within the tool's limit and the body timeout:
 *                    after the guard (a killed or unknown agent's body is never read), before the
 *                    policy and before anything is forwarded, so a refused call forwards nothing.
 *  4. decide       — token scope, then the compiled Rego policy. Needs the principal, the agent's
 *                    registry entry and the operation.
 *  5. hold         — a call the policy marks approval_required waits for a human up to approvals.hold,
 *                    then is answered approval_pending. After a decision, before any credential is
 *                    attached.
 *  6. inject       — strip the agent's credentials and forgeable headers, attach the tool's own.
 *                    Last before forwarding, so a refused call never touches a tool credential.
 *  7. record       — a high-risk call's audit event is on disk before anything leaves the gateway.
 *  8. forward      — stream the call to the upstream and the answer back.
 *  8b mcp-response — tools/list results filtered to what this caller may call (and pins checked).
 *  8c scrub        — the injected credential replaced wherever the answer echoes it.
 *  finish          — every outcome, allowed or refused, gets its response, log line, metrics and
 *                    hash-chained audit event; the trust layer learns from it (src/trust).
 */
import { randomUUID } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RuntimeConfig } from '../config/compile.js';
import type { TokenAuthenticator } from '../auth/token-authenticator.js';
import { GatewayError } from '../errors.js';
import type { AccessLog, Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { createAuthenticate } from './authenticate.js';
import { createApprovalStatus } from './approval-status.js';
import type { AuditPort, CallContext } from './context.js';
import { createRecordIntent } from './record-intent.js';
import { createDecide, type Decider } from './decide.js';
import { createUpstreams, upstreamFailure, type Upstreams } from './forward.js';
import type { Registry } from '../directory/registry.js';
import { createGuard, killedError } from './guard.js';
import { killCovers, type StateStore } from '../state/store.js';
import { createHold } from './hold.js';
import { createInject } from './inject.js';
import { createResolve } from './resolve.js';
import { createMcpMessage } from './mcp-message.js';
import { createMcpResponse } from './mcp-response.js';
import { createServerRequests } from './mcp-server-requests.js';
import { resourceMetadataPath } from '../identity/resource-metadata.js';
import { createPinKeeper } from './mcp-pin-keeper.js';
import { createFinish } from './finish.js';
import { createBody } from './body.js';
import { createScrub } from './scrub.js';
import { createMcpSessions } from './mcp-session.js';
import { CallAbort } from './call-abort.js';
import type { Trust } from '../trust/engine.js';
import type { Principal } from '../auth/principal.js';

type Stage = (ctx: CallContext) => void | Promise<void>;

export interface PipelineDeps {
  readonly tokens: TokenAuthenticator;
  readonly decider: Decider;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** One line per call, built from safe fields only (no redaction pass). */
  readonly accessLogger: AccessLog;
  readonly audit: AuditPort;
  readonly state: StateStore;
  readonly trust: Trust;
  /** The live agent registry (src/directory/registry.ts). */
  readonly registry: Registry;
  /** True once shutdown began: new calls are refused with 503 while in-flight ones drain. */
  readonly isClosing: () => boolean;
  /** Stdio MCP servers: tool → the Unix socket of its bridge (src/mcp/stdio-bridge.ts). */
  readonly stdioSockets?: ReadonlyMap<string, string>;
}

export interface Pipeline {
  handle(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply>;
  /** Answers a request that failed before the pipeline ran (framework errors) in the same format. */
  refuse(request: FastifyRequest, reply: FastifyReply, err: unknown): FastifyReply | Promise<FastifyReply>;
  readonly upstreams: Upstreams;
  /** `GET /approvals/:id`: an agent polls its own approval (approval-status.ts). */
  approvalStatus(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply>;
  /** Shutdown began: calls held for approval are answered approval_pending now. */
  drain(): void;
}

export function createPipeline(config: RuntimeConfig, deps: PipelineDeps): Pipeline {
  const sessions = createMcpSessions(deps.state);
  // Aborted once when shutdown begins: calls held for approval are answered at once (hold.ts).
  const draining = new CallAbort();
  const authenticate = createAuthenticate(config, deps.tokens, deps);
  const upstreams = createUpstreams(config, deps.stdioSockets);
  const serverRequests = createServerRequests({ audit: deps.audit, metrics: deps.metrics, upstreams });
  const pins = createPinKeeper({ ...deps, upstreams });
  const stages: readonly Stage[] = [
    authenticate,
    createResolve(config),
    createMcpMessage(deps.state, config.listen.proxy.timeouts.bodyMs, { methodAnswered: serverRequests.methodAnswered, relisting: pins.relisting }),
    sessions.check,
    createGuard(config, deps),
    createBody(config.listen.proxy.timeouts.bodyMs),
    createDecide(deps.decider),
    createHold(config, { state: deps.state, audit: deps.audit, logger: deps.logger, draining }),
    createInject(config.listen.proxy.publicUrl),
    createRecordIntent(deps.audit),
  ];
  // Calls in flight, so that a kill can cut them (their upstream request is aborted).
  const inflight = new Set<CallContext>();
  const mcpResponse = createMcpResponse(deps, serverRequests, pins);
  const scrub = createScrub(config, deps.metrics);
  const finish = createFinish({ ...deps, done: (ctx) => inflight.delete(ctx), resourceMetadata: resourceMetadataOf(config) });
  deps.state.onChange((change) => {
    if (change.type === 'kill') {
      const target = change.kill.target;
      const covers = (ctx: CallContext, p: Principal) =>
        p.actors.some((agent, i) => killCovers(target, { agent, user: i === 0 ? p.userId : null, tool: ctx.tool?.name })) ||
        (p.userId !== null && deps.registry.has(p.userId) && killCovers(target, { agent: p.userId, user: null, tool: ctx.tool?.name }));
      cut(covers, () => killedError(change.kill), change.kill.id);
    } else if (change.type === 'revoke') {
      const r = change.revocation;
      const covers = (p: Principal) =>
        r.kind === 'jti' ? p.jti === r.jti || p.parents.includes(r.jti!) : p.iat <= (r.before ?? 0) && (p.actors.includes(r.agent!) || p.userId === r.agent);
      cut((_ctx, p) => covers(p), () => new GatewayError('token_revoked', 'The token was revoked while the call was in flight.'));
    }
  });
  /** Aborts the calls in flight that `covers` names (their upstream request is cut). */
  function cut(covers: (ctx: CallContext, p: Principal) => boolean, error: () => GatewayError, killId?: string): void {
    for (const ctx of inflight) {
      const p = ctx.principal;
      if (!p || !covers(ctx, p)) continue;
      if (killId !== undefined) ctx.killedBy = killId;
      ctx.abort.abort(error());
    }
  }

  async function handle(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const ctx = newContext(request);
    inflight.add(ctx);
    reply.raw.once('close', () => {
      inflight.delete(ctx);
      if (!reply.raw.writableFinished) ctx.abort.abort();
      finish.closed(ctx);
    });
    try {
      if (deps.isClosing()) throw new GatewayError('shutting_down', 'The gateway is shutting down; retry on another replica.');
      for (const stage of stages) {
        const pending = stage(ctx);
        if (pending) await pending;
      }
      const upstream = await upstreams.forward(ctx);
      if (ctx.mcp) await sessions.settle(ctx, upstream);
      const res = ctx.mcp ? await mcpResponse(ctx, upstream) : upstream;
      return finish.relay(ctx, reply, scrub(ctx, res));
    } catch (err) {
      return finish.refuse(ctx, reply, err);
    }
  }

  function refuse(request: FastifyRequest, reply: FastifyReply, err: unknown): FastifyReply | Promise<FastifyReply> {
    // A relayed answer that failed before its first byte went out (fastify hands the stream's error
    // here): the same call, refused as its upstream's failure — one audit event, not a second call.
    // Searched only on this path; the call is in flight until its response closes.
    for (const ctx of inflight) {
      if (ctx.requestId !== request.id || !ctx.relayed) continue;
      ctx.relayed = false;
      return finish.refuse(ctx, reply, err instanceof GatewayError ? err : upstreamFailure(err, ctx));
    }
    return finish.refuse(newContext(request), reply, err);
  }

  const approvalStatus = createApprovalStatus({ authenticate, state: deps.state, newContext, refuse: (ctx, reply, err) => finish.refuse(ctx, reply, err) });
  return { handle, refuse, upstreams, approvalStatus: approvalStatus as Pipeline['approvalStatus'], drain: () => draining.abort() };
}

function newContext(request: FastifyRequest): CallContext {
  return {
    requestId: request.id,
    startedAt: performance.now(),
    method: request.raw.method ?? 'GET',
    url: request.raw.url ?? '/',
    clientIp: request.raw.socket.remoteAddress ?? '',
    raw: request.raw,
    abort: new CallAbort(),
  };
}

export function newRequestId(): string {
  return randomUUID();
}

/** The RFC 9728 metadata URL for a path under an MCP tool, when oauth_clients let its people sign in. */
function resourceMetadataOf(config: RuntimeConfig): ((url: string) => string | undefined) | undefined {
  const ts = config.tokenService;
  if (!ts || !config.authorizationCode || !config.admin.sso) return undefined;
  return (url) => {
    const name = /^\/tools\/([^/?#]+)/.exec(url)?.[1];
    const tool = name === undefined ? undefined : config.tools.get(name);
    return tool?.protocol === 'mcp' ? `${ts.issuer}${resourceMetadataPath(tool.name)}` : undefined;
  };
}
