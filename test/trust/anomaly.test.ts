import { describe, expect, it } from 'vitest';
import { AnomalyDetector, type CallFacts } from '../../src/trust/anomaly.js';

const cfg = { enabled: true, intervalMs: 1_000, warmup: 3, factor: 3, min: { exports: 5, records: 10, refusals: 4 } };
const read = (tool: string, record: string): CallFacts => ({ tool, action: 'read', record, refused: false, version: null });
const exp = (tool = 'crm'): CallFacts => ({ tool, action: 'export', record: undefined, refused: false, version: null });

describe('anomalies against the agent’s own baseline', () => {
  it('raises an export spike once per interval, at the call that crosses max(min, factor × baseline)', () => {
    const d = new AnomalyDetector(cfg);
    let t = 0;
    // Warm-up: 2 exports a second for 3 intervals → baseline 2, threshold max(5, 6) = 6.
    for (let i = 0; i < 3; i++, t += 1_000) for (let j = 0; j < 2; j++) expect(d.observe('bot', exp(), t + j)).toEqual([]);
    const found = [];
    for (let j = 0; j < 8; j++) found.push(...d.observe('bot', exp(), t + j));
    expect(found).toEqual([{ name: 'export_spike', count: 6, threshold: 6, baseline: 2 }]);
    expect(d.activity('bot')).toMatchObject({ learning: false, interval: { exports: 8 } });
  });

  it('uses the absolute minimum while learning, and counts distinct records, not calls', () => {
    const d = new AnomalyDetector(cfg);
    for (let i = 0; i < 20; i++) expect(d.observe('bot', read('crm', '/contacts/1'), i)).toEqual([]);
    const found = [];
    for (let i = 0; i < 10; i++) found.push(...d.observe('bot', read('crm', `/contacts/${i}`), 100 + i));
    expect(found.map((a) => [a.name, a.count])).toEqual([['record_spike', 10]]);
  });

  it('raises a refusal surge', () => {
    const d = new AnomalyDetector(cfg);
    const found = [];
    for (let i = 0; i < 4; i++) found.push(...d.observe('bot', { ...read('crm', 'x'), refused: true }, i));
    expect(found.map((a) => a.name)).toEqual(['refusal_surge']);
  });

  it('after the warm-up, flags a tool the agent never used, once', () => {
    const d = new AnomalyDetector(cfg);
    for (let i = 0; i < 3; i++) d.observe('bot', read('crm', 'x'), i * 1_000);
    expect(d.observe('bot', read('crm', 'y'), 3_000)).toEqual([]);
    expect(d.observe('bot', read('payments', 'z'), 3_001)).toEqual([{ name: 'unusual_tool', count: 1, threshold: 1, baseline: 0, tool: 'payments' }]);
    expect(d.observe('bot', read('payments', 'z'), 3_002)).toEqual([]);
  });

  it('folds a spike into the baseline only up to its threshold, so it does not become the norm', () => {
    const d = new AnomalyDetector(cfg);
    for (let i = 0; i < 3; i++) d.observe('bot', read('crm', 'x'), i * 1_000);
    for (let j = 0; j < 500; j++) d.observe('bot', exp(), 3_000 + j);
    d.observe('bot', read('crm', 'x'), 4_000);
    expect(d.activity('bot')!.baseline.exports).toBeLessThanOrEqual(5 * 0.3 + 0.1);
  });

  it('raises nothing when disabled, but still keeps the activity', () => {
    const d = new AnomalyDetector({ ...cfg, enabled: false });
    for (let i = 0; i < 50; i++) expect(d.observe('bot', exp(), i)).toEqual([]);
    expect(d.activity('bot')!.calls).toBe(50);
  });
});
