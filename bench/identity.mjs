// The identity plane's goals, side by side in one run (docs/performance.md "Token service" and "DPoP"):
//   tokens  POST /oauth2/token, client_credentials with private_key_jwt (Ed25519), against
//           oidc-provider doing the same grant with the same key type and the same kind of token (a
//           JWT access token signed with Ed25519) and, when built (bench/tools.sh), zitadel/oidc's
//           example OP doing its JWT-profile grant (RS256 service key: its nearest equivalent).
//           Also Portcullis with a client secret (scrypt), the verified-secret cache on and off.
//   dpop    GET through the proxy: the bare @fastify/http-proxy, Portcullis with a bearer token,
//           Portcullis with a DPoP-bound token and a fresh proof per call.
// Every request carries a fresh client assertion or proof (single use is enforced), signed by the
// load generator as it goes: client-side work, on the generator's core, not the server's.
// The proxy's proofs are made before each run (PROOFS of them), not during it.
//   PARTS=tokens,dpop  ROUNDS=5  DURATION=5 (s)  CONNECTIONS=16  PROOFS=84000
import { createHash, createPrivateKey, generateKeyPairSync, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { benchIssuer, median, medianCi, taskset } from './common.mjs';
import { cannon, cpuSeconds, forkServer, freePort, stopServer } from './processes.mjs';
import { hashSecret } from '../dist/identity/client-secrets.js';
import { jwkThumbprint } from '../dist/identity/signing-keys.js';
import { signJws } from '../dist/identity/native-jws.js';

const env = process.env;
const PARTS = (env.PARTS ?? 'tokens,dpop').split(',');
const ROUNDS = Number(env.ROUNDS ?? 5);
const DURATION = Number(env.DURATION ?? 5);
const CONNECTIONS = Number(env.CONNECTIONS ?? 16);
// Proofs made ahead per DPoP run: enough for warm-up and run at the rate this machine reaches.
const PROOFS = Number(env.PROOFS ?? 12_000 * (DURATION + 2));
const ncpu = cpus().length;
const SERVER_CORE = ncpu - 1;
const here = new URL('.', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'portcullis-bench-identity-'));

/** A compact JWS signed synchronously: the gateway's own node:crypto adapter (Ed25519, or RS256 for an RSA key). */
const jws = (header, claims, key) => signJws(header, claims, key);

// ---- servers ------------------------------------------------------------------------------------

const agent = generateKeyPairSync('ed25519');
const agentJwks = join(dir, 'agent.jwks.json');
writeFileSync(agentJwks, JSON.stringify({ keys: [{ ...agent.publicKey.export({ format: 'jwk' }), kid: 'agent-1', alg: 'EdDSA' }] }));
const signingKey = join(dir, 'signing.pem');
writeFileSync(signingKey, generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }));
const SECRET = 'bench-secret-0123456789abcdefghijkl';
const secretHash = await hashSecret(SECRET);

function zitadelBin() {
  const bin = join(env.HOME ?? '', '.cache/portcullis/bin/zitadel-oidc-example');
  return existsSync(bin) ? bin : undefined;
}

async function startZitadel() {
  const port = await freePort();
  const child = spawn('taskset', ['-c', String(SERVER_CORE), zitadelBin()], { env: { ...env, PORT: String(port) }, stdio: 'ignore' });
  for (let i = 0; i < 200; i++) {
    if (await fetch(`http://localhost:${port}/.well-known/openid-configuration`).then(() => true, () => false)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const pids = spawnSync('pgrep', ['-P', String(child.pid)], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean).map(Number);
  return { child, port, pids: [child.pid, ...pids], issuer: `http://localhost:${port}/` };
}

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const assertionBody = (aud, extra = {}) => {
  const now = Math.floor(Date.now() / 1000);
  const a = jws({ alg: 'EdDSA', kid: 'agent-1' }, { iss: 'bench-agent', sub: 'bench-agent', aud, iat: now, exp: now + 60, jti: randomUUID() }, agent.privateKey);
  return new URLSearchParams({ grant_type: 'client_credentials', scope: 'crm:read', client_assertion_type: JWT_BEARER, client_assertion: a, ...extra }).toString();
};

/** The token-endpoint targets: how to start each, and the request each is sent. */
function tokenTargets() {
  const form = { 'content-type': 'application/x-www-form-urlencoded' };
  const portcullis = (name, vars, body) => ({
    name,
    async start() {
      const port = await freePort();
      const s = await forkServer('token-service.mjs', { PORT: String(port), SIGNING_KEY: signingKey, ...vars }, SERVER_CORE);
      return { ...s, path: '/oauth2/token', request: () => ({ method: 'POST', path: '/oauth2/token', headers: form, body: body(`http://127.0.0.1:${port}`) }) };
    },
  });
  const targets = [
    portcullis('portcullis: private_key_jwt (Ed25519)', { AGENT_JWKS: agentJwks }, (iss) => assertionBody(iss)),
    {
      name: 'oidc-provider 9: private_key_jwt (Ed25519)',
      async start() {
        const port = await freePort();
        const s = await forkServer('oidc-provider.mjs', { PORT: String(port), SIGNING_KEY: signingKey, AGENT_JWKS: agentJwks }, SERVER_CORE);
        return { ...s, path: '/token', request: () => ({ method: 'POST', path: '/token', headers: form, body: assertionBody(`http://127.0.0.1:${port}/token`) }) };
      },
    },
  ];
  if (zitadelBin()) {
    // The example OP's service user signs with the RSA key shipped beside the example (service-key1.pem).
    const serviceKey = createPrivateKey(readFileSync(join(env.HOME, '.cache/portcullis/zitadel-service-key1.pem')));
    targets.push({
      name: 'zitadel/oidc example OP: JWT profile (RS256)',
      async start() {
        const z = await startZitadel();
        // Its example storage does not remember assertion ids: one assertion, signed per 10 s window,
        // is sent again and again (the peer is spared the single-use bookkeeping Portcullis does).
        let cached = { at: 0, body: '' };
        const body = () => {
          if (Date.now() - cached.at > 10_000) {
            const now = Math.floor(Date.now() / 1000);
            const a = jws({ alg: 'RS256', kid: 'key1' }, { iss: 'service', sub: 'service', aud: z.issuer, iat: now, exp: now + 60 }, serviceKey);
            cached = { at: Date.now(), body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', scope: 'openid', assertion: a }).toString() };
          }
          return cached.body;
        };
        return { ...z, path: '/oauth/token', request: () => ({ method: 'POST', path: '/oauth/token', headers: form, body: body() }), stop: () => z.child.kill('SIGTERM') };
      },
    });
  }
  const basic = `Basic ${Buffer.from(`bench-agent:${SECRET}`).toString('base64')}`;
  const secretBody = 'grant_type=client_credentials&scope=crm%3Aread';
  for (const [label, cache] of [['secret cache on', 'on'], ['every request pays scrypt', 'off']]) {
    targets.push({
      name: `portcullis: client_secret_basic (${label})`,
      async start() {
        const port = await freePort();
        const s = await forkServer('token-service.mjs', { PORT: String(port), SIGNING_KEY: signingKey, SECRET_HASH: secretHash, SECRET_CACHE: cache }, SERVER_CORE);
        return { ...s, path: '/oauth2/token', request: () => ({ method: 'POST', path: '/oauth2/token', headers: { ...form, authorization: basic }, body: secretBody }) };
      },
    });
  }
  return targets;
}

/** The proxy targets for the DPoP goal. */
async function dpopTargets(upstreamUrl) {
  const { jwksFile, mint } = await benchIssuer(dir);
  const proofKey = generateKeyPairSync('ed25519');
  const jwk = proofKey.publicKey.export({ format: 'jwk' });
  const bound = await mint(900, 'support-bot', { cnf: { jkt: jwkThumbprint(jwk) } });
  const bearer = await mint(900);
  const ath = createHash('sha256').update(bound).digest('base64url');
  const path = '/tools/crm/contacts/c-1';
  const gateway = (name, request, vars = {}) => ({
    name,
    async start() {
      const s = await forkServer('gateway.mjs', { UPSTREAM: upstreamUrl, JWKS_FILE: jwksFile, ...vars }, SERVER_CORE);
      return { ...s, path, request: request(s.port) };
    },
  });
  // The proofs are made before the run (the generator signing one per call would be the bottleneck,
  // on the same core as the upstream); the gateway's clock tolerance covers the run's length.
  const proofs = (port) => {
    const htu = `http://127.0.0.1:${port}${path}`;
    const make = () => jws({ alg: 'EdDSA', typ: 'dpop+jwt', jwk }, { htm: 'GET', htu, iat: Math.floor(Date.now() / 1000), jti: randomUUID(), ath }, proofKey.privateKey);
    const pool = Array.from({ length: PROOFS }, make);
    return () => ({ method: 'GET', path, headers: { authorization: `DPoP ${bound}`, dpop: pool.pop() ?? make() } });
  };
  return [
    {
      name: 'bare @fastify/http-proxy',
      async start() {
        const s = await forkServer('bare-proxy.mjs', { UPSTREAM: `${upstreamUrl}/api` }, SERVER_CORE);
        return { ...s, path, request: () => ({ method: 'GET', path }) };
      },
    },
    gateway('portcullis: bearer token', () => () => ({ method: 'GET', path, headers: { authorization: `Bearer ${bearer}` } }), { CLOCK_TOLERANCE: `${DURATION + 60}s` }),
    gateway('portcullis: DPoP-bound token, a fresh proof per call', proofs, { CLOCK_TOLERANCE: `${DURATION + 60}s` }),
  ];
}

// ---- load ---------------------------------------------------------------------------------------

async function measure(target) {
  const s = await target.start();
  try {
    const url = `http://127.0.0.1:${s.port}${s.path}`;
    const requests = [{ setupRequest: (req) => ({ ...req, headers: {}, ...s.request() }) }];
    await cannon({ url, connections: CONNECTIONS, duration: 2, requests });
    const before = cpuSeconds(s.pids);
    const r = await cannon({ url, connections: CONNECTIONS, duration: DURATION, requests });
    const after = cpuSeconds(s.pids);
    const ok = r['2xx'];
    return { rps: Math.round(ok / DURATION), p50_ms: r.latency.p50, p99_ms: r.latency.p99, cpu_us_per_ok: ok ? Math.round(((after.total - before.total) * 1e6) / ok) : null, non2xx: r.non2xx, errors: r.errors + r.timeouts };
  } finally {
    if (s.stop) s.stop();
    else await stopServer(s);
  }
}

async function part(name, targets, reference) {
  console.log(`\n== ${name}: ${ROUNDS} interleaved rounds of ${DURATION}s, ${CONNECTIONS} connections, servers on core ${SERVER_CORE}`);
  const rows = new Map(targets.map((t) => [t.name, []]));
  for (let round = 1; round <= ROUNDS; round++) {
    for (const t of targets) {
      const r = await measure(t);
      rows.get(t.name).push(r);
      console.log(`round ${round}  ${t.name.padEnd(58)} ${String(r.rps).padStart(6)} ok/s  p99 ${r.p99_ms} ms  cpu ${r.cpu_us_per_ok} µs/ok  non2xx ${r.non2xx}`);
    }
  }
  const ref = rows.get(reference);
  return targets.map((t) => {
    const rs = rows.get(t.name);
    const ratios = rs.map((r, i) => r.rps / ref[i].rps);
    return { name: t.name, rps_median: median(rs.map((r) => r.rps)), p99_ms_median: median(rs.map((r) => r.p99_ms)), cpu_us_per_ok_median: median(rs.map((r) => r.cpu_us_per_ok ?? 0)), ratio_to_reference: Math.round(median(ratios) * 100) / 100, ratio_ci95: medianCi(ratios)?.map((x) => Math.round(x * 100) / 100) ?? null, rounds: rs };
  });
}

if (ncpu > 1) taskset(process.pid, 0);
const result = { date: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model, cpus: ncpu, memory_gib: Math.round(totalmem() / 2 ** 30), rounds: ROUNDS, duration_s: DURATION, connections: CONNECTIONS, parts: {} };
const t0 = performance.now();
await hashSecret(SECRET);
result.scrypt_ms = Math.round(performance.now() - t0);
console.log(`machine: ${ncpu} × ${result.cpu}, node ${process.version}; one scrypt secret check (ln=15, r=8, p=1): ${result.scrypt_ms} ms`);
if (PARTS.includes('tokens')) {
  if (!zitadelBin()) console.log('zitadel/oidc example OP: not built, skipped (bench/tools.sh builds it)');
  result.parts.tokens = await part('token endpoint', tokenTargets(), 'oidc-provider 9: private_key_jwt (Ed25519)');
}
if (PARTS.includes('dpop')) {
  const upstream = await forkServer('upstream.mjs', { DELAY_MS: '0' }, 0);
  result.parts.dpop = await part('DPoP on the proxy', await dpopTargets(`http://127.0.0.1:${upstream.port}`), 'bare @fastify/http-proxy');
  await stopServer(upstream);
}
mkdirSync(join(here, 'results'), { recursive: true });
const stem = `${result.date.slice(0, 10)}-identity`;
writeFileSync(join(here, 'results', `${stem}.json`), `${JSON.stringify(result, null, 2)}\n`);
const lines = [`# Identity plane bench — ${result.date.slice(0, 10)}`, '', `${ncpu} × ${result.cpu}, node ${process.version}; ${ROUNDS} interleaved rounds of ${DURATION} s, ${CONNECTIONS} connections; servers pinned to core ${SERVER_CORE}, the load generator (autocannon, signing a fresh assertion or proof per request) on core 0. One scrypt secret check: ${result.scrypt_ms} ms.`, ''];
for (const [name, rows] of Object.entries(result.parts)) {
  lines.push(`## ${name}`, '', '| configuration | ok/s (median) | ratio to reference (median, 95% CI) | p99 ms | server CPU µs per ok |', '| --- | ---: | ---: | ---: | ---: |');
  for (const r of rows) lines.push(`| ${r.name} | ${r.rps_median} | ${r.ratio_to_reference}${r.ratio_ci95 ? ` (${r.ratio_ci95.join('–')})` : ''} | ${r.p99_ms_median} | ${r.cpu_us_per_ok_median} |`);
  lines.push('');
}
writeFileSync(join(here, 'results', `${stem}.md`), `${lines.join('\n')}\n`);
console.log(`\nwritten: bench/results/${stem}.md`);
