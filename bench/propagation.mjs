// How fast a kill, its lift and a revocation reach the other replicas, under load.
//
// N replicas (REPLICAS=4) share one Redis; each serves a steady background load (LOAD=300 req/s per
// replica, from one load process). For each of ROUNDS (50) kills, probers on every other
// replica call as the target agent back to back over a kept-alive connection; the clock starts just
// before the admin POST goes to replica 0 and stops, per replica, at its first refusal. The lift
// (DELETE) is timed to the first call served again, and a revocation of another agent to its first
// 401. Reports p50/p99/max per action. Needs Redis at REDIS_URL (default redis://127.0.0.1:6379).
// REPO=<checkout> runs another built checkout's servers (an earlier commit, for an A/B).
import { fork } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { benchIssuer, latencies as fmt, percentile as pct } from './common.mjs';

const env = process.env;
const REPLICAS = Number(env.REPLICAS ?? 4);
const ROUNDS = Number(env.ROUNDS ?? 50);
// Rounds run first and not counted: the first admin calls pay for V8 compiling their path (≈ 30 ms).
const WARMUP = Number(env.WARMUP ?? 5);
const LOAD = Number(env.LOAD ?? 300);
// A pause between a prober's calls (ms): back to back (0), the probers are most of the machine's load.
const PROBE_GAP = Number(env.PROBE_GAP ?? 1);
const REDIS_URL = env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const here = new URL('.', import.meta.url).pathname;
const BREAK_GLASS = `propagation-${Math.random().toString(36).slice(2)}`;

function start(script, vars) {
  // REPO swaps the gateway only: the upstream and the load generator stay this checkout's.
  const child = fork(join(env.REPO && script === 'gateway.mjs' ? join(env.REPO, 'bench') : here, 'servers', script), [], { env: { ...env, ...vars }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve({ child, port: m.ready, admin: m.admin }));
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
  });
}

const dir = mkdtempSync(join(tmpdir(), 'portcullis-propagation-'));
const issuer = await benchIssuer(dir);
const upstream = await start('upstream.mjs', {});
const vars = {
  UPSTREAM: `http://127.0.0.1:${upstream.port}`,
  JWKS_FILE: issuer.jwksFile,
  AGENTS: String(2 * (ROUNDS + WARMUP) + 1),
  REDIS_URL,
  REDIS_PREFIX: `propagation-${Date.now()}:`,
  BREAK_GLASS_SHA256: createHash('sha256').update(BREAK_GLASS).digest('hex'),
  LOG_LEVEL: 'warn',
};
const replicas = [];
for (let i = 0; i < REPLICAS; i++) replicas.push(await start('gateway.mjs', vars));
const proxies = replicas.map((r) => `http://127.0.0.1:${r.port}`);

// Background load at a fixed rate on every replica, as support-bot (never killed), from one process.
const load = await start('steady-load.mjs', { RATE: String(LOAD), TARGETS: proxies.join(','), TOKEN: await issuer.mint(900) });
await new Promise((r) => setTimeout(r, 2000));

const admin = new Pool(replicas[0].admin, { connections: 1 });
async function adminCall(method, path, body) {
  const res = await admin.request({ method, path, headers: { authorization: `Bearer ${BREAK_GLASS}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
  const text = await res.body.text();
  if (res.statusCode >= 300) throw new Error(`${method} ${path}: ${res.statusCode} ${text}`);
  return JSON.parse(text);
}

const probePools = proxies.slice(1).map((url) => new Pool(url, { connections: 1, pipelining: 1 }));
/** Probes every other replica as `token` until `done(status)`; resolves with each replica's ms after `t0()`. */
async function measure(label, token, done, act) {
  let t0 = Infinity;
  let stop = false;
  const probes = probePools.map(async (pool) => {
    for (;;) {
      const res = await pool.request({ method: 'GET', path: '/tools/crm/contacts/c-1', headers: { authorization: `Bearer ${token}` } });
      await res.body.dump();
      if (performance.now() > t0 && done(res.statusCode)) return performance.now() - t0;
      if (stop) return NaN;
      if (PROBE_GAP > 0) await new Promise((r) => setTimeout(r, PROBE_GAP));
    }
  });
  await new Promise((r) => setTimeout(r, 20));
  t0 = performance.now();
  await act();
  adminMs.push(performance.now() - t0);
  (adminBy[label] ??= []).push(adminMs.at(-1));
  const times = await Promise.race([Promise.all(probes), new Promise((r) => setTimeout(() => r(null), 5000))]);
  stop = true;
  if (!times) throw new Error('a replica never saw the change within 5 s');
  // After the admin answered (the change was stored and announced before it answered).
  const answered = adminMs.at(-1);
  afterAnswer.push(...times.map((t) => Math.max(0, t - answered)));
  return times;
}

const adminMs = [];
const adminBy = {};
const afterAnswer = [];
const kill = [];
const lift = [];
const revoke = [];
async function round(i, keep) {
  const agent = `agent-${i}`;
  const token = await issuer.mint(900, agent);
  let id;
  const k = await measure('kill', token, (s) => s === 403, async () => {
    ({ id } = await adminCall('POST', '/admin/kill', { target: { agent }, reason: 'propagation bench' }));
  });
  const l = await measure('lift', token, (s) => s === 200, () => adminCall('DELETE', `/admin/kill/${id}`));
  const other = `agent-${ROUNDS + WARMUP + i}`;
  const revoked = await issuer.mint(900, other);
  const r = await measure('revocation', revoked, (s) => s === 401, () => adminCall('POST', '/admin/revoke', { agent: other, reason: 'propagation bench' }));
  if (!keep) return;
  kill.push(...k);
  lift.push(...l);
  revoke.push(...r);
}
for (let i = 1; i <= WARMUP; i++) await round(ROUNDS + i, false);
adminMs.length = 0;
afterAnswer.length = 0;
for (const k of Object.keys(adminBy)) delete adminBy[k];
for (let i = 1; i <= ROUNDS; i++) await round(i, true);

console.log(`propagation across ${REPLICAS} replicas on one Redis, ${LOAD} req/s of background load per replica, ${ROUNDS} rounds (from the admin request to the first call that shows it on each other replica):`);
console.log(`  kill       ${fmt(kill)}`);
console.log(`  lift       ${fmt(lift)}`);
console.log(`  revocation ${fmt(revoke)}`);
console.log(`  (the admin request itself, answered by replica 0: ${fmt(adminMs)} — ${Object.entries(adminBy).map(([k, v]) => `${k} p99 ${pct(v, 99).toFixed(1)} ms`).join(', ')};`);
console.log(`   after its answer, until the other replicas refuse or serve: ${fmt(afterAnswer)})`);

load.child.kill('SIGTERM');
await admin.close();
for (const p of probePools) await p.close();
for (const r of [...replicas, upstream]) r.child.kill('SIGTERM');
process.exit(0);
