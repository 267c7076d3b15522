// `npm run bench:profile` — where the gateway's CPU goes. Starts the bench upstream and Portcullis
// (the default step, or the step ENV names: POLICY=off, AUDIT=off, RATE_LIMITS=on…; SERVER=bare for
// the bare @fastify/http-proxy, to compare) under `node --cpu-prof`, pinned to the last core, loads it
// with autocannon (on the first core) for DURATION seconds (default 10, 64 connections; BODY=1 POSTs
// the bench's 2 KB JSON, BODY=65536 a 64 KB one; RATE=N paces the load at N req/s), stops it, and
// prints the self time of each package/area and of the hottest functions, as a share and in µs per
// call. The .cpuprofile is kept (path printed) for Chrome DevTools or speedscope.
import { fork } from 'node:child_process';
import { cpus } from 'node:os';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { benchIssuer, taskset } from './common.mjs';

const DURATION = Number(process.env.DURATION ?? 10);
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 64);
const TOP = Number(process.env.TOP ?? 40);
const here = new URL('.', import.meta.url).pathname;
const BARE = process.env.SERVER === 'bare';
const last = cpus().length - 1;
const pin = (pid, core) => last > 0 && taskset(pid, core);

function start(script, env, execArgv = []) {
  const child = fork(join(here, 'servers', script), [], { env: { ...process.env, ...env }, execArgv, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve({ child, port: m.ready }));
    pin(child.pid, script === 'upstream.mjs' ? 0 : last);
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
  });
}

const dir = mkdtempSync(join(tmpdir(), 'portcullis-profile-'));
const { jwksFile, mint } = await benchIssuer(dir);
const token = await mint();

pin(process.pid, 0);
const upstream = await start('upstream.mjs', {});
const gw = await start(BARE ? 'bare-proxy.mjs' : 'gateway.mjs', { UPSTREAM: `http://127.0.0.1:${upstream.port}`, JWKS_FILE: jwksFile }, ['--cpu-prof', `--cpu-prof-dir=${dir}`]);
// BODY=1: the bench's 2 KB JSON; BODY=<bytes> (e.g. 65536): a JSON body of that size.
const bodyBytes = process.env.BODY === '1' ? 2048 : Number(process.env.BODY ?? 0);
const body = bodyBytes > 0 ? JSON.stringify({ text: 'x'.repeat(bodyBytes - 12) }) : undefined;
const url = `http://127.0.0.1:${gw.port}/tools/crm/contacts/c-1${body ? '/notes' : ''}`;
const load = { url, connections: CONNECTIONS, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, method: body ? 'POST' : 'GET', body };
// RATE=N paces the measured run at N req/s (autocannon overallRate) instead of saturating: what a call
// costs when calls do not arrive in batches (idle time shows as the "(idle)" area).
const RATE = process.env.RATE ? Number(process.env.RATE) : undefined;
const run = (duration, overallRate) => new Promise((resolve, reject) => autocannon({ ...load, duration, ...(overallRate ? { overallRate } : {}) }, (e, r) => (e ? reject(e) : resolve(r))));
const warm = await run(2); // warm-up: JIT, pools, token cache (in the profile too)
const result = await run(DURATION, RATE);
gw.child.kill('SIGTERM');
await new Promise((r) => gw.child.once('exit', r));
upstream.child.kill('SIGTERM');
console.log(`${Math.round(result.requests.average)} req/s, p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, non-2xx ${result.non2xx}, errors ${result.errors}`);

const file = join(dir, readdirSync(dir).find((f) => f.endsWith('.cpuprofile')));
const profile = JSON.parse(readFileSync(file, 'utf8'));
// Self time per node: samples × the interval between them.
const self = new Map();
const dt = profile.timeDeltas;
for (let i = 0; i < profile.samples.length; i++) self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + (dt[i] ?? 0));
const total = [...self.values()].reduce((a, b) => a + b, 0);
const byFn = new Map();
const byArea = new Map();
for (const node of profile.nodes) {
  const us = self.get(node.id) ?? 0;
  if (us === 0) continue;
  const { functionName, url: src, lineNumber } = node.callFrame;
  const short = src.replace(/^file:\/\//, '').replace(process.cwd() + '/', '');
  const key = `${functionName || '(anonymous)'} ${short}:${lineNumber + 1}`;
  byFn.set(key, (byFn.get(key) ?? 0) + us);
  byArea.set(area(short, functionName), (byArea.get(area(short, functionName)) ?? 0) + us);
}
// Per call: the profile spans warm-up and load, so its time is spread over the calls of both.
const calls = warm.requests.total + result.requests.total;
const pct = (us) => ((100 * us) / total).toFixed(1).padStart(5) + '%' + (us / calls).toFixed(1).padStart(7) + ' µs';
console.log(`\nself time by area (${(total / 1e6).toFixed(1)} s sampled):`);
for (const [k, us] of [...byArea].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`${pct(us)}  ${k}`);
console.log(`\nhottest functions:`);
for (const [k, us] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, TOP)) console.log(`${pct(us)}  ${k}`);
console.log(`\nprofile: ${file}`);

function area(src, fn) {
  if (src === '') return fn.startsWith('(') ? fn : '(native)';
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(src);
  if (m) return m[1];
  if (src.startsWith('node:')) return src.split('/')[0];
  const d = /dist\/([^/]+(?:\/[^/]+)?)/.exec(src);
  return d ? `portcullis ${d[1]}` : src;
}
