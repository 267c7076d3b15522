/**
 * Stage 4 — is this call allowed. First the token's scopes must cover the operation's `tool:action`
 * (a token is a capability: it bounds what the agent may even ask for). Then the Decider: the
 * compiled Rego policy (src/policy/engine.ts). Any decider failure is a refusal, never an allow.
 * A decision that needs approval passes on to the hold stage.
 */
import { hasScope, namesTool } from '../auth/principal.js';
import { GatewayError } from '../errors.js';
import type { CallContext, Decision } from './context.js';

export interface Decider {
  decide(ctx: CallContext): Decision | Promise<Decision>;
}

const MCP_RULE: Decision = Object.freeze({ allow: true, approvalRequired: false, reasons: Object.freeze(['mcp control message: passes by rule']), revision: 'mcp-rule' });

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
    const op = ctx.operation;
    if (!op) {
      // An MCP message that touches no tool data (initialize, ping, tools/list, a GET stream…):
      // passes by rule (src/mcp/protocol.ts) for a token that names this tool at all.
      const tool = ctx.tool!.name;
      if (!namesTool(ctx.principal!, tool)) throw new GatewayError('scope_missing', `The token's scopes name no action of ${tool}.`);
      ctx.decision = MCP_RULE;
      return undefined;
    }
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
