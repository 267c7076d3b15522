/**
 * The end of every call, allowed or refused: one response shape, one log line, one set of metric
 * updates, all sharing the same reason code, and the hash-chained audit event, written before the
 * answer is released.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyReply } from 'fastify';
import { GatewayError } from '../errors.js';
import type { AccessLog, Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { authFailureFields, callEventFields } from '../audit/events.js';
import type { AuditPort, CallContext } from './context.js';
import { discardBody, upstreamFailure, type UpstreamResponse } from './forward.js';
import { inputRequiredResult, rpcRefusal } from '../mcp/rpc-errors.js';
import type { Trust } from '../trust/engine.js';

/** Every answer waits until its audit event is handed to the OS (audit/log-writer.ts). */
const WRITTEN = { written: true } as const;

export function createFinish(deps: {
  metrics: Metrics;
  logger: Logger;
  accessLogger: AccessLog;
  audit: AuditPort;
  trust: Trust;
  done: (ctx: CallContext) => void;
  /** RFC 9728: the protected resource metadata URL of the MCP tool a request path names, when people may sign in for it. */
  resourceMetadata?: (url: string) => string | undefined;
}) {
  const { metrics, logger, accessLogger, audit, trust } = deps;

  /**
   * Relays the upstream's answer — only once its audit event is handed to the OS, so a crash after
   * the agent saw the status line cannot lose the record of the call. A whole answer's event is its
   * final one; a streamed answer gets a `tool_call_intent` (`relaying`) now and its final event,
   * saying whether the body arrived whole, when the response closes.
   */
  function relay(ctx: CallContext, reply: FastifyReply, res: UpstreamResponse): FastifyReply | Promise<FastifyReply> {
    record(ctx, res.status, undefined);
    const whole = Buffer.isBuffer(res.body);
    if (!whole) track(ctx, res.body as NodeJS.ReadableStream);
    const written = whole
      ? audit.record('tool_call', callEventFields(ctx, 'final'), WRITTEN)
      : audit.record('tool_call_intent', callEventFields(ctx, 'relaying'), WRITTEN);
    // A streamed answer's final event is written when the response closes (closed()).
    ctx.relayed = !whole;
    const send = () => {
      reply.code(res.status).headers(res.headers).header('portcullis-request-id', ctx.requestId);
      reply.send(res.body);
      // Counted once piped (fastify pipes synchronously): a 'data' listener added earlier would set
      // the stream flowing before anything reads it.
      if (ctx.relay) {
        const relay = ctx.relay;
        (res.body as NodeJS.ReadableStream).on('data', (chunk: Buffer) => {
          relay.bytes += chunk.length;
        });
      }
      // Fastify writes a stream's headers with its first byte; an event stream may be silent for long,
      // and its client waits for the headers to know the stream is open.
      if (String(res.headers['content-type'] ?? '').startsWith('text/event-stream') && !reply.raw.headersSent) reply.raw.flushHeaders();
      return reply;
    };
    if (!written) return send();
    return written.then(send, (err: unknown) => {
      // Not recorded, not released: the answer goes nowhere (fail closed).
      ctx.relayed = false;
      discardBody(res.body);
      return refuse(ctx, reply, new GatewayError('audit_write_failed', 'The audit record of this call could not be written, so its answer is withheld.', { cause: err }), false);
    });
  }

  /** Notes whether a streamed answer ended whole, and why not (the final event says). */
  function track(ctx: CallContext, body: NodeJS.ReadableStream): void {
    const relay: NonNullable<CallContext['relay']> = (ctx.relay = { bytes: 0, complete: false });
    body.once('end', () => {
      relay.complete = true;
    });
    body.once('error', (err) => {
      relay.error ??= upstreamFailure(err, ctx).reason;
    });
  }

  /**
   * Answers a refusal — once its audit event is handed to the OS (as for relayed answers), unless
   * `wait` is false (the event could not be written: the refusal goes out anyway, saying so).
   */
  function refuse(ctx: CallContext, reply: FastifyReply, err: unknown, wait = true): FastifyReply | Promise<FastifyReply> {
    const gErr = err instanceof GatewayError ? err : new GatewayError('internal', undefined, { cause: err });
    if (gErr.reason === 'internal') logger.error({ err: errorSummary(err), request_id: ctx.requestId }, 'unexpected failure in the request path');
    record(ctx, gErr.status, gErr);
    deps.done(ctx);
    const written =
      gErr.code === 'invalid_token' && !ctx.principal
        ? audit.record('auth_failure', authFailureFields(ctx), wait ? WRITTEN : undefined)
        : audit.record('tool_call', callEventFields(ctx, 'final'), wait ? WRITTEN : undefined);
    if (!written) return answer(ctx, reply, gErr);
    // An unwritable log still gets its refusal answered (the guard refuses the next calls).
    return written.then(() => answer(ctx, reply, gErr), () => answer(ctx, reply, gErr));
  }

  function answer(ctx: CallContext, reply: FastifyReply, gErr: GatewayError): FastifyReply {
    if (reply.sent || reply.raw.headersSent) {
      reply.raw.destroy();
      return reply;
    }
    reply.code(gErr.status).header('portcullis-request-id', ctx.requestId).header('cache-control', 'no-store');
    if (gErr.code === 'invalid_token') {
      // An MCP host learns from resource_metadata where its person signs in (MCP authorization, RFC 9728 §5.1).
      const metadata = deps.resourceMetadata?.(ctx.url);
      const challenge = `Bearer realm="portcullis"${gErr.reason === 'token_missing' ? '' : ', error="invalid_token"'}${metadata ? `, resource_metadata="${metadata}"` : ''}`;
      reply.header('www-authenticate', challenge);
    } else if (gErr.code === 'insufficient_scope' && ctx.operation) {
      reply.header('www-authenticate', `Bearer realm="portcullis", error="insufficient_scope", scope="${ctx.operation.scope}"`);
    }
    // A refused body may still be arriving (or never finish): closing the connection avoids reading
    // it to the end, and a client that pools connections is told not to reuse this one.
    if (gErr.code === 'payload_too_large' || gErr.code === 'invalid_request' || gErr.code === 'request_timeout' || gErr.reason === 'shutting_down' || !ctx.raw.complete) {
      reply.header('connection', 'close');
    }
    if (gErr.extra.headers) reply.headers(gErr.extra.headers);
    if (ctx.tool?.mcp && gErr.code !== 'invalid_token') return reply.type('application/json').send(JSON.stringify(mcpAnswer(ctx, reply, gErr)));
    // The token is checked before the tool is known, so an MCP client is recognised by what it sends
    // (which reveals nothing about the path): its 401 is a JSON-RPC error (-32056), id null.
    if (gErr.code === 'invalid_token' && speaksMcp(ctx.raw.headers)) return reply.type('application/json').send(JSON.stringify(rpcRefusal(gErr, undefined, ctx.requestId).body));
    return reply.type('application/json; charset=utf-8').send(JSON.stringify(gErr.body(ctx.requestId)));
  }

  function record(ctx: CallContext, status: number, err: GatewayError | undefined): void {
    const seconds = (performance.now() - ctx.startedAt) / 1000;
    const tool = ctx.tool?.name ?? '-';
    const outcome = err ? err.code : 'ok';
    const reason = err ? err.reason : 'allowed';
    const o = (ctx.outcome ??= { status });
    o.status = status;
    o.code = err?.code;
    o.reason = err?.reason;
    trust.observe(ctx);
    metrics.calls.labels(tool, ctx.operation?.name ?? '-', outcome, reason).inc();
    metrics.callDuration.labels(tool, outcome).observe(seconds);
    if (o.upstreamMs !== undefined) metrics.upstreamDuration.labels(tool).observe(o.upstreamMs / 1000);
    const p = ctx.principal;
    // Only ids, names, codes and timings: this logger has no redaction pass (observability/logger.ts).
    accessLogger.info({
      request_id: ctx.requestId,
      method: ctx.method,
      tool: ctx.tool?.name,
      operation: ctx.operation?.name,
      agent: p?.agentId,
      user: p?.userId ?? undefined,
      task_id: p?.taskId ?? undefined,
      status,
      outcome,
      reason,
      upstream_status: o.upstreamStatus,
      policy_revision: ctx.decision?.revision,
      duration_ms: round(seconds * 1000),
      upstream_ms: o.upstreamMs === undefined ? undefined : round(o.upstreamMs),
      client: ctx.clientIp,
    }, 'call');
  }

  /** The response has closed (sent, or the client left): a streamed answer's final audit event. */
  function closed(ctx: CallContext): void {
    if (ctx.relayed) audit.record('tool_call', callEventFields(ctx, 'final'));
  }

  return { relay, refuse, closed };
}

/** An MCP client gets a JSON-RPC answer: an error object, or input_required for a held call (2026-07-28). */
function mcpAnswer(ctx: CallContext, reply: FastifyReply, err: GatewayError): Record<string, unknown> {
  const mcp = ctx.mcp;
  if (err.reason === 'approval_required' && mcp?.modern && mcp.kind === 'request' && err.extra.approvalId !== undefined) {
    reply.code(200);
    return inputRequiredResult(mcp, err.extra.approvalId, err.body(ctx.requestId));
  }
  const r = rpcRefusal(err, mcp, ctx.requestId);
  reply.code(r.status);
  return r.body;
}

/** An MCP Streamable HTTP client: it names its protocol version, or accepts both JSON and an event stream. */
function speaksMcp(h: IncomingHttpHeaders): boolean {
  if (h['mcp-protocol-version'] !== undefined) return true;
  const accept = String(h.accept ?? '').toLowerCase();
  return accept.includes('application/json') && accept.includes('text/event-stream');
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/** What may be logged of an unexpected error: its type, code and message, never request data. */
function errorSummary(err: unknown): Record<string, unknown> {
  const e = err as { name?: string; code?: string; message?: string; stack?: string };
  return { type: e?.name, code: e?.code, message: e?.message, stack: e?.stack };
}
