// `npm run bench:soak` — does the gateway hold its memory under steady load? Portcullis with its
// default configuration (policy, file audit trail, metrics, logs) is driven at RATE req/s — default
// 70% of CAPACITY, itself by default the default step's 64-connection throughput in the latest
// bench/results/<date>.json — for MINUTES (default 10) by an open-loop generator (vegeta; autocannon
// overallRate without it), while RSS and the V8 heap are sampled every 5 s. Reports the least-squares
// slope of each (MB per minute, over the run after the first minute's warm-up), the latency the load
// saw, and a chart: bench/results/<date>-soak.{md,json,svg}.
import { fork, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import * as vega from 'vega';
import * as vegaLite from 'vega-lite';

const env = process.env;
const MINUTES = Number(env.MINUTES ?? 10);
const here = new URL('.', import.meta.url).pathname;
const ncpu = cpus().length;

function latestCapacity() {
  const files = readdirSync(join(here, 'results')).filter((f) => /^\d{4}-\d{2}-\d{2}\.json$/.test(f)).sort();
  for (const f of files.reverse()) {
    const r = JSON.parse(readFileSync(join(here, 'results', f), 'utf8'));
    const row = (r.saturation ?? []).filter((x) => x.name === 'portcullis: + metrics and logs = default').sort((a, b) => b.connections - a.connections)[0];
    if (row) return { rps: row.rps, from: f };
  }
  return undefined;
}

function forkServer(script, vars, core) {
  const child = fork(join(here, 'servers', script), [], { env: { ...env, ...vars }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve({ child, port: m.ready }));
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
  }).then((s) => {
    if (ncpu > 1) spawnSync('taskset', ['-a', '-p', '-c', String(core), String(s.child.pid)], { stdio: 'ignore' });
    return s;
  });
}

function memory(child) {
  return new Promise((resolve) => {
    const on = (m) => {
      if (m?.memory) {
        child.off('message', on);
        resolve(m.memory);
      }
    };
    child.on('message', on);
    child.send('memory');
  });
}

function slope(points) {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((a, p) => a + p[0], 0) / n;
  const my = points.reduce((a, p) => a + p[1], 0) / n;
  const num = points.reduce((a, p) => a + (p[0] - mx) * (p[1] - my), 0);
  const den = points.reduce((a, p) => a + (p[0] - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
}

const capacity = env.CAPACITY ? { rps: Number(env.CAPACITY), from: 'CAPACITY' } : latestCapacity();
if (!capacity) throw new Error('no capacity known: run `npm run bench` first, or set CAPACITY');
const rate = Number(env.RATE ?? Math.round(capacity.rps * 0.7));
const share = `${Math.round((100 * rate) / capacity.rps)}% of ${capacity.rps} req/s, from ${capacity.from}`;

const dir = mkdtempSync(join(tmpdir(), 'portcullis-soak-'));
const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
const jwksFile = join(dir, 'jwks.json');
writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'bench', alg: 'EdDSA' }] }));
const now = Math.floor(Date.now() / 1000);
// One token for the whole soak: it must outlive it, and auth.max_token_ttl is 15 minutes.
if (MINUTES > 14) throw new Error('MINUTES must be at most 14: the soak uses one token, and tokens live at most 15 minutes');
const token = await new SignJWT({ scope: 'crm:read crm:write' }).setProtectedHeader({ alg: 'EdDSA', kid: 'bench' }).setIssuer('https://idp.bench').setAudience('portcullis')
  .setSubject('support-bot').setJti('soak').setIssuedAt(now).setExpirationTime(now + 900).sign(privateKey);
const body = JSON.stringify({ text: 'x'.repeat(2036) });
const bodyFile = join(dir, 'body.json');
writeFileSync(bodyFile, body);

if (ncpu > 1) spawnSync('taskset', ['-a', '-p', '-c', '0', String(process.pid)], { stdio: 'ignore' });
const upstream = await forkServer('upstream.mjs', {}, 0);
const gw = await forkServer('gateway.mjs', { UPSTREAM: `http://127.0.0.1:${upstream.port}`, JWKS_FILE: jwksFile }, ncpu - 1);
const path = '/tools/crm/contacts/c-1/notes';
const vegetaBin = [spawnSync('sh', ['-c', 'command -v vegeta'], { encoding: 'utf8' }).stdout.trim(), join(env.HOME ?? '', '.cache/portcullis/bin/vegeta')].find((b) => b && existsSync(b));
console.log(`soak: ${rate} req/s (${share}) for ${MINUTES} min, POST 2 KB JSON, ${vegetaBin ? 'vegeta (open loop)' : 'autocannon overallRate'}`);

let load;
const duration = MINUTES * 60;
if (vegetaBin) {
  const targets = `POST http://127.0.0.1:${gw.port}${path}\nauthorization: Bearer ${token}\ncontent-type: application/json\n@${bodyFile}\n`;
  const attack = spawn('taskset', ['-c', '0', vegetaBin, 'attack', `-rate=${rate}/s`, `-duration=${duration}s`, '-keepalive=true', '-max-workers=512'], { stdio: ['pipe', 'pipe', 'inherit'] });
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

const samples = [];
const started = Date.now();
const timer = setInterval(async () => {
  const m = await memory(gw.child);
  const t = (Date.now() - started) / 60_000;
  samples.push({ minute: Math.round(t * 100) / 100, rss_mb: m.rss / 2 ** 20, heap_mb: m.heapUsed / 2 ** 20 });
  if (samples.length % 12 === 0) console.log(`  ${t.toFixed(1)} min: rss ${(m.rss / 2 ** 20).toFixed(1)} MB, heap ${(m.heapUsed / 2 ** 20).toFixed(1)} MB`);
}, 5_000);
const result = await load;
clearInterval(timer);
gw.child.kill('SIGTERM');
upstream.child.kill('SIGTERM');

const steady = samples.filter((s) => s.minute >= Math.min(1, MINUTES / 5));
const rssSlope = slope(steady.map((s) => [s.minute, s.rss_mb]));
const heapSlope = slope(steady.map((s) => [s.minute, s.heap_mb]));
const latency = vegetaBin
  ? { p50_ms: result.latencies['50th'] / 1e6, p99_ms: result.latencies['99th'] / 1e6, max_ms: result.latencies.max / 1e6, success: result.success, requests: result.requests }
  : { p50_ms: result.latency.p50, p99_ms: result.latency.p99, max_ms: result.latency.max, success: result.non2xx === 0 ? 1 : 1 - result.non2xx / result.requests.total, requests: result.requests.total };
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
  latency: Object.fromEntries(Object.entries(latency).map(([k, v]) => [k, typeof v === 'number' ? r2(v) : v])),
};
console.log(summary);

const date = new Date().toISOString().slice(0, 10);
const out = join(here, 'results', `${date}-soak`);
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
    `![memory](${date}-soak.svg)`,
    '',
    '| | start (after warm-up) | end | slope |',
    '| --- | ---: | ---: | ---: |',
    `| RSS | ${summary.rss_start_mb} MB | ${summary.rss_end_mb} MB | ${summary.rss_slope_mb_per_min} MB/min |`,
    `| V8 heap used | ${summary.heap_start_mb} MB | ${summary.heap_end_mb} MB | ${summary.heap_slope_mb_per_min} MB/min |`,
    '',
    `Latency over the whole soak: p50 ${summary.latency.p50_ms} ms, p99 ${summary.latency.p99_ms} ms, max ${summary.latency.max_ms} ms; success ${summary.latency.success}.`,
    '',
  ].join('\n'),
);
console.log(`written: bench/results/${date}-soak.{md,json,svg}`);
