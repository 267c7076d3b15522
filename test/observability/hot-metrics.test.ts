import { describe, expect, it } from 'vitest';
import { Counter, Histogram, Registry } from 'prom-client';
import { HotCounter, HotHistogram } from '../../src/observability/hot-metrics.js';

const BUCKETS = [0.001, 0.01, 0.1, 1];

/** The same metric twice, in two registries: prom-client's own and ours. */
function pair() {
  const theirs = new Registry();
  const ours = new Registry();
  return {
    theirs,
    ours,
    counter: {
      theirs: new Counter({ name: 'x_calls_total', help: 'Calls "by" tool\\outcome.', labelNames: ['tool', 'outcome'], registers: [theirs] }),
      ours: new HotCounter('x_calls_total', 'Calls "by" tool\\outcome.', ['tool', 'outcome'], [ours]),
    },
    histogram: {
      theirs: new Histogram({ name: 'x_seconds', help: 'Latency.', labelNames: ['tool'], buckets: BUCKETS, registers: [theirs] }),
      ours: new HotHistogram('x_seconds', 'Latency.', ['tool'], BUCKETS, [ours]),
    },
  };
}

describe('hot-path metrics', () => {
  it('expose exactly what prom-client exposes for the same updates (text and JSON)', async () => {
    const p = pair();
    const updates: [string, string, number][] = [['crm', 'ok', 1], ['crm', 'ok', 2], ['mail', 'denied', 1], ['we"ird\\tool\n', 'ok', 5]];
    for (const [tool, outcome, n] of updates) {
      p.counter.theirs.labels(tool, outcome).inc(n);
      p.counter.ours.labels(tool, outcome).inc(n);
    }
    // On a bound, between bounds, below the first, above the last, and a label set seen once.
    for (const [tool, v] of [['crm', 0.01], ['crm', 0.0004], ['crm', 0.05], ['crm', 7], ['mail', 0.3]] as const) {
      p.histogram.theirs.labels(tool).observe(v);
      p.histogram.ours.labels(tool).observe(v);
    }
    expect(await p.ours.metrics()).toBe(await p.theirs.metrics());
    expect(await p.ours.getMetricsAsJSON()).toEqual(await p.theirs.getMetricsAsJSON());
  });

  it('keep one child per label values, valid across a registry reset', async () => {
    const p = pair();
    const child = p.counter.ours.labels('crm', 'ok');
    expect(p.counter.ours.labels('crm', 'ok')).toBe(child);
    expect(p.counter.ours.labels('crm', 'denied')).not.toBe(child);
    child.inc();
    p.histogram.ours.labels('crm').observe(0.5);
    p.ours.resetMetrics();
    expect(await p.ours.metrics()).not.toMatch(/^x_/m);
    child.inc(3);
    expect(await p.ours.metrics()).toMatch(/^x_calls_total\{tool="crm",outcome="ok"\} 3$/m);
  });

  it('refuse a wrong number of label values and a counter going down; skip a value that is not a number', async () => {
    const p = pair();
    expect(() => p.counter.ours.labels('crm')).toThrow(/takes 2 label values \(tool, outcome\), got 1/);
    expect(() => p.counter.ours.labels('crm', 'ok').inc(-1)).toThrow(/only goes up/);
    const h = p.histogram.ours.labels('crm');
    h.observe(Number.NaN);
    h.observe(Number.POSITIVE_INFINITY);
    expect(h.count).toBe(0);
    h.observe(0.002);
    expect(await p.ours.metrics()).toMatch(/^x_seconds_count\{tool="crm"\} 1$/m);
  });
});
