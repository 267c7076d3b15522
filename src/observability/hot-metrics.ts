/**
 * Counters and histograms for the per-call path. A child, made once per set of label values and
 * kept, holds its own numbers: an update is an addition or two. prom-client's children hash and
 * check their labels on every update, which at six updates a call (token cache, decision cache,
 * decision, call count, two latencies) was ≈ 3% of the gateway's CPU (bench/profile.mjs,
 * 2026-12-03). These register with prom-client's Registry like its own metrics and, when scraped,
 * hand it their values in its format (`get()`, as `registry.getMetricsAsJSON()` returns them), so
 * the exposition is prom-client's: test/observability/hot-metrics.test.ts holds each to a
 * prom-client metric fed the same updates.
 */
import type { Registry } from 'prom-client';

type Labels = Record<string, string>;

interface MetricValue {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
  /** prom-client's buckets carry one (null without exemplars). */
  exemplar?: null;
}

/** Children by label values, one Map level per label: a lookup hashes no new string. */
abstract class HotMetric<C> {
  readonly aggregator = 'sum';
  abstract readonly type: 'counter' | 'histogram';
  private readonly tree = new Map<string, unknown>();
  protected readonly children: C[] = [];

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    registers: readonly Registry[],
  ) {
    // registerMetric is typed for prom-client's own classes; the Registry reads name, get() and reset().
    for (const r of registers) r.registerMetric(this as never);
  }

  /** The child for these label values, given in `labelNames` order. */
  labels(...values: string[]): C {
    // Checked first: with too many values the walk below would reach a child instead of a Map.
    if (values.length !== this.labelNames.length) {
      throw new Error(`${this.name} takes ${this.labelNames.length} label values (${this.labelNames.join(', ')}), got ${values.length}`);
    }
    let node = this.tree;
    const last = values.length - 1;
    for (let i = 0; i < last; i++) {
      let next = node.get(values[i]!) as Map<string, unknown> | undefined;
      if (next === undefined) node.set(values[i]!, (next = new Map()));
      node = next;
    }
    let child = node.get(values[last]!) as C | undefined;
    if (child === undefined) {
      const labels: Labels = {};
      this.labelNames.forEach((n, i) => (labels[n] = values[i]!));
      child = this.make(labels);
      node.set(values[last]!, child);
      this.children.push(child);
    }
    return child;
  }

  /** What the Registry renders: prom-client's MetricObjectWithValues. */
  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: MetricValue[] }> {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: this.values() };
  }

  /** Zeroes every child; children stay valid (callers keep them). */
  abstract reset(): void;
  protected abstract make(labels: Labels): C;
  protected abstract values(): MetricValue[];
}

export class CounterChild {
  value = 0;
  constructor(readonly labels: Labels) {}

  inc(n = 1): void {
    if (!(n >= 0)) throw new Error(`a counter only goes up (got ${n})`);
    this.value += n;
  }
}

export class HotCounter extends HotMetric<CounterChild> {
  readonly type = 'counter';

  protected make(labels: Labels): CounterChild {
    return new CounterChild(labels);
  }

  reset(): void {
    for (const c of this.children) c.value = 0;
  }

  /** Like prom-client, a label set appears once it was counted. */
  protected values(): MetricValue[] {
    return this.children.filter((c) => c.value > 0).map((c) => ({ value: c.value, labels: { ...c.labels } }));
  }
}

export class HistogramChild {
  /** Observations per bucket (not cumulative); the last slot counts those above every bound. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    readonly labels: Labels,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  /** A value that is not a finite number is not counted (prom-client throws; a call must not). */
  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    const b = this.bounds;
    let i = 0;
    while (i < b.length && value > b[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

export class HotHistogram extends HotMetric<HistogramChild> {
  readonly type = 'histogram';
  private readonly bounds: readonly number[];

  constructor(name: string, help: string, labelNames: readonly string[], buckets: readonly number[], registers: readonly Registry[]) {
    super(name, help, labelNames, registers);
    this.bounds = [...buckets].sort((a, b) => a - b);
  }

  protected make(labels: Labels): HistogramChild {
    return new HistogramChild(labels, this.bounds);
  }

  reset(): void {
    for (const c of this.children) {
      c.counts.fill(0);
      c.sum = 0;
      c.count = 0;
    }
  }

  /** prom-client's order: each label set's buckets (`le` first), then +Inf, sum and count. */
  protected values(): MetricValue[] {
    const out: MetricValue[] = [];
    const bucket = `${this.name}_bucket`;
    for (const c of this.children) {
      if (c.count === 0) continue;
      let acc = 0;
      this.bounds.forEach((le, i) => {
        acc += c.counts[i]!;
        out.push({ value: acc, labels: { le, ...c.labels }, metricName: bucket, exemplar: null });
      });
      out.push({ value: c.count, labels: { le: '+Inf', ...c.labels }, metricName: bucket, exemplar: null });
      out.push({ value: c.sum, labels: { ...c.labels }, metricName: `${this.name}_sum` });
      out.push({ value: c.count, labels: { ...c.labels }, metricName: `${this.name}_count` });
    }
    return out;
  }
}
