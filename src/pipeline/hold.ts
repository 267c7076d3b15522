/**
 * Stage 5 — calls the policy marks `approval_required` wait for a human. Approvals (the store, the
 * held connection, the retry with `Portcullis-Approval`) arrive with issue #5; until then such a call
 * is answered `approval_pending` (202) and not forwarded — failing closed, with the policy's reasons.
 */
import { GatewayError } from '../errors.js';
import type { CallContext } from './context.js';

export function createHold() {
  return function hold(ctx: CallContext): void {
    const decision = ctx.decision!;
    if (!decision.approvalRequired) return;
    throw new GatewayError('approval_required', 'This call needs a human approver. Approvals are not enabled in this version, so it was not forwarded.', {
      reasons: decision.reasons,
      policyRevision: decision.revision,
    });
  };
}
