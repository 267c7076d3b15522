/**
 * Stage 3 — may this agent act at all right now: the local audit log must be writable (no call acts
 * unrecorded), and the registry must know the agent as `active` (no entry, no access). The kill
 * switch, revocation and rate limits (issues #5 and #7) join here, reading in-memory snapshots so
 * the hot path never waits on Redis.
 */
import type { RuntimeConfig } from '../config/compile.js';
import { GatewayError } from '../errors.js';
import type { AuditPort, CallContext } from './context.js';
import type { Kill, StateStore } from '../state/store.js';

export function createGuard(config: RuntimeConfig, audit: AuditPort, state: StateStore) {
  const agents = config.agents;
  return function guard(ctx: CallContext): void {
    if (!audit.healthy()) throw new GatewayError('audit_log_unwritable', 'The audit log cannot be written, so no call is forwarded.');
    if (!state.healthy()) throw new GatewayError('state_stale', 'Kills and revocations cannot be confirmed right now, so no call is forwarded.');
    const p = ctx.principal!;
    if (state.isRevoked({ jti: p.jti, agent: p.agentId, iat: p.iat })) throw new GatewayError('token_revoked', 'The token has been revoked.');
    const id = p.agentId;
    const agent = agents.get(id);
    if (!agent) throw new GatewayError('agent_unknown', `Agent ${JSON.stringify(id)} is not in the registry.`);
    if (agent.status === 'suspended') throw new GatewayError('agent_suspended', `Agent ${JSON.stringify(id)} is suspended.`);
    if (agent.status === 'retired') throw new GatewayError('agent_retired', `Agent ${JSON.stringify(id)} is retired.`);
    ctx.agent = agent;
    const kill = state.killFor({ agent: id, user: p.userId, tool: ctx.tool?.name });
    if (kill) throw killedError(kill);
  };
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
