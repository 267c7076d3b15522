/**
 * Stage 4 — is this call allowed. First the token's scopes must cover the operation's `tool:action`
 * (a token is a capability: it bounds what the agent may even ask for). Then the Decider — the seam
 * where the compiled Rego policy plugs in (issue #3). Any decider failure is a refusal, never an allow.
 */
import { hasScope } from '../auth/principal.js';
import { GatewayError } from '../errors.js';
import type { CallContext, Decision } from './context.js';

export interface Decider {
  decide(ctx: CallContext): Decision | Promise<Decision>;
}

/** The decider used until a policy bundle is configured: registry + scope only, and it says so. */
export const scopeOnlyDecider: Decider = {
  decide(ctx) {
    return { allow: true, approvalRequired: false, reasons: [`scope ${ctx.operation!.scope}`], revision: 'scope-only' };
  },
};

export function createDecide(decider: Decider) {
  return async function decide(ctx: CallContext): Promise<void> {
    const op = ctx.operation!;
    if (!hasScope(ctx.principal!, ctx.tool!.name, op.scope)) {
      throw new GatewayError('scope_missing', `The token's scopes do not include ${op.scope}.`);
    }
    let decision: Decision;
    try {
      decision = await decider.decide(ctx);
    } catch (err) {
      throw new GatewayError('policy_error', 'The policy could not be evaluated.', { cause: err });
    }
    ctx.decision = decision;
    if (!decision.allow) throw new GatewayError('policy_denied', 'The policy does not permit this call.', { reasons: decision.reasons });
  };
}
