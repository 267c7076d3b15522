import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadBundle } from '../../src/policy/bundle.js';
import { policySourceDigest } from '../../src/policy/sources.js';
import { runCli } from '../helpers/cli.js';
import { buildPolicyBundle, REPO_POLICIES, SHIPPED_BUNDLE } from '../helpers/policy.js';

describe('the shipped policy', () => {
  it('passes its Rego unit tests (portcullis policy test → opa test)', async () => {
    const r = await runCli(['policy', 'test', '--dir', REPO_POLICIES], { timeoutMs: 300_000 });
    expect(r.stderr + r.stdout).toMatch(/PASS: \d+\/\d+/);
    expect(r.code).toBe(0);
  }, 300_000);

  it('has a committed bundle built from the current sources (run `npx portcullis policy build` if this fails)', async () => {
    const bundle = await loadBundle(readFileSync(SHIPPED_BUNDLE), 'portcullis/decision');
    expect(bundle.revision).toBe(policySourceDigest(REPO_POLICIES));
  });
});

describe('portcullis policy test', () => {
  it('fails when a Rego test fails', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-rego-'));
    cpSync(REPO_POLICIES, dir, { recursive: true, filter: (p) => !p.includes('/build') });
    const tests = readFileSync(join(dir, 'portcullis_test.rego'), 'utf8');
    writeFileSync(join(dir, 'portcullis_test.rego'), tests.replace('["itops-bot", "payments", "read", "list-payments", "deny"]', '["itops-bot", "payments", "read", "list-payments", "allow"]'));
    const r = await runCli(['policy', 'test', '--dir', dir], { timeoutMs: 120_000 });
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toContain('itops-bot payments:read (list-payments): want allow, got deny');
  }, 120_000);
});

describe('portcullis policy build', () => {
  it('builds a wasm bundle whose manifest revision is the source digest', async () => {
    const out = await buildPolicyBundle();
    const bundle = await loadBundle(readFileSync(out), 'portcullis/decision');
    expect(bundle.revision).toBe(policySourceDigest(REPO_POLICIES));
  }, 120_000);

  it('records a different revision when the data changes', async () => {
    const out = await buildPolicyBundle({ editData: (y) => y.replace('tools: { payments: standard }', 'tools: { payments: elevated }') });
    const bundle = await loadBundle(readFileSync(out), 'portcullis/decision');
    expect(bundle.revision).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(bundle.revision).not.toBe(policySourceDigest(REPO_POLICIES));
  }, 120_000);

  it('fails with opa\'s message on a Rego syntax error', async () => {
    await expect(buildPolicyBundle({ rego: 'package portcullis\n\ndecision := {' })).rejects.toThrow(/policy build failed/);
  }, 120_000);
});

describe('portcullis policy eval', () => {
  const input = {
    agent: { id: 'support-bot', roles: ['support_agent'], owner: 'a', max_classification: 'confidential', trust: { score: 50, level: 'standard' } },
    user: null,
    delegation: ['support-bot'],
    actors: [],
    token: { scopes: ['payments:read'], jti: 'j', iat: 0, exp: 0, task_id: null },
    tool: { name: 'payments', classification: 'regulated' },
    operation: { name: 'list-payments', action: 'read', risk: 'low' },
    request: { method: 'GET', path: '/payments', params: {}, query: {}, mcp: null },
    context: { time: '2026-11-23T00:00:00Z', ip: '127.0.0.1' },
  };

  it('prints the decision, its reasons, the revision and the time it took', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'portcullis-eval-')), 'input.json');
    writeFileSync(file, JSON.stringify(input));
    const r = await runCli(['policy', 'eval', '--input', file, '--bundle', SHIPPED_BUNDLE]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ result: 'deny', allow: false, approval_required: false, revision: policySourceDigest(REPO_POLICIES) });
    expect(out.reasons).toEqual([
      'agent support-bot: no role (support_agent) grants payments:read (list-payments)',
      "tool payments is regulated, above agent support-bot's ceiling confidential",
    ]);
    expect(out.eval_us).toBeGreaterThan(0);
  });

  it('refuses an input that is not JSON with exit 2', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'portcullis-eval-')), 'input.json');
    writeFileSync(file, '{nope');
    const r = await runCli(['policy', 'eval', '--input', file, '--bundle', SHIPPED_BUNDLE]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--input is not JSON/);
  });
});
