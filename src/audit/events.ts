/**
 * What an audit event says about a call (docs/audit.md, schema v1; fields are only ever added).
 * Built from the request context at the end of the call — or, for a high-risk call, before it is
 * forwarded. Never a token, a credential or a header value: ids, names, codes, digests and timings.
 */
import type { CallContext } from '../pipeline/context.js';
import { redactPaths } from '../pipeline/body.js';
import { IN_ORDER } from './chain.js';
import { isoClock } from '../observability/iso-time.js';

const MAX_PATH = 2048;

/** When the call arrived, as ISO 8601 (calls that end together mostly arrived in the same millisecond). */
const startTime = isoClock();

/** The fields of a `tool_call` (or `tool_call_intent`) event. */
export function callEventFields(ctx: CallContext, phase: 'intent' | 'relaying' | 'final'): Record<string, unknown> {
  const p = ctx.principal;
  const agent = ctx.agent;
  const d = ctx.decision;
  const o = ctx.outcome;
  const now = performance.now();
  // Every key in code-unit order, the chain's own (null placeholders, set when sealed) included:
  // the audit writer then serialises the event in one native JSON.stringify (chain.ts). Only what a
  // client chose the shape of (a captured body, MCP arguments and ids) is left to the writer's check.
  // One plain literal: optional keys are `undefined` when absent (JSON.stringify and canonical() leave
  // them out), and the computed mark comes last — a spread or a computed key earlier would build the
  // rest of the object key by key instead of from the literal's template.
  return {
    action: ctx.operation?.action ?? null,
    agent: p ? { id: p.agentId, owner: agent?.owner ?? null, version: agent?.version ?? null } : null,
    approval: ctx.approval ? { approver: ctx.approval.approver, id: ctx.approval.id } : null,
    chain: null,
    classification: ctx.tool?.classification ?? null,
    client: { ip: ctx.clientIp },
    decision: d
      ? { policy_revision: d.revision, reasons: d.reasons, result: d.approvalRequired ? 'approval_required' : d.allow ? 'allow' : 'deny' }
      : null,
    delegation: p?.delegation ?? [],
    mcp: ctx.mcp ? mcpFields(ctx) : undefined,
    operation: ctx.operation?.name ?? null,
    outcome:
      phase === 'intent'
        ? { error: null, reason: null, result: 'forwarding', status: null }
        : {
            // A streamed answer: how many bytes went out, once it ended.
            bytes_relayed: phase === 'final' ? ctx.relay?.bytes : undefined,
            error: o?.code ?? null,
            killed_by: ctx.killedBy,
            reason: o?.reason ?? (phase === 'final' && ctx.relay && !ctx.relay.complete ? ctx.relay.error ?? 'client_aborted' : null),
            result: resultOf(ctx, phase),
            status: o?.status ?? null,
            upstream_status: o?.upstreamStatus ?? null,
          },
    prev: null,
    request: {
      body: ctx.body?.captured,
      body_bytes: ctx.body?.bytes ?? null,
      body_sha256: ctx.body?.sha256 ?? null,
      method: ctx.method,
      path: requestPath(ctx),
    },
    request_id: ctx.requestId,
    risk: ctx.operation?.risk ?? null,
    seq: null,
    task_id: p?.taskId ?? null,
    timing: {
      duration_ms: round(now - ctx.startedAt),
      start: startTime(Math.trunc(Date.now() - (now - ctx.startedAt))),
      upstream_ms: o?.upstreamMs === undefined ? null : round(o.upstreamMs),
    },
    tool: ctx.tool?.name ?? null,
    trust: ctx.trust ? { level: ctx.trust.level, score: ctx.trust.score } : null,
    ts: null,
    type: null,
    user: p?.userId ? { id: p.userId, roles: p.userRoles } : null,
    v: null,
    [IN_ORDER]: ctx.mcp === undefined && ctx.body?.captured === undefined,
  };
}

/** What an MCP exchange adds: the method and tool, the arguments' digest (their content only where the tool opts in). */
function mcpFields(ctx: CallContext): Record<string, unknown> {
  const m = ctx.mcp!;
  const capture = ctx.tool?.captureBody;
  return {
    ...(capture && m.arguments ? { arguments: redactPaths(m.arguments, capture.redact) } : {}),
    arguments_sha256: m.argumentsSha256 ?? null,
    id: typeof m.id === 'string' ? clip(m.id) : m.id ?? null,
    kind: m.kind ?? null,
    method: m.method === undefined ? null : clip(m.method),
    ...(m.answers !== undefined ? { answers: m.answers } : {}),
    ...(m.uri !== undefined ? { uri: clip(m.uri) } : {}),
    ...(m.prompt !== undefined ? { prompt: clip(m.prompt) } : {}),
    revision: m.revision === null ? null : clip(m.revision),
    session: m.session === null ? null : clip(m.session),
    tool: m.tool ?? null,
    ...(m.listing ? { tools_hidden: m.listing.hidden, tools_shown: m.listing.shown } : {}),
    transport: m.transport,
  };
}

/** Client-chosen strings (ids, session ids) are kept, but bounded. */
function clip(s: string): string {
  return s.length > 256 ? `${s.slice(0, 256)}…` : s;
}

/**
 * What became of the call. A call cut by the kill switch after its response began still ends as
 * "killed"; a streamed answer whose body did not arrive whole (the upstream reset or stalled, or
 * the client left) as "truncated"; the record written as it starts to stream, "relaying".
 */
function resultOf(ctx: CallContext, phase: 'relaying' | 'final'): string {
  const o = ctx.outcome;
  if (ctx.killedBy !== undefined) return 'killed';
  if (o?.code) return o.status >= 500 && o.code !== 'policy_unavailable' && o.code !== 'audit_unavailable' ? 'error' : 'refused';
  if (phase === 'relaying') return 'relaying';
  return ctx.relay && !ctx.relay.complete ? 'truncated' : 'ok';
}

/** The fields of an `auth_failure` event: who knocked, never what they presented. */
export function authFailureFields(ctx: CallContext): Record<string, unknown> {
  const o = ctx.outcome;
  const now = performance.now();
  return {
    chain: null,
    client: { ip: ctx.clientIp },
    outcome: { error: o?.code ?? 'invalid_token', reason: o?.reason ?? null, result: 'refused', status: o?.status ?? 401 },
    prev: null,
    request: { method: ctx.method, path: requestPath(ctx) },
    request_id: ctx.requestId,
    seq: null,
    timing: { duration_ms: round(now - ctx.startedAt), start: startTime(Math.trunc(Date.now() - (now - ctx.startedAt))) },
    ts: null,
    type: null,
    v: null,
    [IN_ORDER]: true,
  };
}

/** The decoded tool path once resolved; before that the raw path without its query (which may hold a token). */
function requestPath(ctx: CallContext): string {
  // Decoded segments are well-formed UTF-8 (request-path.ts refuses anything else), so canonical JSON accepts them.
  if (ctx.tool && ctx.segments) return `/tools/${ctx.tool.name}/${ctx.segments.join("/")}`;
  const q = ctx.url.indexOf('?');
  const raw = q < 0 ? ctx.url : ctx.url.slice(0, q);
  return raw.length > MAX_PATH ? `${raw.slice(0, MAX_PATH)}…` : raw;
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
