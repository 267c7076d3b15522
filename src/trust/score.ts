/**
 * The trust score (docs/trust.md): one number 0–100 per agent, recomputed from its inputs whenever
 * it is needed — at call time, never at token issuance — so a collapse takes effect on the next call.
 *
 *   score = clamp(baseline + posture + attestations − behaviour, 0, 100), then the operator's pin or cap
 *
 * - baseline: the middle of the band of the registry's `trust_level`;
 * - posture: the token's `agent_version` against the registry's approved `version`;
 * - attestations: each unexpired attestation's weight, bounded by its root's max_weight;
 * - behaviour: each signal costs its weight at once and is forgotten linearly over the window;
 *   each kind's total is capped, so one kind of trouble cannot by itself erase everything.
 * The same function serves the hot path (numbers only) and the admin breakdown (every part named).
 */
import type { AgentEntry } from '../config/compile.js';
import { SIGNAL_KINDS, type SignalKind, type TrustConfig } from '../config/compile-trust.js';
import { TRUST_LEVELS, type TrustLevel } from '../config/schema.js';
import type { Attestation, TrustOverride, TrustSignal } from '../state/store.js';

export interface TrustInputs {
  readonly signals: readonly TrustSignal[];
  readonly attestations: readonly Attestation[];
  readonly override: TrustOverride | undefined;
}

export interface TrustNow {
  readonly score: number;
  readonly level: TrustLevel;
}

export interface Breakdown extends TrustNow {
  readonly agent: string;
  /** The score before the operator's pin or cap. */
  readonly computed: number;
  readonly floor: TrustLevel;
  readonly below_floor: boolean;
  readonly at: string;
  readonly components: {
    readonly baseline: { readonly points: number; readonly trust_level: TrustLevel };
    readonly posture: { readonly points: number; readonly status: PostureStatus; readonly version: string | null; readonly approved_version: string | null };
    readonly attestations: { readonly points: number; readonly items: readonly (Attestation & { readonly expires_at: string })[] };
    readonly behaviour: {
      readonly points: number;
      readonly window_ms: number;
      readonly signals: Record<SignalKind, { readonly count: number; readonly points: number; readonly max: number }>;
      /** The latest signals, newest first, with what each still costs. */
      readonly recent: readonly { readonly at: string; readonly kind: SignalKind; readonly detail: string; readonly weight: number; readonly points: number }[];
    };
    readonly operator: (TrustOverride & { readonly effect: 'pin' | 'cap' }) | null;
  };
  readonly levels: Readonly<Record<TrustLevel, number>>;
}

export type PostureStatus = 'approved' | 'unapproved' | 'unknown' | 'not_assessed';

const RECENT = 20;

export function levelFor(score: number, levels: Readonly<Record<TrustLevel, number>>): TrustLevel {
  for (let i = TRUST_LEVELS.length - 1; i > 0; i--) if (score >= levels[TRUST_LEVELS[i]!]) return TRUST_LEVELS[i]!;
  return 'untrusted';
}

/** The middle of the level's band: where an agent of that registry level starts. */
export function baselineFor(level: TrustLevel, levels: Readonly<Record<TrustLevel, number>>): number {
  const i = TRUST_LEVELS.indexOf(level);
  const next = TRUST_LEVELS[i + 1];
  return (levels[level] + (next ? levels[next] : 100)) / 2;
}

export function postureOf(agent: AgentEntry, version: string | null): PostureStatus {
  if (agent.version === undefined) return 'not_assessed';
  if (version === null) return 'unknown';
  const approved = agent.version;
  const match = approved.endsWith('*') ? version.startsWith(approved.slice(0, -1)) : version === approved;
  return match ? 'approved' : 'unapproved';
}

export function computeTrust(config: TrustConfig, agent: AgentEntry, version: string | null, inputs: TrustInputs, now: number): TrustNow;
export function computeTrust(config: TrustConfig, agent: AgentEntry, version: string | null, inputs: TrustInputs, now: number, detail: true): Breakdown;
export function computeTrust(config: TrustConfig, agent: AgentEntry, version: string | null, inputs: TrustInputs, now: number, detail = false): TrustNow | Breakdown {
  const baseline = baselineFor(agent.trustLevel, config.levels);
  const posture = postureOf(agent, version);
  const posturePoints = posture === 'not_assessed' ? 0 : config.posture[posture];

  let attested = 0;
  for (const a of inputs.attestations) if (a.exp * 1000 > now) attested += a.applied;

  const perKind = detail ? emptyKinds(config) : undefined;
  let behaviour = 0;
  const signals = inputs.signals;
  if (signals.length > 0) {
    const window = config.windowMs;
    const sums: Partial<Record<SignalKind, number>> = {};
    for (const sig of signals) {
      const age = now - sig.at;
      if (age >= window) continue;
      const cost = sig.weight * (1 - Math.max(0, age) / window);
      sums[sig.kind] = (sums[sig.kind] ?? 0) + cost;
      if (perKind) perKind[sig.kind].count++;
    }
    for (const kind of SIGNAL_KINDS) {
      const sum = sums[kind];
      if (sum === undefined) continue;
      const capped = Math.min(sum, config.signals[kind].max);
      behaviour += capped;
      if (perKind) perKind[kind].points = -round(capped);
    }
  }

  const computed = round(clamp(baseline + posturePoints + attested - behaviour));
  const o = inputs.override && (inputs.override.expires_at === null || inputs.override.expires_at > now) ? inputs.override : undefined;
  const score = o ? (o.pin !== null ? o.pin : o.cap !== null ? Math.min(computed, o.cap) : computed) : computed;
  const level = levelFor(score, config.levels);
  if (!detail) return { score, level };

  const recent = [];
  for (let i = signals.length - 1; i >= 0 && recent.length < RECENT; i--) {
    const sig = signals[i]!;
    const age = now - sig.at;
    if (age >= config.windowMs) break;
    recent.push({ at: new Date(sig.at).toISOString(), kind: sig.kind, detail: sig.detail, weight: sig.weight, points: -round(sig.weight * (1 - Math.max(0, age) / config.windowMs)) });
  }
  return {
    agent: agent.id,
    score,
    level,
    computed,
    floor: config.floor,
    below_floor: belowFloor(level, config.floor),
    at: new Date(now).toISOString(),
    components: {
      baseline: { points: baseline, trust_level: agent.trustLevel },
      posture: { points: posturePoints, status: posture, version, approved_version: agent.version ?? null },
      attestations: {
        points: round(attested),
        items: inputs.attestations.filter((a) => a.exp * 1000 > now).map((a) => ({ ...a, expires_at: new Date(a.exp * 1000).toISOString() })),
      },
      behaviour: { points: -round(behaviour), window_ms: config.windowMs, signals: perKind!, recent },
      operator: o ? { ...o, effect: o.pin !== null ? 'pin' : 'cap' } : null,
    },
    levels: config.levels,
  };
}

export function belowFloor(level: TrustLevel, floor: TrustLevel): boolean {
  return TRUST_LEVELS.indexOf(level) < TRUST_LEVELS.indexOf(floor);
}

function emptyKinds(config: TrustConfig): Record<SignalKind, { count: number; points: number; max: number }> {
  const out = {} as Record<SignalKind, { count: number; points: number; max: number }>;
  for (const kind of SIGNAL_KINDS) out[kind] = { count: 0, points: 0, max: config.signals[kind].max };
  return out;
}

function clamp(n: number): number {
  return Math.min(100, Math.max(0, n));
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
