/**
 * Stage 5 — a call the policy marks `approval_required` waits for a named human (SPEC "Approvals").
 * The call is bound to an approval by its fingerprint (agent, user, tool, operation, method, path,
 * query, body digest). It is held up to `approvals.hold`: approved in time, it proceeds; denied, it is
 * refused. Otherwise the agent gets 202 `approval_pending` and may repeat the identical call with
 * `Portcullis-Approval: <id>` (an MCP client simply repeats it: the approval is bound to the call);
 * an approval is used at most once, even across replicas.
 */
import { randomUUID } from 'node:crypto';
import type { RuntimeConfig } from '../config/compile.js';
import { GatewayError, type Reason } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { sameFingerprint, stored, type Approval, type Fingerprint, type StateStore, type Transition } from '../state/store.js';
import type { CallAbort } from './call-abort.js';
import type { AuditPort, CallContext } from './context.js';
import { notifyApprovers } from './approval-notify.js';
import { captureCall, presented as forAudit } from './approval-capture.js';

const NOT_FORWARDED = 'The approval step could not be recorded, so the call was not forwarded';

export function createHold(config: RuntimeConfig, deps: { state: StateStore; audit: AuditPort; logger: Logger; draining: CallAbort }) {
  const { state, audit } = deps;
  const a = config.approvals;

  // Synchronous for the common call (no approval needed): no promise on the hot path.
  return function hold(ctx: CallContext): Promise<void> | undefined {
    return ctx.decision!.approvalRequired ? held(ctx) : undefined;
  };

  async function held(ctx: CallContext): Promise<void> {
    const decision = ctx.decision!;
    // The approval is bound to the body's digest (read by the body stage); an MCP call's approval
    // binds to the tool call's arguments.
    const fp = fingerprint(ctx);
    // A 2026-07-28 MCP client is answered input_required instead of being held; each of its retry
    // legs waits a little for the human (approvals.input_required_wait).
    const waitMs = ctx.mcp?.modern ? a.inputRequiredWaitMs : a.holdMs;
    const header = ctx.raw.headers['portcullis-approval'];
    let presented = ctx.mcp?.approvalId ?? (typeof header === 'string' && header !== '' ? header : undefined);
    if (presented === undefined && ctx.mcp) {
      // A stock MCP client cannot send our header: repeating the identical call presents the approval
      // it is bound to, and a retry of a pending call waits on that approval instead of opening another.
      const standing = await stored(state.findApproval(fp), NOT_FORWARDED);
      if (standing?.status === 'denied') throw refusal('approval_rejected', standing.id, standing);
      presented = standing?.id;
    }

    if (presented !== undefined) {
      let t = await stored(state.consumeApproval(presented, fp), NOT_FORWARDED);
      // An MCP retry waits on its own call's approval (another call's would end in approval_mismatch anyway).
      if (!t.ok && t.why === 'not_approved' && t.approval?.status === 'pending' && ctx.mcp && sameFingerprint(t.approval.fingerprint, fp)) {
        const decided = await waitForDecision(state, presented, waitMs, ctx.abort.signal, deps.draining);
        if (decided?.status === 'denied') throw refusal('approval_rejected', presented, decided);
        if (decided?.status === 'approved') t = await stored(state.consumeApproval(presented, fp), NOT_FORWARDED);
      }
      return release(ctx, presented, t);
    }

    const now = Date.now();
    const approval: Approval = {
      id: `apr-${randomUUID()}`,
      status: 'pending',
      fingerprint: fp,
      reasons: decision.reasons,
      request_id: ctx.requestId,
      owner: ctx.agent?.owner ?? null,
      created_at: new Date(now).toISOString(),
      expires_at: now + a.ttlMs,
      call: { ...captureCall(ctx) },
    };
    await stored(state.createApproval(approval), NOT_FORWARDED);
    audit.record('approval', { action: 'requested', approval: forAudit(approval) });
    notifyApprovers(a.webhook, approval, deps.logger);

    const decided = await waitForDecision(state, approval.id, waitMs, ctx.abort.signal, deps.draining);
    if (decided?.status === 'approved') return release(ctx, approval.id, await stored(state.consumeApproval(approval.id, fp), NOT_FORWARDED));
    if (decided?.status === 'denied') throw refusal('approval_rejected', approval.id, decided);
    throw pending(ctx, approval.id, decision.reasons, decision.revision);
  }

  function release(ctx: CallContext, id: string, t: Transition): void {
    if (t.ok) {
      ctx.approval = { id, approver: t.approval.decided_by ?? '' };
      audit.record('approval', { action: 'used', approval: forAudit(t.approval), request_id: ctx.requestId });
      return;
    }
    if (t.why === 'expired') audit.record('approval', { action: 'expired', approval: forAudit(t.approval!) });
    if (t.why === 'not_approved' && t.approval?.status === 'pending') throw pending(ctx, id, t.approval.reasons, ctx.decision!.revision);
    const reason: Reason =
      t.why === 'unknown' ? 'approval_unknown'
      : t.why === 'mismatch' ? 'approval_mismatch'
      : t.why === 'expired' || t.approval?.status === 'expired' ? 'approval_expired'
      : t.approval?.status === 'used' ? 'approval_used'
      : 'approval_rejected';
    throw refusal(reason, id, t.approval);
  }

  function pending(ctx: CallContext, id: string, reasons: readonly string[], revision: string): GatewayError {
    // The agent polls its approval on the proxy listener (src/pipeline/approval-status.ts).
    const path = `/approvals/${id}`;
    const url = pollUrl(ctx, path);
    const how = ctx.mcp
      ? `Poll GET ${url} with the same token, and repeat the identical call once it is approved.`
      : `Repeat the identical call with the header Portcullis-Approval: ${id} once it is approved.`;
    return new GatewayError('approval_required', `This call waits for a human approver (approval ${id}). ${how}`, {
      reasons,
      policyRevision: revision,
      approvalId: id,
      approvalUrl: url,
      headers: { location: path, 'retry-after': String(a.retryAfterSec) },
    });
  }
}

/** The approval's address as this caller reached the gateway; the path alone when its Host is not a plain host[:port]. */
function pollUrl(ctx: CallContext, path: string): string {
  const host = ctx.raw.headers.host;
  if (host === undefined || !/^[A-Za-z0-9.-]+(?::\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](?::\d{1,5})?$/.test(host)) return path;
  const tls = (ctx.raw.socket as { encrypted?: boolean }).encrypted === true;
  return `${tls ? 'https' : 'http'}://${host}${path}`;
}

function refusal(reason: Reason, id: string, approval: Approval | undefined): GatewayError {
  const messages: Partial<Record<Reason, string>> = {
    approval_rejected: 'A human approver refused this call.',
    approval_unknown: 'No such approval.',
    approval_used: 'This approval was already used; an approval releases one call.',
    approval_expired: 'This approval has expired.',
    approval_mismatch: 'This approval was given for a different call (agent, user, tool, operation, path, query or body differ).',
  };
  // The approver's comment explains a refusal; it is not repeated for other refusals.
  const comment = reason === 'approval_rejected' && approval?.comment ? [approval.comment] : [];
  return new GatewayError(reason, messages[reason], { approvalId: id, reasons: comment });
}

function fingerprint(ctx: CallContext): Fingerprint {
  const mcp = ctx.mcp;
  if (mcp) {
    // Bound to the tool call, not the JSON-RPC envelope: a retry has a new id (and, on 2026-07-28, a requestState).
    return {
      agent: ctx.principal!.agentId,
      user: ctx.principal!.userId,
      tool: ctx.tool!.name,
      operation: ctx.operation!.name,
      method: mcp.method ?? ctx.method,
      path: '/' + (mcp.tool ?? mcp.prompt ?? mcp.uri ?? ''),
      query: '',
      body_sha256: mcp.argumentsSha256 ?? ctx.body?.sha256 ?? null,
    };
  }
  return {
    agent: ctx.principal!.agentId,
    user: ctx.principal!.userId,
    tool: ctx.tool!.name,
    operation: ctx.operation!.name,
    method: ctx.method,
    path: '/' + (ctx.segments ?? []).join('/'),
    query: ctx.query ?? '',
    body_sha256: ctx.body?.sha256 ?? null,
  };
}

/** Resolves with the approval once decided, or undefined at the deadline; rejects if the call is aborted (kill, client gone). */
/**
 * Waits for a human's decision up to `holdMs`. Ends early, undecided, when the gateway starts to shut
 * down (`draining`): the held call is then answered approval_pending with its approval id, so the
 * agent can repeat it on another replica, instead of being dropped with the connection.
 */
function waitForDecision(state: StateStore, id: string, holdMs: number, signal: CallAbort, draining: CallAbort): Promise<Approval | undefined> {
  if (draining.aborted) return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (v: Approval | undefined, err?: unknown) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      off();
      signal.removeEventListener('abort', onAbort);
      draining.removeEventListener('abort', onDrain);
      if (err !== undefined) reject(err);
      else resolve(v);
    };
    const off = state.onChange((c) => {
      if (c.type === 'approval' && c.approval.id === id && c.approval.status !== 'pending') finish(c.approval);
    });
    const onAbort = () => finish(undefined, signal.reason instanceof GatewayError ? signal.reason : new GatewayError('client_aborted', 'The call was abandoned while it waited for approval.'));
    signal.addEventListener('abort', onAbort);
    const onDrain = () => finish(undefined);
    draining.addEventListener('abort', onDrain);
    const timer = setTimeout(() => finish(undefined), holdMs);
    // A decision may have landed between creating the approval and subscribing.
    state.getApproval(id).then(
      (cur) => {
        if (cur && cur.status !== 'pending') finish(cur);
      },
      () => undefined, // the change feed or the deadline still ends the wait
    );
  });
}
