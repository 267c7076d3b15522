// `npm run bench:soak` — does the gateway hold its memory under steady load? Portcullis with its
// default configuration (policy, file audit trail, metrics, logs) is driven at RATE req/s — default
// SHARE (default 0.7) of CAPACITY, itself by default measured in place first (autocannon, 64
// connections, 20 s, on the same processes: this VM moves too much for a number from another run) —
// for MINUTES (default 10) by an open-loop generator (vegeta; autocannon overallRate without it),
// while RSS, the V8 heap and the gateway's CPU are sampled every 5 s. Reports the least-squares slope
// of each (MB per minute, over the run after the first minute's warm-up), the heap a full GC leaves
// before and after the load (what the gateway really holds: a leak shows here however lazy the
// collector is), the access log lines the gateway dropped, the latency the load saw, and a chart:
// bench/results/<date>-soak[-NAME].{md,json,svg}. MAX_WORKERS caps vegeta's concurrency (default
// 512); GC=1 runs a full GC before every sample (the live heap, for hunting a leak). FAULTS=1 adds
// the bad day: an HTTP sink whose collector is dead for the whole soak, and a live-tail subscriber
// that reads the stream from the log's first record at 64 KB per second; at the end the log must
// hold an event for every answered call and verify end to end.
import { fork, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { verifyAudit } from '../dist/audit/verify.js';
import { logFiles, readLines } from '../dist/audit/log-files.js';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { benchIssuer, taskset } from './common.mjs';
import * as vega from 'vega';
import * as vegaLite from 'vega-lite';

const env = process.env;
const MINUTES = Number(env.MINUTES ?? 10);
const here = new URL('.', import.meta.url).pathname;
const ncpu = cpus().length;

function forkServer(script, vars, core, execArgv = []) {
  const child = fork(join(here, 'servers', script), [], { env: { ...env, ...vars }, execArgv, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve({ child, port: m.ready, admin: m.admin, audit: m.audit }));
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
  }).then((s) => {
    if (ncpu > 1) taskset(s.child.pid, core);
    return s;
  });
}

/** The gateway's memoryUsage() and cpuUsage(); `gc` runs a full collection first. */
function sample(child, what = 'memory') {
  return new Promise((resolve) => {
    const on = (m) => {
      if (m?.memory) {
        child.off('message', on);
        resolve(m);
      }
    };
    child.on('message', on);
    child.send(what);
  });
}
const mb = (bytes) => bytes / 2 ** 20;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function slope(points) {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((a, p) => a + p[0], 0) / n;
  const my = points.reduce((a, p) => a + p[1], 0) / n;
  const num = points.reduce((a, p) => a + (p[0] - mx) * (p[1] - my), 0);
  const den = points.reduce((a, p) => a + (p[0] - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
}

const dir = mkdtempSync(join(tmpdir(), 'portcullis-soak-'));
// One token for the whole soak: it must outlive it, and auth.max_token_ttl is 15 minutes.
if (MINUTES > 14) throw new Error('MINUTES must be at most 14: the soak uses one token, and tokens live at most 15 minutes');
const { jwksFile, mint } = await benchIssuer(dir);
const token = await mint();
const body = JSON.stringify({ text: 'x'.repeat(2036) });
const bodyFile = join(dir, 'body.json');
writeFileSync(bodyFile, body);

if (ncpu > 1) taskset(process.pid, 0);
const upstream = await forkServer('upstream.mjs', {}, 0);
const FAULTS = env.FAULTS === '1';
const BREAK_GLASS = `soak-${Math.random().toString(36).slice(2)}`;
const faults = FAULTS
  ? { SINK_URL: `http://127.0.0.1:${await deadPort()}/collector`, BREAK_GLASS_SHA256: createHash('sha256').update(BREAK_GLASS).digest('hex') }
  : {};
const gw = await forkServer('gateway.mjs', { UPSTREAM: `http://127.0.0.1:${upstream.port}`, JWKS_FILE: jwksFile, ...faults }, ncpu - 1, ['--expose-gc']);
const path = '/tools/crm/contacts/c-1/notes';
const saturate = (duration) =>
  new Promise((resolve, reject) =>
    autocannon({ url: `http://127.0.0.1:${gw.port}${path}`, method: 'POST', body, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, connections: 64, duration }, (e, r) => (e ? reject(e) : resolve(r))),
  );

await saturate(5); // warm-up: the JIT, the caches, the pools
let capacity;
if (env.CAPACITY) capacity = { rps: Number(env.CAPACITY), from: 'CAPACITY' };
else if (!env.RATE) {
  const r = await saturate(20);
  if (r.non2xx > 0 || r.errors > 0) throw new Error(`capacity run: ${r.non2xx} non-2xx answers, ${r.errors} errors`);
  capacity = { rps: Math.round(r.requests.average), from: 'measured in place: autocannon, 64 connections, 20 s' };
  console.log(`capacity: ${capacity.rps} req/s (${capacity.from})`);
}
await sleep(5_000);
const rate = Number(env.RATE ?? Math.round(capacity.rps * Number(env.SHARE ?? 0.7)));
const share = capacity ? `${Math.round((100 * rate) / capacity.rps)}% of ${capacity.rps} req/s, ${capacity.from}` : 'RATE';
const before = await sample(gw.child, 'gc');
const vegetaBin = [spawnSync('sh', ['-c', 'command -v vegeta'], { encoding: 'utf8' }).stdout.trim(), join(env.HOME ?? '', '.cache/portcullis/bin/vegeta')].find((b) => b && existsSync(b));
console.log(`soak: ${rate} req/s (${share}) for ${MINUTES} min, POST 2 KB JSON, ${vegetaBin ? 'vegeta (open loop)' : 'autocannon overallRate'}`);

let load;
const duration = MINUTES * 60;
if (vegetaBin) {
  const targets = `POST http://127.0.0.1:${gw.port}${path}\nauthorization: Bearer ${token}\ncontent-type: application/json\n@${bodyFile}\n`;
  const attack = spawn('taskset', ['-c', '0', vegetaBin, 'attack', `-rate=${rate}/s`, `-duration=${duration}s`, '-keepalive=true', `-max-workers=${env.MAX_WORKERS ?? 512}`], { stdio: ['pipe', 'pipe', 'inherit'] });
  attack.stdin.end(targets);
  const report = spawn(vegetaBin, ['report', '-type=json'], { stdio: ['pipe', 'pipe', 'inherit'] });
  attack.stdout.pipe(report.stdin);
  let out = '';
  report.stdout.on('data', (c) => (out += c));
  load = new Promise((r) => report.on('exit', () => r(JSON.parse(out))));
} else {
  load = new Promise((resolve, reject) =>
    autocannon({ url: `http://127.0.0.1:${gw.port}${path}`, method: 'POST', body, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, connections: 64, overallRate: rate, duration }, (e, r) => (e ? reject(e) : resolve(r))),
  );
}

// The slow subscriber: from the first record, 64 KB a second.
let tailBytes = 0;
const tail = FAULTS ? slowTail() : undefined;

const samples = [];
const started = Date.now();
let last = { at: started, cpu: before.cpu };
const timer = setInterval(async () => {
  const { memory: m, cpu } = await sample(gw.child, env.GC === '1' ? 'gc' : 'memory');
  const now = Date.now();
  const t = (now - started) / 60_000;
  // The gateway's CPU over the last interval, as a share of its one core: near 1 means it is saturated.
  const cpuShare = (cpu.user + cpu.system - last.cpu.user - last.cpu.system) / 1000 / (now - last.at);
  last = { at: now, cpu };
  samples.push({ minute: Math.round(t * 100) / 100, rss_mb: mb(m.rss), heap_mb: mb(m.heapUsed), cpu: Math.round(cpuShare * 1000) / 1000 });
  if (samples.length % 12 === 0) console.log(`  ${t.toFixed(1)} min: rss ${mb(m.rss).toFixed(1)} MB, heap ${mb(m.heapUsed).toFixed(1)} MB, cpu ${(100 * cpuShare).toFixed(0)}%`);
}, 5_000);
const result = await load;
clearInterval(timer);
await sleep(2_000); // let what is in flight finish
const after = await sample(gw.child, 'gc');
// What the gateway itself counted: access log lines it had to drop (its buffer is bounded).
const metricsText = await fetch(`${gw.admin}/metrics`).then((r) => r.text());
const logDropped = Number(/^portcullis_access_log_dropped_total (\S+)$/m.exec(metricsText)?.[1] ?? NaN);
const sinkFailures = Number(/^portcullis_audit_sink_failures_total\{sink="collector"\} (\S+)$/m.exec(metricsText)?.[1] ?? 0);
tail?.destroy();
gw.child.kill('SIGTERM');
await new Promise((r) => gw.child.once('exit', r));
upstream.child.kill('SIGTERM');
let faultsSummary;
if (FAULTS) {
  // Nothing lost: every answered call has its event, and the chain verifies end to end.
  const files = logFiles(gw.audit);
  let calls = 0;
  for (const f of files) for (const l of readLines(f)) if (l.record?.type === 'tool_call') calls++;
  const report = verifyAudit(files);
  faultsSummary = { sink_failures: sinkFailures, tail_bytes_read: tailBytes, tool_call_events: calls, chain_verifies: report.ok, chain_error: report.error ?? null };
}

const steady = samples.filter((s) => s.minute >= Math.min(1, MINUTES / 5));
const rssSlope = slope(steady.map((s) => [s.minute, s.rss_mb]));
const heapSlope = slope(steady.map((s) => [s.minute, s.heap_mb]));
const latency = vegetaBin
  ? { p50_ms: result.latencies['50th'] / 1e6, p99_ms: result.latencies['99th'] / 1e6, max_ms: result.latencies.max / 1e6, success: result.success, requests: result.requests, achieved_rps: result.throughput }
  : { p50_ms: result.latency.p50, p99_ms: result.latency.p99, max_ms: result.latency.max, success: result.non2xx === 0 ? 1 : 1 - result.non2xx / result.requests.total, requests: result.requests.total, achieved_rps: result.requests.average };
const r2 = (n) => Math.round(n * 100) / 100;
const summary = {
  rate,
  share,
  minutes: MINUTES,
  rss_start_mb: r2(steady[0]?.rss_mb ?? 0),
  rss_end_mb: r2(steady.at(-1)?.rss_mb ?? 0),
  rss_slope_mb_per_min: r2(rssSlope),
  heap_start_mb: r2(steady[0]?.heap_mb ?? 0),
  heap_end_mb: r2(steady.at(-1)?.heap_mb ?? 0),
  heap_slope_mb_per_min: r2(heapSlope),
  heap_after_gc_before_mb: r2(mb(before.memory.heapUsed)),
  heap_after_gc_after_mb: r2(mb(after.memory.heapUsed)),
  access_log_dropped: logDropped,
  gateway_cpu_mean: r2(steady.reduce((a, s) => a + s.cpu, 0) / Math.max(1, steady.length)),
  latency: Object.fromEntries(Object.entries(latency).map(([k, v]) => [k, typeof v === 'number' ? r2(v) : v])),
  faults: faultsSummary,
};
console.log(summary);

const date = new Date().toISOString().slice(0, 10);
const stem = `${date}-soak${env.NAME ? `-${env.NAME}` : ''}`;
const out = join(here, 'results', stem);
writeFileSync(`${out}.json`, JSON.stringify({ meta: { date, node: process.version, cpus: ncpu, cpu: cpus()[0]?.model, generator: vegetaBin ? 'vegeta' : 'autocannon' }, summary, samples }, null, 2) + '\n');
const spec = {
  title: { text: `Memory under a ${MINUTES}-minute soak at ${rate} req/s`, subtitle: `RSS slope ${summary.rss_slope_mb_per_min} MB/min, heap slope ${summary.heap_slope_mb_per_min} MB/min (after warm-up)` },
  data: { values: samples.flatMap((s) => [{ minute: s.minute, what: 'RSS', mb: s.rss_mb }, { minute: s.minute, what: 'V8 heap used', mb: s.heap_mb }]) },
  width: 560,
  height: 260,
  mark: { type: 'line', point: false },
  encoding: { x: { field: 'minute', type: 'quantitative', title: 'minutes' }, y: { field: 'mb', type: 'quantitative', title: 'MB' }, color: { field: 'what', type: 'nominal', title: null } },
};
writeFileSync(`${out}.svg`, await new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: 'none' }).toSVG());
writeFileSync(
  `${out}.md`,
  [
    `# Soak ${date}`,
    '',
    `Portcullis, default configuration, POST 2 KB JSON at ${rate} req/s (${share}) for ${MINUTES} minutes, ${vegetaBin ? 'vegeta (open loop)' : 'autocannon'}; ${ncpu} × ${cpus()[0]?.model}, node ${process.version}.`,
    '',
    `![memory](${stem}.svg)`,
    '',
    '| | start (after warm-up) | end | slope |',
    '| --- | ---: | ---: | ---: |',
    `| RSS | ${summary.rss_start_mb} MB | ${summary.rss_end_mb} MB | ${summary.rss_slope_mb_per_min} MB/min |`,
    `| V8 heap used | ${summary.heap_start_mb} MB | ${summary.heap_end_mb} MB | ${summary.heap_slope_mb_per_min} MB/min |`,
    '',
    `| V8 heap after a full GC | ${summary.heap_after_gc_before_mb} MB (before the load) | ${summary.heap_after_gc_after_mb} MB (after it) | |`,
    '',
    `The gateway's core was ${Math.round(100 * summary.gateway_cpu_mean)}% busy on average; the load achieved ${summary.latency.achieved_rps} req/s of the ${rate} offered; access log lines dropped (its buffer is bounded): ${summary.access_log_dropped}.`,
    '',
    `Latency over the whole soak: p50 ${summary.latency.p50_ms} ms, p99 ${summary.latency.p99_ms} ms, max ${summary.latency.max_ms} ms; success ${summary.latency.success}.`,
    '',
    ...(faultsSummary
      ? [
          `With faults (FAULTS=1): an HTTP sink whose collector was dead throughout (${faultsSummary.sink_failures} failed deliveries, backing off), and a live-tail subscriber reading from the first record at 64 KB/s (${Math.round(faultsSummary.tail_bytes_read / 2 ** 20)} MB read). The log holds ${faultsSummary.tool_call_events} tool_call events for ${summary.latency.requests} requests sent; the chain ${faultsSummary.chain_verifies ? 'verifies end to end' : `does NOT verify: ${JSON.stringify(faultsSummary.chain_error)}`}.`,
          '',
        ]
      : []),
  ].join('\n'),
);
console.log(`written: bench/results/${stem}.{md,json,svg}`);

/** A port nothing listens on (bound, then released). */
async function deadPort() {
  const srv = createServer();
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

function slowTail() {
  const u = new URL(gw.admin);
  const req = httpRequest({ host: u.hostname, port: u.port, path: '/admin/audit/stream?from_seq=0', headers: { authorization: `Bearer ${BREAK_GLASS}` } }, (res) => {
    res.pause();
    const tick = setInterval(() => {
      let chunk;
      let got = 0;
      while (got < 64 * 1024 && (chunk = res.read()) !== null) got += chunk.length;
      tailBytes += got;
    }, 1000);
    res.on('close', () => clearInterval(tick));
  });
  req.on('error', () => undefined);
  req.end();
  return req;
}
