/**
 * The trust layer at run time (docs/trust.md): turns what agents do into behaviour signals, watches
 * for anomalies, computes each agent's score and level on demand, and reports level changes (audit
 * event, metric, log line, webhook). Inputs live in the state store, so every replica computes the
 * same score from the same signals, attestations and overrides.
 */
import type { AgentLookup } from '../directory/registry.js';
import { randomUUID } from 'node:crypto';
import { Gauge } from 'prom-client';
import type { AgentEntry, RuntimeConfig } from '../config/compile.js';
import type { SignalKind } from '../config/compile-trust.js';
import { TRUST_LEVELS, type TrustLevel } from '../config/schema.js';
import type { Reason } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { AuditPort, CallContext } from '../pipeline/context.js';
import { postWebhook } from '../pipeline/approval-notify.js';
import type { StateStore } from '../state/store.js';
import { AnomalyDetector, type Activity, type Anomaly } from './anomaly.js';
import { belowFloor, computeTrust, type Breakdown, type TrustNow } from './score.js';

/** Refusals that say something about the agent (not about the gateway, the kill switch or the trust gate itself). */
const SIGNAL_FOR: Partial<Record<Reason, SignalKind>> = {
  policy_denied: 'policy_violation',
  scope_missing: 'refusal',
  tool_unknown: 'refusal',
  operation_unknown: 'refusal',
  mcp_tool_unknown: 'refusal',
  mcp_resource_unknown: 'refusal',
  mcp_prompt_unknown: 'refusal',
  mcp_method_unknown: 'refusal',
  mcp_method_refused: 'refusal',
  mcp_origin_refused: 'refusal',
  path_traversal: 'refusal',
  path_encoded_separator: 'refusal',
  path_double_encoding: 'refusal',
  path_nul: 'refusal',
  approval_mismatch: 'refusal',
  approval_used: 'refusal',
  rate_limited_agent: 'rate_limited',
  rate_limited_tool: 'rate_limited',
  rate_limited_operation: 'rate_limited',
  rate_limited_user: 'rate_limited',
};

/** Signals kept per agent and kind per second; past it they are coalesced (a flood costs what its first second costs). */
const SIGNALS_PER_SECOND = 20;
const LEVEL_NOTICE_DEDUP_MS = 5_000;

export interface Trust {
  /** The agent's score and level for this call (the token's agent_version gives the posture). */
  current(agent: AgentEntry, version: string | null): TrustNow;
  /** Whether a level is below the organisation-wide floor. */
  belowFloor(level: TrustLevel): boolean;
  /** What a finished call says about its agent: refusal signals, anomalies, activity. */
  observe(ctx: CallContext): void;
  /** Records a behaviour signal (e.g. an approver's denial). */
  signal(agent: string, kind: SignalKind, detail: string): void;
  /** Everything that makes up the agent's score right now. */
  breakdown(agent: AgentEntry): Breakdown;
  activity(agent: string): Activity | undefined;
  start(): void;
  close(): void;
}

export interface TrustDeps {
  readonly state: StateStore;
  readonly audit: AuditPort;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** The live agent registry. */
  readonly registry: AgentLookup;
  readonly now?: () => number;
}

export function createTrust(config: RuntimeConfig, deps: TrustDeps): Trust {
  const tc = config.trust;
  const { state, audit, metrics, logger } = deps;
  const now = deps.now ?? Date.now;
  const detector = new AnomalyDetector(tc.anomalies);
  // Levels that differ from an agent's resting level (baseline + posture), as last reported.
  const reported = new Map<string, TrustLevel>();
  const rate = new Map<string, { second: number; n: number }>();
  let sweep: NodeJS.Timeout | undefined;
  let unsubscribe: (() => void) | undefined;

    new Gauge({
      name: 'portcullis_agents_by_trust_level',
      help: 'Registered agents by their current trust level (with their last seen version).',
      labelNames: ['level'],
      registers: [metrics.registry],
      collect() {
        const counts = Object.fromEntries(TRUST_LEVELS.map((l) => [l, 0])) as Record<TrustLevel, number>;
        for (const agent of deps.registry.values()) counts[current(agent, lastVersion(agent.id)).level]++;
        for (const l of TRUST_LEVELS) this.labels(l).set(counts[l]);
      },
    });

  function inputs(id: string) {
    return { signals: state.signals(id), attestations: state.attestations(id), override: state.trustOverride(id) };
  }

  function lastVersion(id: string): string | null {
    return detector.activity(id)?.lastVersion ?? null;
  }

  function current(agent: AgentEntry, version: string | null): TrustNow {
    return computeTrust(tc, agent, version, inputs(agent.id), now());
  }

  function breakdown(agent: AgentEntry): Breakdown {
    return computeTrust(tc, agent, lastVersion(agent.id), inputs(agent.id), now(), true);
  }

  /** Reports a level change once (per replica: audit, metric, log; across replicas: one webhook). */
  function checkLevel(id: string): void {
    const agent = deps.registry.get(id);
    if (!agent) return;
    const version = lastVersion(id);
    const resting = computeTrust(tc, agent, version, { signals: [], attestations: [], override: undefined }, now()).level;
    const before = reported.get(id) ?? resting;
    const t = breakdown(agent);
    if (t.level === resting) reported.delete(id);
    else reported.set(id, t.level);
    if (t.level === before) return;
    metrics.trustLevelChanges.labels(before, t.level).inc();
    const c = t.components;
    const fields = {
      agent: { id },
      trust: {
        from: before,
        to: t.level,
        score: t.score,
        computed: t.computed,
        floor: t.floor,
        below_floor: t.below_floor,
        points: { attestations: c.attestations.points, baseline: c.baseline.points, behaviour: c.behaviour.points, posture: c.posture.points },
        operator: c.operator ? { by: c.operator.by, effect: c.operator.effect, reason: c.operator.reason } : null,
        signals: Object.fromEntries(Object.entries(c.behaviour.signals).filter(([, v]) => v.count > 0).map(([k, v]) => [k, { count: v.count, points: v.points }])),
      },
    };
    audit.record('trust_level', fields);
    const rank = (l: TrustLevel) => TRUST_LEVELS.indexOf(l);
    const line = { agent: id, from: before, to: t.level, score: t.score, below_floor: t.below_floor };
    if (rank(t.level) < rank(before)) logger.warn(line, t.below_floor ? 'agent trust below the organisation floor: its calls are refused' : 'agent trust level dropped');
    else logger.info(line, 'agent trust level rose');
    if (tc.webhook) {
      const url = tc.webhook;
      void state.claimOnce(`trust-level:${id}:${before}>${t.level}`, LEVEL_NOTICE_DEDUP_MS).then(
        (first) => {
          if (first) postWebhook(url, JSON.stringify({ event: 'trust.level_changed', at: t.at, ...fields, breakdown: `GET /admin/agents/${id}/trust` }), logger, { agent: id });
        },
        () => postWebhook(url, JSON.stringify({ event: 'trust.level_changed', at: t.at, ...fields }), logger, { agent: id }),
      );
    }
  }

  function signal(agent: string, kind: SignalKind, detail: string): void {
    const weight = tc.signals[kind].weight;
    if (weight === 0) return;
    const at = now();
    const key = `${agent}\u0000${kind}`;
    const second = Math.floor(at / 1000);
    const r = rate.get(key);
    if (r && r.second === second) {
      if (r.n >= SIGNALS_PER_SECOND) {
        metrics.trustSignals.labels(kind, 'coalesced').inc();
        return;
      }
      r.n++;
    } else rate.set(key, { second, n: 1 });
    metrics.trustSignals.labels(kind, 'recorded').inc();
    state.addSignals([{ id: randomUUID(), agent, kind, at, weight, detail }]);
  }

  function anomaly(agent: string, a: Anomaly, ctx: CallContext): void {
    metrics.anomalies.labels(a.name).inc();
    const detail = a.tool === undefined ? a.name : `${a.name}:${a.tool}`;
    audit.record('anomaly', {
      agent: { id: agent },
      anomaly: { baseline: a.baseline, count: a.count, interval_ms: tc.anomalies.intervalMs, name: a.name, threshold: a.threshold, tool: a.tool ?? null },
      request_id: ctx.requestId,
    });
    logger.warn({ agent, anomaly: a.name, count: a.count, threshold: a.threshold, tool: a.tool, request_id: ctx.requestId }, 'agent behaviour anomaly');
    signal(agent, 'anomaly', detail);
  }

  function observe(ctx: CallContext): void {
    const p = ctx.principal;
    if (!p || !deps.registry.has(p.agentId)) return;
    const reason = ctx.outcome?.reason;
    const kind = reason === undefined ? undefined : SIGNAL_FOR[reason];
    if (kind !== undefined) signal(p.agentId, kind, reason!);
    const refused = kind !== undefined && kind !== 'rate_limited';
    // Neither killed nor trust-gated calls teach the detector anything about the agent's habits.
    if (reason === 'trust_too_low' || ctx.killedBy !== undefined || reason?.startsWith('killed_')) return;
    const at = now();
    const found = detector.observe(p.agentId, { tool: ctx.tool?.name, action: ctx.operation?.action, record: recordOf(ctx), refused, version: p.agentVersion }, at);
    for (const a of found) anomaly(p.agentId, a, ctx);
  }

  return {
    current,
    belowFloor: (level) => belowFloor(level, tc.floor),
    observe,
    signal,
    breakdown,
    activity: (id) => detector.activity(id),
    start() {
      unsubscribe = state.onChange((change) => {
        if (change.type === 'signals') for (const id of new Set(change.signals.map((s) => s.agent))) checkLevel(id);
        else if (change.type === 'attestation') checkLevel(change.attestation.agent);
        else if (change.type === 'trust_override') checkLevel(change.agent);
      });
      // Scores also move with time alone (signals fade, attestations and pins expire).
      sweep = setInterval(() => {
        for (const id of new Set([...state.trustSubjects(), ...reported.keys()])) checkLevel(id);
        const second = Math.floor(now() / 1000);
        for (const [k, r] of rate) if (r.second < second) rate.delete(k);
      }, Math.min(1_000, Math.max(100, tc.windowMs / 20)));
      sweep.unref();
    },
    close() {
      clearInterval(sweep);
      unsubscribe?.();
    },
  };
}

/** What a read touched, for the distinct-records count: the tool and path (MCP: tool, name and arguments). */
function recordOf(ctx: CallContext): string | undefined {
  if (ctx.operation?.action !== 'read' || !ctx.tool) return undefined;
  if (ctx.mcp?.tool !== undefined) return `${ctx.tool.name} ${ctx.mcp.tool} ${ctx.mcp.argumentsSha256 ?? ''}`;
  return `${ctx.tool.name} ${ctx.upstreamPath ?? ''}`;
}
