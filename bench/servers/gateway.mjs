// Portcullis itself, built from dist/ with a config that points the `crm` tool at the bench upstream.
// One step of the bench's ladder per process, chosen by the environment:
//   TOKEN_CACHE=off   verify every token (no verified-token cache)
//   POLICY=off        a registry-and-scope decider instead of the Rego policy
//   POLICY=opa-server the same Rego decided by `opa run --server` at OPA_URL, one REST call per decision
//                     (the sidecar architecture of OPA-Envoy)
//   AUDIT=off         no audit trail; AUDIT=memory: every event built and hash-chained, kept in RAM
//                     (no disk); default: the file trail with group commit
//   OBSERVABILITY=off no metrics (a no-op registry) and no logs (level silent)
//   METRICS=off       no metrics only; LOG_LEVEL=warn: no access log lines only
//   AUDIT_GROUP_COMMIT=10ms  the audit file's group-commit window (default 2ms)
//   RATE_LIMITS=on    per-agent, agent × tool and user limits high enough never to refuse
//   AGENTS=N, TOOLS=N a registry of N agents and N tools (the bench calls support-bot on crm)
//   REDIS_URL=…       state in that Redis (several replicas share it), REDIS_PREFIX its key prefix
//   BREAK_GLASS_SHA256=hex  an admin break-glass token (bench/propagation.mjs drives the admin API)
//   SINK_URL=…        also ship the audit log to this HTTP collector (bench/soak.mjs FAULTS=1: a dead one)
//   CLOCK_TOLERANCE=30s  auth.clock_tolerance (bench/identity.mjs: DPoP proofs made before the run)
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { Pool } from 'undici';
import { compileConfig } from '../../dist/config/compile.js';
import { validate } from '../../dist/config/load.js';
import { buildGateway } from '../../dist/gateway.js';
import { ChainState } from '../../dist/audit/chain.js';
import { createInputBuilder } from '../../dist/policy/input.js';
import { checkDecision } from '../../dist/policy/engine.js';

const env = process.env;
const auditPath = join(mkdtempSync(join(tmpdir(), 'portcullis-bench-audit-')), 'audit.jsonl');
const agent = { owner: 'alice@example.com', roles: ['support_agent'], max_classification: 'confidential' };
const crm = {
  upstream: env.UPSTREAM,
  classification: 'confidential',
  credentials: { header: 'authorization', value: 'Bearer bench-crm-credential' },
  max_body: '128kb',
  operations: [
    { name: 'get-contact', method: 'GET', path: '/contacts/:id', action: 'read' },
    { name: 'add-note', method: 'POST', path: '/contacts/:id/notes', action: 'write' },
  ],
};
const agents = { 'support-bot': agent };
for (let i = 1; i < Number(env.AGENTS ?? 1); i++) agents[`agent-${i}`] = agent;
const tools = { crm };
for (let i = 1; i < Number(env.TOOLS ?? 1); i++) tools[`tool-${i}`] = { ...crm, operations: crm.operations.map((op) => ({ ...op, path: `/t${i}${op.path}` })) };

const raw = validate({
  listen: { proxy: { host: '127.0.0.1', port: Number(env.PORT ?? 0) }, admin: { host: '127.0.0.1', port: Number(env.ADMIN_PORT ?? 0) } },
  auth: {
    issuers: [{ issuer: 'https://idp.bench', jwks_file: env.JWKS_FILE, audiences: ['portcullis'] }],
    token_cache: { enabled: env.TOKEN_CACHE !== 'off' },
    ...(env.CLOCK_TOLERANCE ? { clock_tolerance: env.CLOCK_TOLERANCE } : {}),
  },
  agents,
  tools,
  policy: { bundle: new URL('../../policies/build/bundle.tar.gz', import.meta.url).pathname, watch: false },
  audit: {
    sinks: [
      { type: 'file', path: auditPath },
      ...(env.SINK_URL ? [{ type: 'http', name: 'collector', url: env.SINK_URL }] : []),
    ],
    signing_key: join(tmpdir(), 'portcullis-bench-audit-key.pem'),
    generate_signing_key: true,
    ...(env.AUDIT_GROUP_COMMIT ? { group_commit: env.AUDIT_GROUP_COMMIT } : {}),
  },
  logging: { level: env.OBSERVABILITY === 'off' ? 'silent' : (env.LOG_LEVEL ?? 'info') },
  // Each process its own state (memory store): a configuration must not inherit another's registry,
  // kills or trust signals through a shared ./.portcullis/state.json.
  state: env.REDIS_URL
    ? { store: 'redis', redis: { url: env.REDIS_URL, prefix: env.REDIS_PREFIX ?? 'bench:' } }
    : { file: join(mkdtempSync(join(tmpdir(), 'portcullis-bench-state-')), 'state.json') },
  ...(env.BREAK_GLASS_SHA256 ? { admin: { break_glass: { sha256: env.BREAK_GLASS_SHA256 } } } : {}),
  ...(env.RATE_LIMITS === 'on'
    ? { rate_limits: { agent: { rate: '1000000/s', burst: 1000000 }, agent_tool: { rate: '1000000/s', burst: 1000000 }, user: { rate: '1000000/s', burst: 1000000 } } }
    : {}),
});
const config = compileConfig(raw, process.cwd());

const allowByScope = { decide: () => ({ allow: true, approvalRequired: false, reasons: ['scope'], revision: 'none' }) };
const noAudit = { record: () => undefined, healthy: () => true };

/** The chain sealed in RAM: the CPU of building and hashing every event, none of the I/O. */
function memoryAudit() {
  const chain = new ChainState('bench', 0, '0'.repeat(64));
  const ring = new Array(4096);
  return {
    record(type, fields) {
      ring[chain.seq & 4095] = chain.seal(type, fields, new Date().toISOString()).line;
      return undefined;
    },
    healthy: () => true,
  };
}

/** OPA as a sidecar: the same input document, POSTed to `opa run --server` for every decision. */
function opaServerDecider(url) {
  const buildInput = createInputBuilder(config);
  const pool = new Pool(url, { connections: 64, pipelining: 1 });
  return {
    async decide(ctx) {
      const res = await pool.request({ path: '/v1/data/portcullis/decision', method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ input: buildInput(ctx) }) });
      const body = await res.body.json();
      if (res.statusCode !== 200) throw new Error(`opa answered ${res.statusCode}`);
      return checkDecision([{ result: body.result }], 'opa-server');
    },
  };
}

/** Metrics that cost nothing: every counter, histogram and gauge is a no-op (the registry stays real for /metrics). */
function noMetrics() {
  const registry = new Registry();
  const noop = new Proxy(function noop() {}, { get: (_t, k) => (k === 'registry' ? registry : k === 'then' ? undefined : noop), apply: () => noop });
  return noop;
}

const gateway = buildGateway(config, {
  ...(env.POLICY === 'off' ? { decider: allowByScope } : env.POLICY === 'opa-server' ? { decider: opaServerDecider(env.OPA_URL) } : {}),
  ...(env.AUDIT === 'off' ? { audit: noAudit } : env.AUDIT === 'memory' ? { audit: memoryAudit() } : {}),
  ...(env.OBSERVABILITY === 'off' || env.METRICS === 'off' ? { metrics: noMetrics() } : {}),
});
const { proxyUrl, adminUrl } = await gateway.listen();
process.send?.({ ready: Number(new URL(proxyUrl).port), admin: adminUrl, audit: auditPath });
// The soak (bench/soak.mjs) samples memory and CPU from inside; 'gc' (with --expose-gc) runs a full
// collection first, so what is left is what the gateway really holds.
process.on('message', (m) => {
  if (m === 'gc') globalThis.gc?.();
  if (m === 'memory' || m === 'gc') process.send?.({ memory: process.memoryUsage(), cpu: process.cpuUsage() });
});
process.on('SIGTERM', () => gateway.close().then(() => process.exit(0)));
