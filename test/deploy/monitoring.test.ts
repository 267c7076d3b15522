/**
 * The Grafana dashboard and the Prometheus alert rules in deploy/: every metric they query is one a
 * running gateway exports, and the rules pass `promtool check rules` and their own unit tests
 * (`promtool test rules`: each alert fires on the failure it names). promtool is built by
 * scripts/promtool.sh (Go and the module proxy); without Go that part says it skipped.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestIssuer } from '../helpers/issuer.js';
import { startGateway, testConfig, type RunningGateway } from '../helpers/gateway.js';
import { startUpstream, type RecordingUpstream } from '../helpers/upstream.js';
import { crmTools } from '../e2e/fixtures.js';

const root = new URL('../../', import.meta.url).pathname;
const dashboard = JSON.parse(readFileSync(join(root, 'deploy/grafana/portcullis-dashboard.json'), 'utf8')) as { uid: string; panels: { title: string; targets: { expr: string }[] }[] };
const rules = readFileSync(join(root, 'deploy/prometheus/portcullis-alerts.yaml'), 'utf8');
const PROMTOOL = process.env.PROMTOOL_BIN !== undefined ? undefined : spawnSync('bash', [join(root, 'scripts/promtool.sh')], { encoding: 'utf8', timeout: 900_000 });
const promtool = process.env.PROMTOOL_BIN ?? (PROMTOOL!.status === 0 ? PROMTOOL!.stdout.trim() : '');
if (!promtool) console.warn(`SKIP promtool checks of the alert rules: ${PROMTOOL?.stderr.trim().split('\n').at(-1) ?? 'scripts/promtool.sh failed'}`);

/** Metric names in PromQL text: portcullis_* without a histogram's _bucket/_sum/_count. */
const metricsIn = (text: string) => new Set([...text.matchAll(/\bportcullis_[a-z_]+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, '')));

let gw: RunningGateway;
let up: RecordingUpstream;
beforeAll(async () => {
  up = await startUpstream();
  gw = await startGateway(testConfig(await createTestIssuer(), crmTools(up)));
});
afterAll(async () => {
  await gw?.close();
  await up?.close();
});

describe('the dashboard and the alerts', () => {
  it('query only metrics a running gateway exports', async () => {
    const exported = metricsIn(await (await fetch(`${gw.adminUrl}/metrics`)).text());
    const used = metricsIn([...dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)), rules].join('\n'));
    expect(used.size).toBeGreaterThan(10);
    expect([...used].filter((m) => !exported.has(m))).toEqual([]);
  });

  it('show what operators asked for: outcomes and reasons, latency, policy time, audit lag, sinks, kills, approvals, trust', () => {
    const titles = dashboard.panels.map((p) => p.title).join(' | ');
    for (const t of ['Calls by outcome', 'Refusals by reason', 'Call latency', 'Policy evaluation time', 'sink lag', 'Kills in force', 'waiting for approval', 'trust level']) expect(titles).toContain(t);
    expect(dashboard.uid).toBe('portcullis');
  });

  it.skipIf(!promtool)('pass promtool check rules and the rules’ unit tests', () => {
    const check = spawnSync(promtool, ['check', 'rules', join(root, 'deploy/prometheus/portcullis-alerts.yaml')], { encoding: 'utf8' });
    expect(check.status, check.stdout + check.stderr).toBe(0);
    const test = spawnSync(promtool, ['test', 'rules', 'portcullis-alerts.test.yaml'], { cwd: join(root, 'deploy/prometheus'), encoding: 'utf8' });
    expect(test.status, test.stdout + test.stderr).toBe(0);
  }, 60_000);
});
