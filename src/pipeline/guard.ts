/**
 * Stage 3 — may this agent act at all right now: the local audit log must be writable (no call acts
 * unrecorded), and the registry must know the agent as `active` (no entry, no access). The kill
 * switch, revocation and rate limits (issues #5 and #7) join here, reading in-memory snapshots so
 * the hot path never waits on Redis.
 */
import type { RuntimeConfig } from '../config/compile.js';
import { GatewayError } from '../errors.js';
import type { AuditPort, CallContext } from './context.js';

export function createGuard(config: RuntimeConfig, audit: AuditPort) {
  const agents = config.agents;
  return function guard(ctx: CallContext): void {
    if (!audit.healthy()) throw new GatewayError('audit_log_unwritable', 'The audit log cannot be written, so no call is forwarded.');
    const id = ctx.principal!.agentId;
    const agent = agents.get(id);
    if (!agent) throw new GatewayError('agent_unknown', `Agent ${JSON.stringify(id)} is not in the registry.`);
    if (agent.status === 'suspended') throw new GatewayError('agent_suspended', `Agent ${JSON.stringify(id)} is suspended.`);
    if (agent.status === 'retired') throw new GatewayError('agent_retired', `Agent ${JSON.stringify(id)} is retired.`);
    ctx.agent = agent;
  };
}
