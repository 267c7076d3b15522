/**
 * Stage 4 — is this call allowed. First the token's scopes must cover the operation's `tool:action`
 * (a token is a capability: it bounds what the agent may even ask for). Then the Decider: the
 * compiled Rego policy (src/policy/engine.ts). Any decider failure is a refusal, never an allow.
 * A decision that needs approval passes on to the hold stage.
 */
import { hasScope } from '../auth/principal.js';
import { GatewayError } from '../errors.js';
import type { CallContext, Decision } from './context.js';

export interface Decider {
  decide(ctx: CallContext): Decision | Promise<Decision>;
}

export function createDecide(decider: Decider) {
  const failed = (err: unknown) => new GatewayError('policy_error', 'The policy could not be evaluated, so the call is refused.', { cause: err });

  function apply(ctx: CallContext, decision: Decision): void {
    ctx.decision = decision;
    if (decision.approvalRequired) return;
    if (!decision.allow) {
      throw new GatewayError('policy_denied', 'The policy does not permit this call.', { reasons: decision.reasons, policyRevision: decision.revision });
    }
  }

  // Synchronous when the decider is (the in-process engine is): no promise on the hot path.
  return function decide(ctx: CallContext): Promise<void> | undefined {
    const op = ctx.operation!;
    if (!hasScope(ctx.principal!, ctx.tool!.name, op.scope)) {
      throw new GatewayError('scope_missing', `The token's scopes do not include ${op.scope}.`);
    }
    let result: Decision | Promise<Decision>;
    try {
      result = decider.decide(ctx);
    } catch (err) {
      throw failed(err);
    }
    if (result instanceof Promise) {
      return result.then(
        (d) => apply(ctx, d),
        (err: unknown) => {
          throw failed(err);
        },
      );
    }
    apply(ctx, result);
    return undefined;
  };
}
