/**
 * The trust layer's admin API (docs/trust.md): the agent registry with live scores and recent
 * activity, one agent's breakdown, attestations from trust roots, and an operator's pin or cap.
 * Every change is an audit event naming who made it and the score before and after.
 */
import type { AgentLookup } from '../directory/registry.js';
import type { FastifyInstance } from 'fastify';
import type { AgentEntry, RuntimeConfig } from '../config/compile.js';
import { parseDuration } from '../config/units.js';
import { TRUST_LEVELS } from '../config/schema.js';
import { GatewayError } from '../errors.js';
import type { Metrics } from '../observability/metrics.js';
import type { AuditPort } from '../pipeline/context.js';
import { attestationKey, stored, type StateStore, type TrustOverride } from '../state/store.js';
import { createAttestationVerifier } from '../trust/attestations.js';
import type { Trust } from '../trust/engine.js';
import type { Activity } from '../trust/anomaly.js';
import { requireRole, type AdminAuthenticator } from './admin-auth.js';

const NOTHING_CHANGED = 'Nothing was changed';

export function registerTrustRoutes(app: FastifyInstance, config: RuntimeConfig, authenticate: AdminAuthenticator, deps: { state: StateStore; audit: AuditPort; metrics: Metrics; trust: Trust; registry: AgentLookup }): void {
  const { state, audit, trust } = deps;
  const readers = requireRole(authenticate, 'operator', 'auditor', 'admin');
  const writers = requireRole(authenticate, 'operator', 'admin');
  const verifyAttestation = createAttestationVerifier(config, deps.registry);

  function agentOr404(id: string): AgentEntry {
    const agent = deps.registry.get(id);
    if (!agent) throw new GatewayError('not_found', `No agent ${JSON.stringify(id)} in the registry.`);
    return agent;
  }

  function standing(agent: AgentEntry) {
    const b = trust.breakdown(agent);
    return { score: b.score, level: b.level, below_floor: b.below_floor };
  }

  app.get<{ Querystring: { level?: string; below_floor?: string } }>('/admin/agents', { preHandler: readers }, async (request) => {
    const { level, below_floor } = request.query;
    if (level !== undefined && !(TRUST_LEVELS as readonly string[]).includes(level)) {
      throw new GatewayError('body_invalid', `level must be one of ${TRUST_LEVELS.join(', ')}.`);
    }
    const agents = [];
    for (const agent of deps.registry.values()) {
      const t = standing(agent);
      if (level !== undefined && t.level !== level) continue;
      if (below_floor === 'true' && !t.below_floor) continue;
      const rule = agent.rateLimit ?? config.rateLimits.agent;
      agents.push({
        id: agent.id,
        owner: agent.owner,
        purpose: agent.purpose ?? null,
        roles: agent.roles,
        status: agent.status,
        max_classification: agent.maxClassification,
        version: agent.version ?? null,
        trust: t,
        rate_limit: rule ? { rate: rule.rate, burst: rule.burst } : null,
        activity: activityView(trust.activity(agent.id)),
      });
    }
    return { floor: config.trust.floor, levels: config.trust.levels, agents };
  });

  app.get<{ Params: { id: string } }>('/admin/agents/:id/trust', { preHandler: readers }, async (request) => {
    const agent = agentOr404(request.params.id);
    return { ...trust.breakdown(agent), activity: activityView(trust.activity(agent.id)) };
  });

  app.put<{ Params: { id: string } }>('/admin/agents/:id/trust', { preHandler: writers }, async (request) => {
    const agent = agentOr404(request.params.id);
    const body = (request.body ?? {}) as Record<string, unknown>;
    const reason = typeof body.reason === 'string' ? body.reason.trim().slice(0, 1000) : '';
    if (reason === '') throw new GatewayError('body_invalid', 'Say why: {"pin": 30, "reason": "..."} or {"cap": 40, "reason": "..."}; {"pin": null, "cap": null, "reason": "..."} lifts it.');
    const pin = score(body.pin, 'pin');
    const cap = score(body.cap, 'cap');
    if (pin !== null && cap !== null) throw new GatewayError('body_invalid', 'Send a "pin" or a "cap", not both.');
    let expiresAt: number | null = null;
    if (body.ttl !== undefined && body.ttl !== null) {
      const ms = typeof body.ttl === 'string' || typeof body.ttl === 'number' ? parseDuration(body.ttl) : undefined;
      if (ms === undefined || ms <= 0) throw new GatewayError('body_invalid', '"ttl" must be a duration like 30m or 24h.');
      expiresAt = Date.now() + ms;
    }
    const before = standing(agent);
    const by = request.admin!.subject;
    const override: TrustOverride | null = pin === null && cap === null ? null : { agent: agent.id, pin, cap, reason, by, at: new Date().toISOString(), expires_at: expiresAt };
    const previous = state.trustOverride(agent.id) ?? null;
    await stored(state.setTrustOverride(agent.id, override), NOTHING_CHANGED);
    const after = standing(agent);
    audit.record('trust_override', { action: override ? 'set' : 'lifted', agent: { id: agent.id }, by, override, previous, reason, trust: { after, before } });
    request.log.warn({ agent: agent.id, by, pin, cap, reason }, override ? 'trust score overridden by an operator' : 'trust override lifted');
    return { override, trust: after };
  });

  app.post('/admin/attestations', { preHandler: writers }, async (request, reply) => {
    const body = (request.body ?? {}) as Record<string, unknown>;
    const jwt = body.attestation;
    if (typeof jwt !== 'string' || jwt === '') throw new GatewayError('body_invalid', 'Send {"attestation": "<signed JWT>"}.');
    const by = request.admin!.subject;
    let attestation;
    try {
      attestation = await verifyAttestation(jwt, by);
      const held = state.attestations(attestation.agent).find((a) => attestationKey(a) === attestationKey(attestation!));
      if (held && held.iat > attestation.iat) {
        throw new GatewayError('attestation_superseded', `A newer ${attestation.kind} attestation from ${attestation.issuer} (issued ${new Date(held.iat * 1000).toISOString()}) is already held.`);
      }
    } catch (err) {
      if (err instanceof GatewayError) {
        deps.metrics.attestations.labels(err.extra.reasons?.[0] ?? err.reason).inc();
        // Never the JWT itself: only what was wrong with it.
        audit.record('attestation', { action: 'rejected', by, reasons: [err.reason, ...(err.extra.reasons ?? [])], message: err.message });
      }
      throw err;
    }
    const agent = agentOr404(attestation.agent);
    const before = standing(agent);
    await stored(state.setAttestation(attestation), NOTHING_CHANGED);
    const after = standing(agent);
    deps.metrics.attestations.labels('accepted').inc();
    audit.record('attestation', { action: 'accepted', agent: { id: agent.id }, attestation: { ...attestation }, by, trust: { after, before } });
    return reply.code(201).send({ attestation, trust: { before, after } });
  });
}

function score(v: unknown, name: string): number | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 100) throw new GatewayError('body_invalid', `"${name}" must be a score from 0 to 100, or null.`);
  return v;
}

function activityView(a: Activity | undefined) {
  if (!a) return null;
  return {
    last_call_at: new Date(a.lastCallAt).toISOString(),
    last_version: a.lastVersion,
    calls: a.calls,
    refusals: a.refusals,
    interval: { ...a.interval, start: new Date(a.interval.start).toISOString() },
    baseline: a.baseline,
    learning: a.learning,
    tools: a.tools,
  };
}
