/**
 * Anomalies against an agent's own baseline (docs/trust.md "Anomalies"). Per agent and per interval
 * this replica counts exports, distinct records read and refusals; the baseline is a moving average
 * of past intervals (each folded in at most at its threshold, so a spike does not become the norm).
 * A count crossing max(min, factor × baseline) raises the anomaly once per interval, at the call
 * that crosses it. After the warm-up, a call to a tool the agent did not use while warming up is
 * unusual (raised once per tool, which then counts as known).
 *
 * Each replica learns from the calls it serves: behind a load balancer each sees its share of every
 * agent's traffic, and baselines and counts scale alike. The signals it raises are shared.
 */
import type { TrustConfig } from '../config/compile-trust.js';

export type AnomalyName = 'export_spike' | 'record_spike' | 'refusal_surge' | 'unusual_tool';

export interface Anomaly {
  readonly name: AnomalyName;
  /** The count that crossed the threshold (1 for an unusual tool). */
  readonly count: number;
  readonly threshold: number;
  readonly baseline: number;
  readonly tool?: string;
}

export interface CallFacts {
  readonly tool: string | undefined;
  readonly action: string | undefined;
  /** What a read touched (tool + path, or tool + MCP tool + arguments digest), for distinct-record counts. */
  readonly record: string | undefined;
  readonly refused: boolean;
  readonly version: string | null;
}

type Counted = 'exports' | 'records' | 'refusals';
const COUNTED: readonly Counted[] = ['exports', 'records', 'refusals'];
const NAME: Record<Counted, AnomalyName> = { exports: 'export_spike', records: 'record_spike', refusals: 'refusal_surge' };
/** Weight of the newest interval in the moving average. */
const ALPHA = 0.3;
/** Distinct records remembered per interval: past the largest threshold there is nothing more to learn. */
const MAX_RECORDS = 100_000;

export interface Activity {
  readonly lastCallAt: number;
  readonly lastVersion: string | null;
  readonly calls: number;
  readonly refusals: number;
  readonly interval: { readonly start: number; readonly calls: number; readonly exports: number; readonly records: number; readonly refusals: number };
  readonly baseline: Readonly<Record<Counted, number>>;
  readonly learning: boolean;
  readonly tools: readonly string[];
}

class AgentActivity {
  start: number;
  intervals = 0;
  calls = 0;
  exports = 0;
  refusals = 0;
  readonly records = new Set<string>();
  readonly baseline: Record<Counted, number> = { exports: 0, records: 0, refusals: 0 };
  readonly raised = new Set<AnomalyName>();
  readonly tools = new Set<string>();
  totalCalls = 0;
  totalRefusals = 0;
  lastCallAt = 0;
  lastVersion: string | null = null;

  constructor(now: number) {
    this.start = now;
  }

  count(k: Counted): number {
    return k === 'records' ? this.records.size : this[k];
  }
}

export class AnomalyDetector {
  private readonly agents = new Map<string, AgentActivity>();

  constructor(private readonly config: TrustConfig['anomalies']) {}

  /** Records a call; returns the anomalies it raises (usually none). */
  observe(agent: string, facts: CallFacts, now: number): Anomaly[] {
    let a = this.agents.get(agent);
    if (!a) this.agents.set(agent, (a = new AgentActivity(now)));
    this.roll(a, now);
    a.calls++;
    a.totalCalls++;
    a.lastCallAt = now;
    a.lastVersion = facts.version;
    if (facts.refused) {
      a.refusals++;
      a.totalRefusals++;
    }
    if (facts.action === 'export' && !facts.refused) a.exports++;
    if (facts.action === 'read' && !facts.refused && facts.record !== undefined && a.records.size < MAX_RECORDS) a.records.add(facts.record);
    if (!this.config.enabled) return [];

    const out: Anomaly[] = [];
    for (const k of COUNTED) {
      const name = NAME[k];
      if (a.raised.has(name)) continue;
      const threshold = this.threshold(a, k);
      const count = a.count(k);
      if (count >= threshold) {
        a.raised.add(name);
        out.push({ name, count, threshold, baseline: round(a.baseline[k]) });
      }
    }
    const tool = facts.tool;
    if (tool !== undefined && !a.tools.has(tool)) {
      a.tools.add(tool);
      if (a.intervals >= this.config.warmup) out.push({ name: 'unusual_tool', count: 1, threshold: 1, baseline: 0, tool });
    }
    return out;
  }

  activity(agent: string): Activity | undefined {
    const a = this.agents.get(agent);
    if (!a) return undefined;
    return {
      lastCallAt: a.lastCallAt,
      lastVersion: a.lastVersion,
      calls: a.totalCalls,
      refusals: a.totalRefusals,
      interval: { start: a.start, calls: a.calls, exports: a.exports, records: a.records.size, refusals: a.refusals },
      baseline: { exports: round(a.baseline.exports), records: round(a.baseline.records), refusals: round(a.baseline.refusals) },
      learning: a.intervals < this.config.warmup,
      tools: [...a.tools].sort(),
    };
  }

  private threshold(a: AgentActivity, k: Counted): number {
    const min = this.config.min[k];
    return a.intervals >= this.config.warmup ? Math.max(min, Math.ceil(this.config.factor * a.baseline[k])) : min;
  }

  /** Closes the intervals that have ended, folding each into the baseline (idle ones as zeros). */
  private roll(a: AgentActivity, now: number): void {
    const interval = this.config.intervalMs;
    const ended = Math.floor((now - a.start) / interval);
    if (ended <= 0) return;
    for (let i = 0; i < Math.min(ended, 20); i++) {
      for (const k of COUNTED) {
        const seen = i === 0 ? Math.min(a.count(k), this.threshold(a, k)) : 0;
        a.baseline[k] = a.intervals === 0 && i === 0 ? seen : ALPHA * seen + (1 - ALPHA) * a.baseline[k];
      }
      a.intervals++;
    }
    if (ended > 20) a.intervals += ended - 20;
    a.start += ended * interval;
    a.calls = a.exports = a.refusals = 0;
    a.records.clear();
    a.raised.clear();
  }
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
