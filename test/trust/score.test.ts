import { describe, expect, it } from 'vitest';
import { compileConfig, type AgentEntry, type RuntimeConfig } from '../../src/config/compile.js';
import { validate } from '../../src/config/load.js';
import { baselineFor, computeTrust, levelFor } from '../../src/trust/score.js';
import type { Attestation, TrustSignal } from '../../src/state/store.js';

function config(trust: Record<string, unknown> = {}, agent: Record<string, unknown> = {}): RuntimeConfig {
  return compileConfig(
    validate({
      dev: { issuer: true },
      agents: { bot: { owner: 'o@example.com', max_classification: 'internal', ...agent } },
      trust: { window: '10s', ...trust },
    }),
    process.cwd(),
  );
}
const NOW = 1_800_000_000_000;
const none = { signals: [], attestations: [], override: undefined };
let n = 0;
const sig = (kind: TrustSignal['kind'], agoMs: number, weight: number): TrustSignal => ({ id: String(n++), agent: 'bot', kind, at: NOW - agoMs, weight, detail: kind });
const attest = (applied: number, expInSec: number): Attestation => ({
  agent: 'bot', issuer: 'https://scanner.test', kind: 'scan', weight: applied, applied, iat: NOW / 1000 - 60, exp: NOW / 1000 + expInSec, jti: 'j', summary: null, received_at: '', by: 'ops',
});

describe('levels and baselines', () => {
  const c = config();
  it('maps scores to levels at the configured thresholds', () => {
    expect([0, 19.9, 20, 39.9, 40, 60, 79.9, 80, 100].map((s) => levelFor(s, c.trust.levels))).toEqual([
      'untrusted', 'untrusted', 'provisional', 'provisional', 'standard', 'elevated', 'elevated', 'trusted', 'trusted',
    ]);
  });
  it("starts an agent in the middle of its registry level's band", () => {
    expect((['untrusted', 'provisional', 'standard', 'elevated', 'trusted'] as const).map((l) => baselineFor(l, c.trust.levels))).toEqual([10, 30, 50, 70, 90]);
    expect(computeTrust(c.trust, c.agents.get('bot')!, null, none, NOW)).toEqual({ score: 50, level: 'standard' });
  });
  it('refuses thresholds out of order, naming the key', () => {
    expect(() => config({ levels: { standard: 70, elevated: 60 } })).toThrow(/trust\.levels\.elevated.*must be above trust\.levels\.standard/);
  });
});

describe('posture', () => {
  const c = config({}, { version: '2.1.*' });
  const agent = c.agents.get('bot')!;
  it('adds points for an approved version and takes them for an unapproved or unknown one', () => {
    expect(computeTrust(c.trust, agent, '2.1.7', none, NOW).score).toBe(55);
    expect(computeTrust(c.trust, agent, '2.2.0', none, NOW).score).toBe(35);
    expect(computeTrust(c.trust, agent, null, none, NOW).score).toBe(45);
    const b = computeTrust(c.trust, agent, '2.2.0', none, NOW, true);
    expect(b.components.posture).toEqual({ points: -15, status: 'unapproved', version: '2.2.0', approved_version: '2.1.*' });
  });
  it('does not assess an agent whose registry entry names no version', () => {
    const plain = config();
    expect(computeTrust(plain.trust, plain.agents.get('bot')!, '9.9', none, NOW, true).components.posture.status).toBe('not_assessed');
  });
});

describe('behaviour', () => {
  const c = config({ signals: { policy_violation: { weight: 10, max: 25 } } });
  const agent: AgentEntry = c.agents.get('bot')!;
  it('costs a signal its full weight at once and forgets it linearly over the window', () => {
    const at = (ago: number) => computeTrust(c.trust, agent, null, { ...none, signals: [sig('policy_violation', ago, 10)] }, NOW).score;
    expect([at(0), at(2_500), at(5_000), at(9_000), at(10_000)]).toEqual([40, 42.5, 45, 49, 50]);
  });
  it("caps each kind's total, so a flood of one kind cannot by itself erase the score", () => {
    const flood = Array.from({ length: 50 }, () => sig('policy_violation', 0, 10));
    const b = computeTrust(c.trust, agent, null, { ...none, signals: [...flood, sig('refusal', 0, 2)] }, NOW, true);
    expect(b.components.behaviour.signals.policy_violation).toEqual({ count: 50, points: -25, max: 25 });
    expect(b.components.behaviour.signals.refusal.points).toBe(-2);
    expect(b.score).toBe(23);
    expect(b.components.behaviour.recent[0]).toMatchObject({ kind: 'refusal', points: -2 });
  });
});

describe('attestations and the operator', () => {
  const c = config();
  const agent = c.agents.get('bot')!;
  it('counts an attestation until it expires', () => {
    expect(computeTrust(c.trust, agent, null, { ...none, attestations: [attest(15, 60)] }, NOW).score).toBe(65);
    expect(computeTrust(c.trust, agent, null, { ...none, attestations: [attest(15, 60)] }, NOW + 60_000).score).toBe(50);
  });
  it('pins or caps the computed score, and the breakdown shows both numbers', () => {
    const pin = { agent: 'bot', pin: 85, cap: null, reason: 'vetted', by: 'ops', at: '', expires_at: null };
    const b = computeTrust(c.trust, agent, null, { ...none, override: pin }, NOW, true);
    expect([b.score, b.level, b.computed, b.components.operator?.effect]).toEqual([85, 'trusted', 50, 'pin']);
    const cap = { ...pin, pin: null, cap: 30 };
    expect(computeTrust(c.trust, agent, null, { ...none, override: cap }, NOW)).toEqual({ score: 30, level: 'provisional' });
    expect(computeTrust(c.trust, agent, null, { ...none, override: { ...cap, expires_at: NOW } }, NOW).score).toBe(50);
  });
  it('clamps to 0–100 before the operator and marks an agent below the floor', () => {
    const b = computeTrust(c.trust, agent, null, { ...none, attestations: [attest(-80, 60)] }, NOW, true);
    expect([b.score, b.level, b.below_floor]).toEqual([0, 'untrusted', true]);
  });
});
