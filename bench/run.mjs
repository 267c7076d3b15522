// `npm run bench` — the upstream directly, a bare @fastify/http-proxy and Portcullis (token cache off
// and on), measured with autocannon in one run, same upstream and payload. Prints requests/s, p50 and
// p99 for each and the gateway ÷ bare-proxy ratio, and writes bench/results/<date>.{md,json}.
// Options (env): DURATION=5 (s per run), REPEATS=3 (rounds; configurations interleaved within each
// round, median and range reported), CONNECTIONS=64, DELAY_MS=0 (upstream latency), BODY=1 (POST a
// 2 KB JSON body instead of GET).
import { fork, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { policyEvalBench } from './policy-eval.mjs';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';

const DURATION = Number(process.env.DURATION ?? 5);
const REPEATS = Number(process.env.REPEATS ?? 3);
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 64);
const DELAY_MS = Number(process.env.DELAY_MS ?? 0);
const WITH_BODY = process.env.BODY === '1';
const here = new URL('.', import.meta.url).pathname;

// Servers under test run on the last core, the load generator and the upstream on the first
// (taskset, when there is more than one core), so they do not steal each other's CPU.
const ncpu = cpus().length;

function start(script, env, core) {
  const child = fork(join(here, 'servers', script), [], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve({ child, port: m.ready }));
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
  }).then(async (s) => {
    if (ncpu > 1) taskset(s.child.pid, core);
    return s;
  });
}

function taskset(pid, core) {
  return spawnSync('taskset', ['-a', '-p', '-c', String(core), String(pid)], { stdio: 'ignore' }).status === 0;
}

async function stop(s) {
  s.child.kill('SIGTERM');
  await new Promise((r) => s.child.once('exit', r));
}

function run(url, headers, body) {
  return new Promise((resolve, reject) => {
    autocannon(
      { url, connections: CONNECTIONS, pipelining: 1, duration: DURATION, headers, method: body ? 'POST' : 'GET', body },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
  });
}

async function measure(name, port, headers, body, path) {
  const url = `http://127.0.0.1:${port}${path}`;
  // Warm-up: JIT, connection pools, the token cache.
  await new Promise((resolve, reject) =>
    autocannon({ url, connections: CONNECTIONS, duration: 2, headers, method: body ? 'POST' : 'GET', body }, (e, r) => (e ? reject(e) : resolve(r))),
  );
  const r = await run(url, headers, body);
  const row = {
    name,
    rps: Math.round(r.requests.average),
    p50_ms: r.latency.p50,
    p99_ms: r.latency.p99,
    non2xx: r.non2xx,
    errors: r.errors + r.timeouts,
  };
  console.log(`${name.padEnd(34)} ${String(row.rps).padStart(8)} req/s   p50 ${String(row.p50_ms).padStart(5)} ms   p99 ${String(row.p99_ms).padStart(5)} ms   non-2xx ${row.non2xx}   errors ${row.errors}`);
  return row;
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-bench-'));
  const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  const jwksFile = join(dir, 'jwks.json');
  writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'bench', alg: 'EdDSA' }] }));
  const now = Math.floor(Date.now() / 1000);
  const token = await new SignJWT({ scope: 'crm:read crm:write' })
    .setProtectedHeader({ alg: 'EdDSA', kid: 'bench' })
    .setIssuer('https://idp.bench').setAudience('portcullis').setSubject('support-bot').setJti('bench-1')
    .setIssuedAt(now).setExpirationTime(now + 900).sign(privateKey);

  const body = WITH_BODY ? JSON.stringify({ text: 'x'.repeat(2000) }) : undefined;
  const path = WITH_BODY ? '/tools/crm/contacts/c-1/notes' : '/tools/crm/contacts/c-1';
  const headers = { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) };

  if (ncpu > 1) taskset(process.pid, 0);
  const upstream = await start('upstream.mjs', { DELAY_MS: String(DELAY_MS) }, 0);
  const upstreamUrl = `http://127.0.0.1:${upstream.port}`;
  const core = ncpu - 1;
  console.log(`machine: ${ncpu} × ${cpus()[0]?.model}, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`);
  console.log(`load: autocannon, ${CONNECTIONS} connections, ${DURATION}s per run, ${REPEATS} interleaved rounds, upstream delay ${DELAY_MS} ms, ${body ? 'POST 2 KB JSON' : 'GET'}; servers under test pinned to core ${core}\n`);

  const configs = [
    ['upstream direct', null, {}],
    ['bare @fastify/http-proxy', 'bare-proxy.mjs', {}],
    ['portcullis: token (cache off)', 'gateway.mjs', { TOKEN_CACHE: 'off', POLICY: 'off', AUDIT: 'off' }],
    ['portcullis: token (cache on)', 'gateway.mjs', { POLICY: 'off', AUDIT: 'off' }],
    ['portcullis: + policy', 'gateway.mjs', { AUDIT: 'off' }],
    ['portcullis: + audit = default', 'gateway.mjs', {}],
    ['portcullis: + rate limits (local)', 'gateway.mjs', { RATE_LIMITS: 'on' }],
  ];
  // Interleaved rounds: a slow minute on a shared machine hits every configuration, not one.
  const runs = new Map(configs.map(([name]) => [name, []]));
  for (let round = 1; round <= REPEATS; round++) {
    console.log(`round ${round}/${REPEATS}`);
    for (const [name, script, env] of configs) {
      if (!script) {
        runs.get(name).push(await measure(name, upstream.port, headers, body, path));
        continue;
      }
      const s = await start(script, { UPSTREAM: upstreamUrl, JWKS_FILE: jwksFile, ...env }, core);
      try {
        runs.get(name).push(await measure(name, s.port, headers, body, path));
      } finally {
        await stop(s);
      }
    }
  }
  await stop(upstream);
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const rows = configs.map(([name]) => {
    const rs = runs.get(name);
    return {
      name,
      rps: median(rs.map((r) => r.rps)),
      rps_min: Math.min(...rs.map((r) => r.rps)),
      rps_max: Math.max(...rs.map((r) => r.rps)),
      p50_ms: median(rs.map((r) => r.p50_ms)),
      p99_ms: median(rs.map((r) => r.p99_ms)),
      non2xx: rs.reduce((n, r) => n + r.non2xx, 0),
      errors: rs.reduce((n, r) => n + r.errors, 0),
    };
  });
  console.log(`\nmedian of ${REPEATS} interleaved rounds (range):`);
  for (const r of rows) console.log(`${r.name.padEnd(34)} ${String(r.rps).padStart(8)} req/s (${r.rps_min}–${r.rps_max})   p50 ${r.p50_ms} ms   p99 ${r.p99_ms} ms`);

  const bare = rows.find((r) => r.name.startsWith('bare'));
  const gw = rows.find((r) => r.name === 'portcullis: + audit = default');
  const noAudit = rows.find((r) => r.name === 'portcullis: + policy');
  const noPolicy = rows.find((r) => r.name === 'portcullis: token (cache on)');
  const ratio = gw.rps / bare.rps;
  const policyCost = (1 - noAudit.rps / noPolicy.rps) * 100;
  const auditCost = (1 - gw.rps / noAudit.rps) * 100;
  const perEventUs = (1e6 / gw.rps - 1e6 / noAudit.rps).toFixed(1);
  console.log(`\ngateway (default) ÷ bare proxy: ${ratio.toFixed(2)}  (goal ≥ 0.80)`);
  console.log(`policy costs ${policyCost.toFixed(1)}% of throughput; audit costs ${auditCost.toFixed(1)}% (goal < 10%), ≈ ${perEventUs} µs of one core per call`);

  // In-process policy evaluation, measured on the load generator's core after the network runs.
  const evalBench = await policyEvalBench();
  console.log(`\npolicy evaluation (shipped policy, ${evalBench.input_bytes}-byte input):`);
  for (const r of evalBench.rows) console.log(`  ${r.name.padEnd(88)} p50 ${r.p50_us} µs  p99 ${r.p99_us} µs`);

  const date = new Date().toISOString().slice(0, 10);
  mkdirSync(join(here, 'results'), { recursive: true });
  const meta = { date, node: process.version, cpus: ncpu, cpu: cpus()[0]?.model, connections: CONNECTIONS, duration_s: DURATION, repeats: REPEATS, upstream_delay_ms: DELAY_MS, body: Boolean(body) };
  writeFileSync(
    join(here, 'results', `${date}.json`),
    JSON.stringify({ meta, rows, ratio_gateway_over_bare: Number(ratio.toFixed(3)), policy_cost_pct: Number(policyCost.toFixed(1)), audit_cost_pct: Number(auditCost.toFixed(1)), policy_eval: evalBench }, null, 2) + '\n',
  );
  const md = [
    `# Bench ${date}`,
    '',
    `${meta.cpus} × ${meta.cpu}, node ${meta.node}; autocannon ${CONNECTIONS} connections, ${DURATION}s per run, upstream delay ${DELAY_MS} ms, ${body ? 'POST 2 KB' : 'GET'}.`,
    '',
    `Median of ${REPEATS} interleaved rounds, range in brackets.`,
    '',
    '| configuration | req/s | p50 ms | p99 ms | non-2xx | errors |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map((r) => `| ${r.name} | ${r.rps} (${r.rps_min}–${r.rps_max}) | ${r.p50_ms} | ${r.p99_ms} | ${r.non2xx} | ${r.errors} |`),
    '',
    `Gateway (default: token cache, policy, metrics, access log) ÷ bare proxy: **${ratio.toFixed(2)}** (goal ≥ 0.80).`,
    `The policy costs ${policyCost.toFixed(1)}% of throughput; the audit trail (hash chain, group-commit file log) ${auditCost.toFixed(1)}%, ≈ ${perEventUs} µs of one core per call.`,
    '',
    `Policy evaluation, shipped policy, ${evalBench.input_bytes}-byte input (revision ${evalBench.revision}):`,
    '',
    '| measurement | p50 µs | p99 µs | p99.9 µs |',
    '| --- | ---: | ---: | ---: |',
    ...evalBench.rows.map((r) => `| ${r.name} | ${r.p50_us} | ${r.p99_us} | ${r.p999_us} |`),
    '',
  ].join('\n');
  writeFileSync(join(here, 'results', `${date}.md`), md);
  if (rows.some((r) => r.non2xx > 0 || r.errors > 0)) {
    console.error('some requests failed: the numbers above are not valid');
    process.exitCode = 1;
  }
}

await main();
