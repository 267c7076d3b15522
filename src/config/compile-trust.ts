/**
 * The trust and rate-limit sections of gateway.yaml, compiled once (docs/trust.md): thresholds in
 * ascending order, durations in ms, rates as an emission interval, trust roots as issuers.
 */
import { ConfigError } from './load.js';
import { parseDuration } from './units.js';
import { TRUST_LEVELS, type RawConfig, type TrustLevel } from './schema.js';
import type { IssuerConfig } from './compile.js';

export const SIGNAL_KINDS = ['refusal', 'policy_violation', 'approval_denied', 'rate_limited', 'anomaly'] as const;
export type SignalKind = (typeof SIGNAL_KINDS)[number];

export interface RateRule {
  /** Milliseconds between calls at the sustained rate (GCRA emission interval). */
  readonly intervalMs: number;
  /** Calls allowed at once. */
  readonly burst: number;
  /** The rate as written, for messages and the admin API. */
  readonly rate: string;
}

export interface TrustRoot extends IssuerConfig {
  readonly maxWeight: number;
}

export interface TrustConfig {
  /** Lowest score of each level, ascending; `untrusted` is 0. */
  readonly levels: Readonly<Record<TrustLevel, number>>;
  readonly floor: TrustLevel;
  readonly windowMs: number;
  readonly signals: Readonly<Record<SignalKind, { readonly weight: number; readonly max: number }>>;
  readonly posture: { readonly approved: number; readonly unapproved: number; readonly unknown: number };
  readonly attestations: { readonly audience: string; readonly maxTtlSec: number; readonly roots: readonly TrustRoot[] };
  readonly anomalies: {
    readonly enabled: boolean;
    readonly intervalMs: number;
    readonly warmup: number;
    readonly factor: number;
    readonly min: { readonly exports: number; readonly records: number; readonly refusals: number };
  };
  readonly webhook: string | null;
}

export interface RateLimitsConfig {
  readonly agent?: RateRule;
  readonly agentTool?: RateRule;
  readonly user?: RateRule;
  readonly redisTimeoutMs: number;
}

export function compileTrust(raw: RawConfig, baseDir: string, compileIssuer: (iss: RawConfig['auth']['issuers'][number], at: string, baseDir: string) => IssuerConfig): TrustConfig {
  const t = raw.trust;
  const levels = { untrusted: 0, ...t.levels };
  for (let i = 2; i < TRUST_LEVELS.length; i++) {
    const lower = TRUST_LEVELS[i - 1]!;
    const level = TRUST_LEVELS[i]!;
    if (levels[level] <= levels[lower]) throw new ConfigError(`trust.levels.${level}`, `must be above trust.levels.${lower} (${levels[lower]}), got ${levels[level]}`);
  }
  const roots = t.attestations.roots.map((r, i): TrustRoot => {
    const at = `trust.attestations.roots.${i}`;
    return { ...compileIssuer({ ...r, audiences: [t.attestations.audience] }, at, baseDir), maxWeight: r.max_weight };
  });
  const names = roots.map((r) => r.issuer);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup !== undefined) throw new ConfigError('trust.attestations.roots', `issuer ${JSON.stringify(dup)} is listed twice`);
  const windowMs = ms(t.window, 'trust.window');
  if (windowMs < 1_000) throw new ConfigError('trust.window', 'must be at least 1s');
  const intervalMs = ms(t.anomalies.interval, 'trust.anomalies.interval');
  if (intervalMs < 100) throw new ConfigError('trust.anomalies.interval', 'must be at least 100ms');
  return {
    levels,
    floor: t.floor,
    windowMs,
    signals: t.signals,
    posture: t.posture,
    attestations: { audience: t.attestations.audience, maxTtlSec: ms(t.attestations.max_ttl, 'trust.attestations.max_ttl') / 1000, roots },
    anomalies: { enabled: t.anomalies.enabled, intervalMs, warmup: t.anomalies.warmup, factor: t.anomalies.factor, min: t.anomalies.min },
    webhook: t.notify.webhook,
  };
}

export function compileRateLimits(raw: RawConfig): RateLimitsConfig {
  const r = raw.rate_limits;
  return {
    agent: r.agent && compileRate(r.agent, 'rate_limits.agent'),
    agentTool: r.agent_tool && compileRate(r.agent_tool, 'rate_limits.agent_tool'),
    user: r.user && compileRate(r.user, 'rate_limits.user'),
    redisTimeoutMs: Math.max(1, ms(r.redis_timeout, 'rate_limits.redis_timeout')),
  };
}

const PER: Record<string, number> = { s: 1, m: 60, h: 3600 };

/** `{rate: "50/s", burst: 100}` → a GCRA rule. Burst defaults to one second's worth (at least 1). */
export function compileRate(r: { rate: string | number; burst?: number }, at: string): RateRule {
  let perSec: number;
  if (typeof r.rate === 'number') perSec = r.rate;
  else {
    const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*\/\s*(s|m|h)\s*$/.exec(r.rate);
    if (!m) throw new ConfigError(`${at}.rate`, `is not a rate like 50/s, 600/m or 1000/h (got ${JSON.stringify(r.rate)})`);
    perSec = Number(m[1]) / PER[m[2]!]!;
  }
  if (!(perSec > 0)) throw new ConfigError(`${at}.rate`, 'must be more than 0');
  const burst = r.burst ?? Math.max(1, Math.ceil(perSec));
  return { intervalMs: 1000 / perSec, burst, rate: typeof r.rate === 'number' ? `${r.rate}/s` : r.rate.replace(/\s+/g, '') };
}

function ms(v: string | number, at: string): number {
  const n = parseDuration(v);
  if (n === undefined) throw new ConfigError(at, `is not a duration like 500ms, 5s, 15m or 1h (got ${JSON.stringify(v)})`);
  return n;
}
