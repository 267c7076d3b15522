/**
 * `GET /approvals/:id` on the proxy listener: an agent whose call was answered `approval_pending`
 * polls the approval there (the answer's `Location`), with the same capability token. It sees only
 * its own approvals — same agent, same delegating user — and an unknown id and another's get the
 * same 404, so ids cannot be probed. Refusals take the proxy's path (audited, counted); a status
 * read is not an event.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError } from '../errors.js';
import { stored, type StateStore } from '../state/store.js';
import type { CallContext } from './context.js';
import { tokenRevocation } from './guard.js';

export interface ApprovalStatusDeps {
  readonly authenticate: (ctx: CallContext) => void | Promise<void>;
  readonly state: StateStore;
  readonly newContext: (request: FastifyRequest) => CallContext;
  readonly refuse: (ctx: CallContext, reply: FastifyReply, err: unknown) => FastifyReply | Promise<FastifyReply>;
}

export function createApprovalStatus(deps: ApprovalStatusDeps) {
  return async function approvalStatus(request: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply): Promise<FastifyReply> {
    const ctx = deps.newContext(request);
    try {
      await deps.authenticate(ctx);
      const p = ctx.principal!;
      const revoked = tokenRevocation(deps.state, p);
      if (revoked) throw revoked;
      const id = request.params.id;
      const a = await stored(deps.state.getApproval(id), 'Nothing was read');
      if (!a || a.fingerprint.agent !== p.agentId || a.fingerprint.user !== p.userId) {
        throw new GatewayError('not_found', `No approval ${JSON.stringify(id.slice(0, 64))} for this agent.`);
      }
      const expired = a.status === 'pending' && a.expires_at <= Date.now();
      const status = expired ? 'expired' : a.status === 'used' ? 'approved' : a.status;
      const body: Record<string, unknown> = { approval_id: a.id, status, expires_at: new Date(a.expires_at).toISOString() };
      if (a.status === 'used') body.used = true;
      if (a.decided_at) body.decided_at = a.decided_at;
      if (status === 'pending') reply.header('retry-after', '5');
      return reply.code(200).header('cache-control', 'no-store').header('portcullis-request-id', ctx.requestId).send(body);
    } catch (err) {
      return deps.refuse(ctx, reply, err);
    }
  };
}
