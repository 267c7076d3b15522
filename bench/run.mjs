// `npm run bench` — the project's measuring instrument (docs/performance.md). One run, same upstream,
// same payload, configurations interleaved within each round, REPEATS rounds, median and range:
//   1. the upstream called directly (the physical limit);
//   2. nginx as a plain reverse proxy (worker_processes 1, upstream keep-alive), when installed;
//   3. a bare @fastify/http-proxy (our stack's ceiling: same fastify, undici and pool settings);
//   4. Portcullis as a ladder, one feature at a time, up to the default;
//   5. Portcullis deciding through `opa run --server` (OPA as a sidecar, one REST call per decision).
// Two load modes: saturation (autocannon, no pipelining, each of CONNECTIONS) — requests/s and CPU
// time per call of the processes under test; and fixed rate at 25/50/75% of the slowest
// configuration's capacity, the same offered rate for every configuration — p50/p90/p99/p99.9/max,
// from vegeta (open loop: no coordinated omission; bench/tools.sh installs it), with the 50% point
// repeated by autocannon's closed loop to show what a closed-loop generator hides.
// Servers under test are pinned to the last core, the load generator and the upstream to the first.
//
// Environment: SCENARIO=json (POST 2 KB JSON; default) | 64k (POST 64 KB) | slow (json, upstream takes
// 5 ms) | get; CONNECTIONS=16,64; DURATION=5 (s per run); REPEATS=3; MODE=all | saturation | fixed;
// ONLY=<regex on configuration names> (written as <date>-subset); OUT=<file stem>; KEEP=1 (saturation:
// each server started and warmed once and kept up for every round, a fresh token each round, the run
// order reversed every other round (ABBA), 0.5 s of warm-up per run after the first — the pairs of a
// round are then seconds apart instead of a restart and a warm-up apart, for the headline ratio on
// a machine whose speed drifts; by default every run starts its server afresh);
// EXTRA='<name>:VAR=v,VAR=v;…' adds gateway configurations (any bench/servers/gateway.mjs variables,
// NODE_FLAGS='--flag …' for node itself, SERVER=bare for the bare proxy instead, REPO=<checkout> for
// another built checkout's server, e.g. an earlier commit's), to compare a
// change within one run. Results:
// bench/results/<date>[-<scenario>].{md,json} and SVG charts next to them (bench/charts.mjs).
import { spawn, spawnSync } from 'node:child_process';
import { cannon, cpuSeconds, forkServer, freePort, stopServer } from './processes.mjs';
import { existsSync, mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { benchIssuer, DEFAULT, extraConfigs, LADDER, median, medianCi, SCENARIOS, taskset } from './common.mjs';
import { policyEvalBench } from './policy-eval.mjs';
import { renderCharts } from './charts.mjs';

const env = process.env;
const SCENARIO = env.SCENARIO ?? 'json';
const DURATION = Number(env.DURATION ?? 5);
const REPEATS = Number(env.REPEATS ?? 3);
const CONNECTIONS = (env.CONNECTIONS ?? '16,64').split(',').map(Number);
const MODE = env.MODE ?? 'all';
const ONLY = env.ONLY ? new RegExp(env.ONLY) : undefined;
const KEEP = env.KEEP === '1';
const here = new URL('.', import.meta.url).pathname;
const repo = new URL('..', import.meta.url).pathname;
const ncpu = cpus().length;
const SERVER_CORE = ncpu - 1;

const scenario = SCENARIOS[SCENARIO];
if (!scenario) throw new Error(`SCENARIO must be one of ${Object.keys(SCENARIOS).join(', ')}`);

// ---- processes --------------------------------------------------------------------------------

async function waitForPort(port, ms = 10_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const ok = await fetch(`http://127.0.0.1:${port}/`).then(() => true, () => false);
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing answered on port ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function which(cmd) {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** nginx as a plain reverse proxy: one worker, keep-alive to the upstream, no logs. */
async function startNginx(upstreamPort) {
  const bin = which('nginx') ?? (existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : undefined);
  if (!bin) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-bench-nginx-'));
  const port = await freePort();
  writeFileSync(
    join(dir, 'nginx.conf'),
    `daemon off; master_process on; worker_processes 1; pid ${dir}/nginx.pid; error_log ${dir}/error.log crit;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_buffer_size 128k; client_max_body_size 1m;
  upstream tool { server 127.0.0.1:${upstreamPort}; keepalive 256; }
  server {
    listen 127.0.0.1:${port} reuseport backlog=4096;
    location /tools/crm/ { proxy_pass http://tool/; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering off; }
  }
}
`,
  );
  const child = spawn('taskset', ['-c', String(SERVER_CORE), bin, '-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: 'ignore' });
  await waitForPort(port);
  // taskset execs nginx, so the child is the master; the worker renames itself, so find it by parent.
  const workers = spawnSync('pgrep', ['-P', String(child.pid)], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean).map(Number);
  const pids = [child.pid, ...workers];
  return {
    child: undefined,
    port,
    pids,
    extras: [{ stop: async () => { child.kill('SIGTERM'); await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r))); } }],
  };
}

/** `opa run --server` with the repo's Rego and data, on the gateway's core (a sidecar shares its pod). */
async function startOpa() {
  const opa = env.OPA_BIN ?? spawnSync('bash', [join(repo, 'scripts', 'opa.sh')], { encoding: 'utf8' }).stdout.trim();
  if (!opa || !existsSync(opa)) return undefined;
  const port = await freePort();
  const policies = join(repo, 'policies');
  const files = ['portcullis.rego', 'data.yaml'].map((f) => join(policies, f));
  const child = spawn('taskset', ['-c', String(SERVER_CORE), opa, 'run', '--server', '--addr', `127.0.0.1:${port}`, '--log-level', 'error', ...files], {
    stdio: 'ignore',
    env: { ...env, GOMAXPROCS: '1' },
  });
  await waitForPort(port);
  return { port, pid: child.pid, stop: async () => { child.kill('SIGTERM'); await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r))); } };
}

/** CPU seconds of these processes so far, from /proc: user + system, and system (the kernel's part). */
// ---- load ---------------------------------------------------------------------------------------

async function saturate(target, connections, warmup = 2) {
  const url = `http://127.0.0.1:${target.port}${target.path}`;
  await cannon({ url, connections, duration: warmup, ...target.request }); // warm-up: JIT, pools, token cache
  const before = cpuSeconds(target.pids);
  const r = await cannon({ url, connections, duration: DURATION, ...target.request });
  const after = cpuSeconds(target.pids);
  const perCall = (seconds) => (target.pids.length ? Math.round((seconds * 1e6) / Math.max(1, r.requests.total)) : null);
  return {
    rps: Math.round(r.requests.average),
    p50_ms: r.latency.p50,
    p99_ms: r.latency.p99,
    cpu_us_per_call: perCall(after.total - before.total),
    sys_us_per_call: perCall(after.sys - before.sys),
    non2xx: r.non2xx,
    errors: r.errors + r.timeouts,
  };
}

function vegetaBin() {
  return which('vegeta') ?? (existsSync(join(env.HOME ?? '', '.cache/portcullis/bin/vegeta')) ? join(env.HOME, '.cache/portcullis/bin/vegeta') : undefined);
}

/**
 * One fixed-rate point. vegeta (when installed) is an open-loop generator: requests leave on schedule
 * whether or not earlier ones have answered, so queueing shows in the latencies (no coordinated
 * omission). Without it, autocannon's `overallRate` — closed loop, and bursty within each second.
 */
async function fixedRate(target, rate, vegetaTargets) {
  const url = `http://127.0.0.1:${target.port}${target.path}`;
  await cannon({ url, connections: 16, duration: 1, ...target.request });
  const bin = vegetaBin();
  if (bin) {
    const attack = spawnSync('taskset', ['-c', '0', bin, 'attack', `-rate=${rate}/s`, `-duration=${DURATION}s`, '-keepalive=true', '-max-workers=512', '-timeout=30s'], {
      input: vegetaTargets(target),
      maxBuffer: 1 << 30,
    });
    const csv = spawnSync(bin, ['encode', '-to', 'csv'], { input: attack.stdout, encoding: 'utf8', maxBuffer: 1 << 30 }).stdout;
    const rows = csv.trim().split('\n').filter(Boolean).map((l) => l.split(','));
    const lat = rows.map((f) => Number(f[2]) / 1e6).sort((a, b) => a - b);
    const q = (p) => Math.round(lat[Math.min(lat.length - 1, Math.floor(lat.length * p))] * 100) / 100;
    const failed = rows.filter((f) => !f[1].startsWith('2')).length;
    return { generator: 'vegeta', rate, achieved: Math.round(rows.length / DURATION), p50_ms: q(0.5), p90_ms: q(0.9), p99_ms: q(0.99), p999_ms: q(0.999), max_ms: q(1), non2xx: failed, errors: 0 };
  }
  const r = await cannon({ url, connections: 64, overallRate: rate, duration: DURATION, ...target.request });
  const l = r.latency;
  return { generator: 'autocannon', rate, achieved: Math.round(r.requests.average), p50_ms: l.p50, p90_ms: l.p90, p99_ms: l.p99, p999_ms: l.p99_9, max_ms: l.max, non2xx: r.non2xx, errors: r.errors + r.timeouts };
}

/** The cross-check: the same point with autocannon's closed loop, whose latencies leave out the queueing. */
async function closedLoop(target, rate) {
  const url = `http://127.0.0.1:${target.port}${target.path}`;
  const r = await cannon({ url, connections: 64, overallRate: rate, duration: DURATION, ...target.request });
  const l = r.latency;
  return { generator: 'autocannon (closed loop)', rate, p50_ms: l.p50, p90_ms: l.p90, p99_ms: l.p99, max_ms: l.max };
}

// ---- the run --------------------------------------------------------------------------------------

const SCALED = 'portcullis: default, 10,000 agents and 1,000 tools';

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-bench-'));
  // Tokens live at most 15 minutes (auth.max_token_ttl) and a run takes longer: each configuration
  // start gets a fresh one.
  const { jwksFile, mint } = await benchIssuer(dir);
  const token = await mint();

  const body = scenario.bytes ? JSON.stringify({ text: 'x'.repeat(scenario.bytes - 12) }) : undefined;
  const bodyFile = body ? join(dir, 'body.json') : undefined;
  if (body) writeFileSync(bodyFile, body);
  const headers = { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) };
  const request = { method: scenario.method, headers, body };
  const vegetaTargets = (t) => `${scenario.method} http://127.0.0.1:${t.port}${t.path}\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join('\n')}\n${bodyFile ? `@${bodyFile}\n` : ''}`;
  // nginx and the bare proxy strip /tools/crm like the gateway maps it onto the upstream.
  const toolPath = scenario.path;
  const upstreamPath = toolPath.replace('/tools/crm', '');

  if (ncpu > 1) taskset(process.pid, 0);
  const upstream = await forkServer('upstream.mjs', { DELAY_MS: String(scenario.delay) }, 0);
  const upstreamUrl = `http://127.0.0.1:${upstream.port}`;
  console.log(`machine: ${ncpu} × ${cpus()[0]?.model}, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`);
  console.log(`scenario ${SCENARIO}: ${scenario.label}; autocannon, no pipelining, ${CONNECTIONS.join(' and ')} connections, ${DURATION}s per run, ${REPEATS} interleaved rounds; servers under test pinned to core ${SERVER_CORE}\n`);

  const opaProbe = await startOpa();
  await opaProbe?.stop();
  const gateway = (vars) => forkServer('gateway.mjs', { UPSTREAM: upstreamUrl, JWKS_FILE: jwksFile, ...vars }, SERVER_CORE);
  const bare = (vars) => forkServer('bare-proxy.mjs', { UPSTREAM: upstreamUrl, ...vars }, SERVER_CORE);
  const configs = [
    { name: 'upstream direct', start: async () => ({ port: upstream.port, pids: [], path: upstreamPath }) },
    { name: 'nginx (reverse proxy)', start: () => startNginx(upstream.port) },
    { name: 'bare @fastify/http-proxy', start: () => bare({}) },
    ...LADDER.map(([name, vars]) => ({ name, start: () => gateway(vars) })),
    ...extraConfigs(env.EXTRA).map(([name, vars]) => ({
      name,
      start: () => (vars.SERVER === 'bare' ? bare(vars) : gateway(vars)),
    })),
    // Size must not show in the per-call cost: route and registry lookups are map reads.
    { name: SCALED, start: () => gateway({ AGENTS: '10000', TOOLS: '1000' }) },
    {
      name: 'portcullis with OPA as a sidecar (opa run --server)',
      start: async () => {
        const opa = await startOpa();
        if (!opa) return undefined;
        const s = await gateway({ POLICY: 'opa-server', OPA_URL: `http://127.0.0.1:${opa.port}` });
        return { ...s, pids: [...s.pids, opa.pid], extras: [opa] };
      },
    },
  ].filter((c) => !ONLY || ONLY.test(c.name));
  if (!opaProbe) console.log('opa not available (scripts/opa.sh failed): the sidecar configuration is skipped');
  // Run order: the default right after the bare proxy, so the headline ratio compares two runs made
  // seconds apart; tables keep the ladder's order.
  const runOrder = [...configs];
  const defaultAt = runOrder.findIndex((c) => c.name === DEFAULT);
  const bareAt = runOrder.findIndex((c) => c.name.startsWith('bare'));
  if (bareAt >= 0 && defaultAt > bareAt) runOrder.splice(bareAt + 1, 0, ...runOrder.splice(defaultAt, 1));

  const target = async (c) => {
    headers.authorization = `Bearer ${await mint()}`;
    const s = await c.start();
    if (!s) return undefined;
    return { ...s, path: s.path ?? toolPath, request };
  };

  // Saturation.
  const saturation = new Map();
  const skipped = new Set();
  if (MODE !== 'fixed') {
    // KEEP=1: servers that stay up across rounds, and how many runs each has had.
    const kept = new Map();
    for (let round = 1; round <= REPEATS; round++) {
      console.log(`saturation, round ${round}/${REPEATS}`);
      // Tokens live 15 minutes; a kept server is handed a fresh one every round (one verification).
      if (KEEP) headers.authorization = `Bearer ${await mint()}`;
      for (const c of KEEP && round % 2 === 0 ? [...runOrder].reverse() : runOrder) {
        if (skipped.has(c.name)) continue;
        const t = KEEP ? kept.get(c.name)?.t ?? (await target(c)) : await target(c);
        if (!t) {
          skipped.add(c.name);
          console.log(`${c.name}: not available here, skipped`);
          continue;
        }
        const runs = KEEP ? (kept.get(c.name)?.runs ?? 0) : 0;
        if (KEEP) kept.set(c.name, { t, runs: runs + 1 });
        try {
          for (const n of CONNECTIONS) {
            const r = await saturate(t, n, runs > 0 ? 0.5 : 2);
            const key = `${c.name}|${n}`;
            if (!saturation.has(key)) saturation.set(key, []);
            saturation.get(key).push(r);
            console.log(`  ${c.name.padEnd(52)} ${String(n).padStart(3)} conn ${String(r.rps).padStart(7)} req/s  p50 ${String(r.p50_ms).padStart(4)} ms  p99 ${String(r.p99_ms).padStart(4)} ms  cpu ${r.cpu_us_per_call ?? '-'} µs/call (kernel ${r.sys_us_per_call ?? '-'})  non-2xx ${r.non2xx}  errors ${r.errors}`);
          }
        } finally {
          if (!KEEP) await stopServer(t);
        }
      }
    }
    for (const { t } of kept.values()) await stopServer(t);
  }
  const satRows = [];
  for (const c of configs) {
    for (const n of CONNECTIONS) {
      const rs = saturation.get(`${c.name}|${n}`);
      if (!rs) continue;
      satRows.push({
        name: c.name,
        connections: n,
        rps: Math.round(median(rs.map((r) => r.rps))),
        rps_min: Math.min(...rs.map((r) => r.rps)),
        rps_max: Math.max(...rs.map((r) => r.rps)),
        p50_ms: median(rs.map((r) => r.p50_ms)),
        p99_ms: median(rs.map((r) => r.p99_ms)),
        cpu_us_per_call: rs[0].cpu_us_per_call === null ? null : Math.round(median(rs.map((r) => r.cpu_us_per_call))),
        sys_us_per_call: rs[0].sys_us_per_call === null ? null : Math.round(median(rs.map((r) => r.sys_us_per_call))),
        non2xx: rs.reduce((a, r) => a + r.non2xx, 0),
        errors: rs.reduce((a, r) => a + r.errors, 0),
      });
    }
  }

  // Fixed rate: 25/50/75% of the slowest proxy's capacity (at the most connections measured).
  const fixed = [];
  const crossCheck = [];
  let capacity;
  if (MODE !== 'saturation') {
    const most = Math.max(...CONNECTIONS);
    const proxies = satRows.filter((r) => r.connections === most && r.name !== 'upstream direct');
    capacity = Number(env.CAPACITY ?? (proxies.length ? Math.min(...proxies.map((r) => r.rps)) : 1000));
    const rates = [0.25, 0.5, 0.75].map((f) => Math.max(1, Math.round(capacity * f)));
    console.log(`\nfixed rate: ${rates.join(', ')} req/s (25/50/75% of ${capacity} req/s, the slowest configuration), ${vegetaBin() ? 'vegeta (open loop)' : 'autocannon overallRate (vegeta not installed: bench/tools.sh)'}`);
    const points = new Map();
    for (let round = 1; round <= REPEATS; round++) {
      console.log(`fixed rate, round ${round}/${REPEATS}`);
      for (const c of runOrder) {
        if (skipped.has(c.name)) continue;
        const t = await target(c);
        if (!t) continue;
        try {
          for (const rate of rates) {
            const r = await fixedRate(t, rate, vegetaTargets);
            const key = `${c.name}|${rate}`;
            if (!points.has(key)) points.set(key, []);
            points.get(key).push(r);
            console.log(`  ${c.name.padEnd(52)} ${String(rate).padStart(6)}/s  p50 ${r.p50_ms}  p90 ${r.p90_ms}  p99 ${r.p99_ms}  p99.9 ${r.p999_ms}  max ${r.max_ms} ms  (${r.generator}, ${r.achieved}/s achieved)  failed ${r.non2xx + r.errors}`);
          }
          if (round === 1 && (c.name === DEFAULT || c.name.startsWith('bare'))) {
            const v = await closedLoop(t, rates[1]);
            crossCheck.push({ name: c.name, ...v });
            console.log(`  ${c.name.padEnd(52)} cross-check ${rates[1]}/s with ${v.generator}: p50 ${v.p50_ms}  p90 ${v.p90_ms}  p99 ${v.p99_ms}  max ${v.max_ms} ms`);
          }
        } finally {
          await stopServer(t);
        }
      }
    }
    // Each percentile: the median over the rounds; p99's range is kept too.
    for (const c of configs) {
      for (const rate of rates) {
        const rs = points.get(`${c.name}|${rate}`);
        if (!rs) continue;
        const med = (k) => median(rs.map((r) => r[k]));
        fixed.push({
          name: c.name, generator: rs[0].generator, rate, achieved: med('achieved'),
          p50_ms: med('p50_ms'), p90_ms: med('p90_ms'), p99_ms: med('p99_ms'), p99_min_ms: Math.min(...rs.map((r) => r.p99_ms)), p99_max_ms: Math.max(...rs.map((r) => r.p99_ms)),
          p999_ms: med('p999_ms'), max_ms: med('max_ms'),
          non2xx: rs.reduce((a, r) => a + r.non2xx, 0), errors: rs.reduce((a, r) => a + r.errors, 0),
        });
      }
    }
  }
  await stopServer(upstream);

  const evalBench = await policyEvalBench();
  console.log(`\npolicy evaluation (shipped policy, ${evalBench.input_bytes}-byte input):`);
  for (const r of evalBench.rows) console.log(`  ${r.name.padEnd(88)} p50 ${r.p50_us} µs  p99 ${r.p99_us} µs`);

  const summary = summarise(satRows, fixed, saturation);
  console.log('');
  for (const line of summary.lines) console.log(line);

  const date = new Date().toISOString().slice(0, 10);
  // A subset (ONLY) never overwrites the full run of the day.
  const stem = env.OUT ?? `${SCENARIO === 'json' ? date : `${date}-${SCENARIO}`}${ONLY ? '-subset' : ''}`;
  mkdirSync(join(here, 'results'), { recursive: true });
  const meta = { date, scenario: SCENARIO, label: scenario.label, node: process.version, cpus: ncpu, cpu: cpus()[0]?.model, memory_gib: Math.round(totalmem() / 2 ** 30), connections: CONNECTIONS, duration_s: DURATION, repeats: REPEATS, servers_kept: KEEP, capacity_rps: capacity ?? null, pinning: ncpu > 1 ? `servers on core ${SERVER_CORE}, load generator and upstream on core 0` : 'none (one core)' };
  const result = { meta, saturation: satRows, fixed_rate: fixed, cross_check: crossCheck, summary: summary.values, policy_eval: evalBench };
  writeFileSync(join(here, 'results', `${stem}.json`), JSON.stringify(result, null, 2) + '\n');
  const charts = await renderCharts(result, join(here, 'results'), stem);
  writeFileSync(join(here, 'results', `${stem}.md`), markdown(result, summary.lines, charts));
  console.log(`\nwritten: bench/results/${stem}.md, .json${charts.length ? `, ${charts.join(', ')}` : ''}`);
  if ([...satRows, ...fixed].some((r) => r.non2xx > 0 || r.errors > 0)) {
    console.error('some requests failed: the numbers above are not valid');
    process.exitCode = 1;
  }
}

function summarise(satRows, fixed, rounds) {
  const most = Math.max(...satRows.map((r) => r.connections), 0);
  const at = (name) => satRows.find((r) => r.name === name && r.connections === most);
  const bare = at('bare @fastify/http-proxy');
  const gw = at(DEFAULT);
  const sidecar = at('portcullis with OPA as a sidecar (opa run --server)');
  const values = {};
  const lines = [];
  if (bare && gw) {
    values.throughput_ratio = Number((gw.rps / bare.rps).toFixed(3));
    // This machine's speed drifts between rounds (±30% seen within one run): the ratio of the two
    // measured side by side in the same round is steadier than the ratio of their medians. Given for
    // every connection count, with the median's 95% interval once there are 6 rounds or more; the CPU
    // each spent per call, paired the same way, is a second estimate (the servers are CPU-bound).
    values.by_connections = {};
    for (const c of [...new Set(satRows.map((r) => r.connections))].sort((x, y) => x - y)) {
      const g = rounds.get(`${DEFAULT}|${c}`) ?? [];
      const b = rounds.get(`bare @fastify/http-proxy|${c}`) ?? [];
      const paired = g.map((r, i) => r.rps / (b[i]?.rps ?? NaN)).filter(Number.isFinite).sort((x, y) => x - y);
      const cpu = g.map((r, i) => (b[i]?.cpu_us_per_call ?? NaN) / (r.cpu_us_per_call ?? NaN)).filter(Number.isFinite);
      if (!paired.length) continue;
      const ci = medianCi(paired);
      const v = {
        median: Number(median(paired).toFixed(3)), min: Number(paired[0].toFixed(3)), max: Number(paired.at(-1).toFixed(3)),
        ci95: ci ? ci.map((x) => Number(x.toFixed(3))) : null,
        cpu_ratio: cpu.length ? Number(median(cpu).toFixed(3)) : null,
        rounds: paired.length,
      };
      values.by_connections[c] = v;
      if (c === most) values.throughput_ratio_paired = { median: v.median, min: v.min, max: v.max };
      const ciText = v.ci95 ? `, 95% interval of the median ${v.ci95[0].toFixed(2)}–${v.ci95[1].toFixed(2)}` : '';
      const cpuText = v.cpu_ratio !== null ? `; in CPU per call ${v.cpu_ratio.toFixed(2)}` : '';
      lines.push(`Portcullis (default) ÷ bare @fastify/http-proxy, ${c} connections: ${v.median.toFixed(2)} (${v.min.toFixed(2)}–${v.max.toFixed(2)}) round by round over ${v.rounds} rounds${ciText}${cpuText}${c === most ? `; ${values.throughput_ratio.toFixed(2)} of the medians` : ''} (goal ≥ 0.80)`);
    }
  }
  if (sidecar && gw) {
    values.over_sidecar = Number((gw.rps / sidecar.rps).toFixed(2));
    lines.push(`Portcullis (in-process policy) ÷ OPA sidecar: ${values.over_sidecar}× the throughput; p99 ${gw.p99_ms} vs ${sidecar.p99_ms} ms`);
  }
  const scaled = at(SCALED);
  if (scaled && gw && scaled.cpu_us_per_call !== null) {
    values.scaled_cpu_ratio = Number((scaled.cpu_us_per_call / gw.cpu_us_per_call).toFixed(2));
    lines.push(`10,000 agents and 1,000 tools: ${scaled.cpu_us_per_call} µs of CPU per call vs ${gw.cpu_us_per_call} µs with one of each (${values.scaled_cpu_ratio}×; flat is 1.00)`);
  }
  const rates = [...new Set(fixed.map((f) => f.rate))].sort((a, b) => a - b);
  const half = rates[1];
  const f = (name) => fixed.find((x) => x.name === name && x.rate === half);
  if (half && f(DEFAULT) && f('bare @fastify/http-proxy')) {
    values.p99_added_at_50pct_ms = Number((f(DEFAULT).p99_ms - f('bare @fastify/http-proxy').p99_ms).toFixed(2));
    lines.push(`p99 added over the bare proxy at 50% load (${half} req/s): ${values.p99_added_at_50pct_ms} ms (goal ≤ 0.5 ms)`);
  }
  for (const step of LADDER.map(([n]) => n).slice(1)) {
    const i = LADDER.findIndex(([n]) => n === step);
    const prev = at(LADDER[i - 1][0]);
    const cur = at(step);
    if (prev && cur && prev.cpu_us_per_call !== null) lines.push(`  ${step.replace('portcullis: ', '').padEnd(40)} ${String(cur.cpu_us_per_call - prev.cpu_us_per_call).padStart(5)} µs of CPU per call over the step below (${cur.cpu_us_per_call} µs in all)`);
  }
  return { values, lines };
}

function markdown(r, lines, charts) {
  const m = r.meta;
  const sat = r.saturation.map((x) => `| ${x.name} | ${x.connections} | ${x.rps} (${x.rps_min}–${x.rps_max}) | ${x.p50_ms} | ${x.p99_ms} | ${x.cpu_us_per_call ?? '—'} | ${x.sys_us_per_call ?? '—'} | ${x.non2xx + x.errors} |`);
  const fix = r.fixed_rate.map((x) => `| ${x.name} | ${x.rate} | ${x.p50_ms} | ${x.p90_ms} | ${x.p99_ms} (${x.p99_min_ms}–${x.p99_max_ms}) | ${x.p999_ms} | ${x.max_ms} |`);
  const cc = r.cross_check.map((x) => `| ${x.name} | ${x.rate} | ${x.p50_ms} | ${x.p90_ms} | ${x.p99_ms} | ${x.max_ms} |`);
  return [
    `# Bench ${m.date} — ${m.label}`,
    '',
    `${m.cpus} × ${m.cpu}, ${m.memory_gib} GiB, node ${m.node}; ${m.pinning}. ${m.repeats} interleaved rounds of ${m.duration_s} s (${m.servers_kept ? 'each server started once and kept for every round, the order reversed every other round; 2 s of warm-up on its first run, 0.5 s after' : 'each server started afresh for every run, after 2 s of warm-up'}); median and range.`,
    '',
    ...lines.filter((l) => !l.startsWith('  ')).flatMap((l) => [`**${l}**`, '']),
    'What each step of the ladder adds (CPU per call at the most connections):',
    '',
    ...lines.filter((l) => l.startsWith('  ')).map((l) => `- ${l.trim().replace(/\s{2,}/g, ' ')}`),
    '',
    ...charts.map((c) => `![${c}](${c})`),
    '',
    '## Saturation (autocannon, no pipelining)',
    '',
    'CPU: user + system time of the processes under test (gateway, and OPA for the sidecar) per call.',
    '',
    '| configuration | conn | req/s | p50 ms | p99 ms | CPU µs/call | of which kernel | failed |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...sat,
    '',
    `## Fixed rate (25/50/75% of ${m.capacity_rps ?? '—'} req/s, the slowest configuration's capacity)`,
    '',
    `Median of ${m.repeats} interleaved rounds for each percentile (p99's range in brackets).`,
    '',
    '| configuration | req/s offered | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...fix,
    '',
    `Generator: ${r.fixed_rate[0]?.generator ?? '—'}${r.fixed_rate[0]?.generator === 'vegeta' ? ' — open loop: each request leaves on schedule whether or not earlier ones answered, so queueing shows in the latencies (no coordinated omission)' : ' — closed loop: install vegeta (bench/tools.sh) for latencies without coordinated omission'}.`,
    '',
    '## Cross-check at 50%: the same point with a closed-loop generator',
    '',
    "autocannon's `overallRate` waits for a free connection and sends each second's requests in a burst; shown to compare the generators, not as a measurement.",
    '',
    cc.length ? '| configuration | req/s | p50 ms | p90 ms | p99 ms | max ms |\n| --- | ---: | ---: | ---: | ---: | ---: |\n' + cc.join('\n') : '—',
    '',
    `## Policy evaluation in process (shipped policy, ${r.policy_eval.input_bytes}-byte input)`,
    '',
    '| measurement | p50 µs | p99 µs | p99.9 µs |',
    '| --- | ---: | ---: | ---: |',
    ...r.policy_eval.rows.map((x) => `| ${x.name} | ${x.p50_us} | ${x.p99_us} | ${x.p999_us} |`),
    '',
  ].join('\n');
}

await main();
