/**
 * The approvers' API. An approver holds the approver (or admin) role, is neither the delegating user
 * nor the agent's owner (separation of duties), and — with `approvals.require_mfa` — shows recent MFA
 * in the token (`amr`, `auth_time`). Decisions are atomic in the store: of two approvers racing, or an
 * approve racing a deny, exactly one wins and the other gets 409.
 */
import { presented } from '../pipeline/approval-capture.js';
import type { FastifyInstance } from 'fastify';
import type { RuntimeConfig } from '../config/compile.js';
import { GatewayError } from '../errors.js';
import type { AuditPort } from '../pipeline/context.js';
import { stored, type Approval, type StateStore } from '../state/store.js';
import { recentMfa, requireRole, type AdminAuthenticator, type AdminPrincipal } from './admin-auth.js';
import type { Trust } from '../trust/engine.js';

export function registerApprovalRoutes(app: FastifyInstance, config: RuntimeConfig, authenticate: AdminAuthenticator, state: StateStore, audit: AuditPort, trust: Trust): void {
  const readers = requireRole(authenticate, 'approver', 'auditor', 'operator', 'admin');

  app.get<{ Querystring: { status?: string } }>('/admin/approvals', { preHandler: readers }, async (request) => {
    const all = (await state.listApprovals()).map(withExpiry);
    const status = request.query.status;
    return { approvals: status ? all.filter((x) => x.status === status) : all };
  });

  app.get<{ Params: { id: string } }>('/admin/approvals/:id', { preHandler: readers }, async (request) => {
    const approval = await state.getApproval(request.params.id);
    if (!approval) throw new GatewayError('not_found', `No approval ${JSON.stringify(request.params.id)}.`);
    return withExpiry(approval);
  });

  for (const verb of ['approve', 'deny'] as const) {
    app.post<{ Params: { id: string }; Body: { comment?: unknown } }>(
      `/admin/approvals/:id/${verb}`,
      { preHandler: requireRole(authenticate, 'approver', 'admin') },
      async (request) => {
        const who = request.admin!;
        const comment = typeof request.body?.comment === 'string' ? request.body.comment.slice(0, 2000) : '';
        const current = await stored(state.getApproval(request.params.id), 'Nothing was decided');
        if (!current) throw new GatewayError('not_found', `No approval ${JSON.stringify(request.params.id)}.`);
        checkApprover(who, current, config);
        const t = await stored(state.decideApproval(current.id, verb === 'approve' ? 'approved' : 'denied', who.subject, comment), 'Nothing was decided');
        if (!t.ok) {
          if (t.why === 'expired') audit.record('approval', { action: 'expired', approval: presented(t.approval!) });
          throw new GatewayError('approval_decided', `The approval is ${t.approval?.status ?? 'gone'}; it can no longer be ${verb === 'approve' ? 'approved' : 'denied'}.`);
        }
        audit.record('approval', { action: t.approval.status, approval: presented(t.approval), by: who.subject });
        // A human refusing what the agent asked for is evidence about the agent (docs/trust.md).
        if (verb === 'deny') trust.signal(t.approval.fingerprint.agent, 'approval_denied', t.approval.id);
        return presented(t.approval);
      },
    );
  }
}

function checkApprover(who: AdminPrincipal, approval: Approval, config: RuntimeConfig): void {
  if (approval.fingerprint.user !== null && who.subject === approval.fingerprint.user) {
    throw new GatewayError('approver_conflict', 'The delegating user cannot approve their own call.');
  }
  if (approval.owner !== null && who.subject === approval.owner) {
    throw new GatewayError('approver_conflict', "The agent's owner cannot approve the agent's call.");
  }
  if (config.approvals.requireMfa) {
    if (who.breakGlass || !recentMfa(who.claims, config.approvals.mfaMaxAgeSec)) {
      throw new GatewayError('approver_mfa_required', `Approvals need a sign-in with MFA within the last ${config.approvals.mfaMaxAgeSec}s (amr and auth_time in the token).`);
    }
  }
}

function withExpiry(a: Approval): Approval {
  return presented(a.status === 'pending' && a.expires_at <= Date.now() ? { ...a, status: 'expired' } : a);
}
