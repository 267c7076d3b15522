// A registry of 100,000 agents (AGENTS) on REPLICAS (2) replicas sharing one Redis, each under a
// steady background load (LOAD req/s per replica): how long a replica takes to start and seed or
// load it, how long a SCIM write takes to answer, and how fast a SCIM change reaches the other
// replica — a suspension until its first refused call, a newly created agent until its first served
// call (ROUNDS each, after WARMUP). Per-call cost against the registry's size is bench/run.mjs's job:
//   EXTRA='agents-4:AGENTS=4;agents-100k:AGENTS=100000' ONLY='^agents-' npm run bench
// Needs Redis at REDIS_URL (default redis://127.0.0.1:6379).
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { benchIssuer, latencies as fmt } from './common.mjs';
import { forkServer } from './processes.mjs';

const env = process.env;
const REPLICAS = Number(env.REPLICAS ?? 2);
const AGENTS = Number(env.AGENTS ?? 100_000);
const ROUNDS = Number(env.ROUNDS ?? 30);
const WARMUP = Number(env.WARMUP ?? 5);
const LOAD = Number(env.LOAD ?? 300);
const REDIS_URL = env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const BREAK_GLASS = `registry-${Math.random().toString(36).slice(2)}`;
const AGENT_SCHEMA = 'urn:portcullis:params:scim:schemas:core:1.0:Agent';
const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

const start = (script, vars) => forkServer(script, vars);

const dir = mkdtempSync(join(tmpdir(), 'portcullis-registry-bench-'));
const issuer = await benchIssuer(dir);
const upstream = await start('upstream.mjs', {});
const vars = {
  UPSTREAM: `http://127.0.0.1:${upstream.port}`,
  JWKS_FILE: issuer.jwksFile,
  AGENTS: String(AGENTS),
  REDIS_URL,
  REDIS_PREFIX: `registry-bench-${Date.now()}:`,
  BREAK_GLASS_SHA256: createHash('sha256').update(BREAK_GLASS).digest('hex'),
  LOG_LEVEL: 'warn',
};
const replicas = [];
const startMs = [];
for (let i = 0; i < REPLICAS; i++) {
  const t = performance.now();
  replicas.push(await start('gateway.mjs', vars));
  startMs.push(performance.now() - t);
}
const proxies = replicas.map((r) => `http://127.0.0.1:${r.port}`);
const load = await start('steady-load.mjs', { RATE: String(LOAD), TARGETS: proxies.join(','), TOKEN: await issuer.mint(900) });
await new Promise((r) => setTimeout(r, 2000));

const admin = new Pool(replicas[0].admin, { connections: 1 });
async function scim(method, path, body) {
  const res = await admin.request({ method, path: `/scim/v2${path}`, headers: { authorization: `Bearer ${BREAK_GLASS}`, ...(body ? { 'content-type': 'application/scim+json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
  const text = await res.body.text();
  if (res.statusCode >= 300) throw new Error(`${method} ${path}: ${res.statusCode} ${text}`);
  return JSON.parse(text);
}

const probe = new Pool(proxies.at(-1), { connections: 1, pipelining: 1 });
/** Calls the last replica as `token` until `done(status)`; the ms from just before `act` to that call. */
async function measure(token, done, act) {
  let t0 = Infinity;
  let stop = false;
  const probing = (async () => {
    for (;;) {
      const res = await probe.request({ method: 'GET', path: '/tools/crm/contacts/c-1', headers: { authorization: `Bearer ${token}` } });
      await res.body.dump();
      if (performance.now() > t0 && done(res.statusCode)) return performance.now() - t0;
      if (stop) return NaN;
      await new Promise((r) => setTimeout(r, 1));
    }
  })();
  await new Promise((r) => setTimeout(r, 20));
  t0 = performance.now();
  await act();
  writeMs.push(performance.now() - t0);
  const ms = await Promise.race([probing, new Promise((r) => setTimeout(() => r(null), 5000))]);
  stop = true;
  if (ms === null) throw new Error('the other replica never saw the change within 5 s');
  return ms;
}

const writeMs = [];
const suspend = [];
const create = [];
for (let i = 1; i <= WARMUP + ROUNDS; i++) {
  const agent = `agent-${i}`;
  const { Resources } = await scim('GET', `/Agents?filter=${encodeURIComponent(`agentId eq "${agent}"`)}`);
  const s = await measure(await issuer.mint(900, agent), (status) => status !== 200, () =>
    scim('PATCH', `/Agents/${Resources[0].id}`, { schemas: [PATCH], Operations: [{ op: 'replace', path: 'status', value: 'suspended' }] }));
  const fresh = `new-agent-${i}`;
  const c = await measure(await issuer.mint(900, fresh), (status) => status === 200, () =>
    scim('POST', '/Agents', { schemas: [AGENT_SCHEMA], agentId: fresh, owner: 'alice@example.com', roles: ['support_agent'], maxClassification: 'confidential' }));
  if (i <= WARMUP) {
    writeMs.length = 0;
    continue;
  }
  suspend.push(s);
  create.push(c);
}

console.log(`registry of ${AGENTS.toLocaleString('en')} agents on ${REPLICAS} replicas sharing one Redis, ${LOAD} req/s of background load per replica, ${ROUNDS} rounds:`);
console.log(`  start to ready: ${startMs.map((ms) => `${(ms / 1000).toFixed(1)} s`).join(' (seeding), then ')} (loading)`);
console.log(`  SCIM change on replica 0 → refused on replica ${REPLICAS - 1} (suspension): ${fmt(suspend)}`);
console.log(`  SCIM change on replica 0 → served on replica ${REPLICAS - 1} (a new agent):  ${fmt(create)}`);
console.log(`  the SCIM write itself (PATCH or POST, answered by replica 0): ${fmt(writeMs)}`);

load.child.kill('SIGTERM');
await admin.close();
await probe.close();
for (const r of [...replicas, upstream]) r.child.kill('SIGTERM');
process.exit(0);
