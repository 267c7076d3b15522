/**
 * Stage 3 — may this agent act at all right now: the local audit log must be writable (no call acts
 * unrecorded), the registry must know the agent as `active` (no entry, no access), no kill or
 * revocation may cover the call, the agent's live trust score must be at or above the organisation
 * floor, and the call must fit its rate limits (per agent, per agent × tool, per agent × operation,
 * per delegating user). Every agent of a delegation chain is held to the registry, kill, revocation
 * and trust rules, not only the one presenting the token.
 * Kills, revocations and trust inputs are read from in-memory snapshots; only a shared rate limit
 * asks Redis, and falls back to a local limit when Redis does not answer in time.
 */
import type { AgentEntry, RuntimeConfig } from '../config/compile.js';
import type { Principal } from '../auth/principal.js';
import type { TrustNow } from '../trust/score.js';
import { GatewayError, type Reason } from '../errors.js';
import type { AuditPort, CallContext } from './context.js';
import type { Kill, StateStore } from '../state/store.js';
import type { RateCheck, RateResult } from '../trust/gcra.js';
import type { Trust } from '../trust/engine.js';
import type { AgentLookup } from '../directory/registry.js';

const RATE_REASON: Record<string, Reason> = { a: 'rate_limited_agent', t: 'rate_limited_tool', o: 'rate_limited_operation', u: 'rate_limited_user' };

export function createGuard(config: RuntimeConfig, deps: { audit: AuditPort; state: StateStore; trust: Trust; registry: AgentLookup }) {
  const { audit, state, trust } = deps;
  const agents = deps.registry;
  const limits = config.rateLimits;
  const floor = config.trust.floor;

  function limited(ctx: CallContext, checks: readonly RateCheck[], r: RateResult): void {
    if (r.ok) return;
    const c = checks[r.index]!;
    const reason = RATE_REASON[c.key.slice(0, 1)]!;
    const seconds = Math.max(1, Math.ceil(r.retryAfterMs / 1000));
    const p = ctx.principal!;
    const who =
      reason === 'rate_limited_user' ? `calls for user ${p.userId}`
      : reason === 'rate_limited_tool' ? `agent ${p.agentId} on ${ctx.tool!.name}`
      : reason === 'rate_limited_operation' ? `agent ${p.agentId} on ${ctx.tool!.name} ${ctx.operation!.name}`
      : `agent ${p.agentId}`;
    throw new GatewayError(reason, `The rate limit for ${who} (${c.rule.rate}, burst ${c.rule.burst}) is exhausted; retry in ${seconds}s.`, { headers: { 'retry-after': String(seconds) } });
  }

  /** The registry entry of a chain's agent, refused unless active. */
  function registered(id: string, role: string): AgentEntry {
    const agent = agents.get(id);
    if (!agent) throw new GatewayError('agent_unknown', `${role} ${JSON.stringify(id)} is not in the registry.`);
    if (agent.status === 'suspended') throw new GatewayError('agent_suspended', `${role} ${JSON.stringify(id)} is suspended.`);
    if (agent.status === 'retired') throw new GatewayError('agent_retired', `${role} ${JSON.stringify(id)} is retired.`);
    return agent;
  }

  function trusted(agent: AgentEntry, t: TrustNow, role: string): void {
    if (trust.belowFloor(t.level)) {
      throw new GatewayError('trust_too_low', `${role} ${JSON.stringify(agent.id)}'s trust level is ${t.level} (score ${t.score}), below the organisation floor (${floor}).`);
    }
  }

  /**
   * An earlier actor of a delegation chain (an orchestrator the presenting agent acts for) is held
   * to the same rules as if it presented the token itself: a killed, revoked, suspended or distrusted
   * orchestrator cannot keep acting through its sub-agents.
   */
  function checkActor(id: string, p: Principal): void {
    const role = 'Agent in the delegation chain';
    if (state.isRevoked({ jti: p.jti, agent: id, iat: p.iat })) throw new GatewayError('token_revoked', `The tokens of ${JSON.stringify(id)}, in this token's delegation chain, have been revoked.`);
    const agent = registered(id, role);
    const kill = state.killFor({ agent: id, user: null, tool: undefined });
    if (kill) throw killedError(kill);
    trusted(agent, trust.current(agent, null), role);
  }

  return function guard(ctx: CallContext): Promise<void> | undefined {
    if (!audit.healthy()) throw new GatewayError('audit_log_unwritable', 'The audit log cannot be written, so no call is forwarded.');
    if (!state.healthy()) throw new GatewayError('state_stale', 'Kills and revocations cannot be confirmed right now, so no call is forwarded.');
    const p = ctx.principal!;
    const revoked = tokenRevocation(state, p);
    if (revoked) throw revoked;
    const id = p.agentId;
    const agent = registered(id, 'Agent');
    ctx.agent = agent;
    const kill = state.killFor({ agent: id, user: p.userId, tool: ctx.tool?.name });
    if (kill) throw killedError(kill);

    const t = trust.current(agent, p.agentVersion);
    ctx.trust = t;
    trusted(agent, t, 'Agent');
    for (let i = 1; i < p.actors.length; i++) checkActor(p.actors[i]!, p);
    // A service-account token re-delegated to a sub-agent has the orchestrator as its subject: that
    // agent is held to the same rules as any other link of the chain.
    if (p.userId !== null && agents.has(p.userId)) checkActor(p.userId, p);

    const checks: RateCheck[] = [];
    const agentRule = agent.rateLimit ?? limits.agent;
    if (agentRule) checks.push({ key: `a:${id}`, rule: agentRule });
    const toolRule = ctx.tool!.rateLimit ?? limits.agentTool;
    if (toolRule) checks.push({ key: `t:${id}:${ctx.tool!.name}`, rule: toolRule });
    const op = ctx.operation;
    if (op?.rateLimit) checks.push({ key: `o:${id}:${ctx.tool!.name}:${op.name}`, rule: op.rateLimit });
    if (limits.user && p.userId !== null) checks.push({ key: `u:${p.userId}`, rule: limits.user });
    if (checks.length === 0) return undefined;
    const r = state.takeRate(checks);
    if (r instanceof Promise) return r.then((res) => limited(ctx, checks, res));
    limited(ctx, checks, r);
    return undefined;
  };
}

/** The refusal when the token, or one it was exchanged from (`parents`), has been revoked. */
export function tokenRevocation(state: StateStore, p: Principal): GatewayError | undefined {
  if (state.isRevoked({ jti: p.jti, agent: p.agentId, iat: p.iat })) return new GatewayError('token_revoked', 'The token has been revoked.');
  for (const parent of p.parents) {
    if (state.isRevoked({ jti: parent, agent: p.agentId, iat: p.iat })) return new GatewayError('token_revoked', 'A token this one was exchanged from has been revoked.');
  }
  return undefined;
}

export function killedError(kill: Kill): GatewayError {
  const t = kill.target;
  const [reason, what] =
    'all' in t ? (['killed_all', 'all calls'] as const)
    : 'agent' in t ? (['killed_agent', `agent ${t.agent}`] as const)
    : 'user' in t ? (['killed_user', `calls for user ${t.user}`] as const)
    : (['killed_tool', `tool ${t.tool}`] as const);
  // The operator's reason stays in the audit trail: it may say more than the agent should hear.
  return new GatewayError(reason, `The kill switch stops ${what} (kill ${kill.id}).`);
}
