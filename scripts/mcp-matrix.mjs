// The MCP compatibility matrix kept in docs/mcp.md: each client (the official TypeScript SDK 1.x
// and 2.x, the official Go SDK) against each server (@modelcontextprotocol/server-everything, the
// example tracker on SDK 2.x, the same tools on SDK 1.x with sessions, and over stdio), each feature
// tried directly and through Portcullis.
//   npm run build && node scripts/mcp-matrix.mjs           prints the table
//   node scripts/mcp-matrix.mjs --write                     also replaces it in docs/mcp.md
// The Go client is built by scripts/go-mcp-client.sh (Go and the module proxy); without Go its rows say so.
import { execFile, spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client as V1Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as V1Transport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StreamableHTTPServerTransport as V1ServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { Client as V2Client, StreamableHTTPClientTransport as V2Transport } from '@modelcontextprotocol/client';
import { compileConfig } from '../dist/config/compile.js';
import { validate } from '../dist/config/load.js';
import { buildGateway } from '../dist/gateway.js';
import { createMcpToolServer } from '../dist/examples/tracker.js';
import { trackerTools } from '../dist/examples/tracker-tools.js';
import { trackerServerV1 } from '../dist/examples/tracker-sdk1.js';
import { benchIssuer } from '../bench/common.mjs';

const root = new URL('..', import.meta.url).pathname;
const run = promisify(execFile);
const CREDENTIAL = { header: 'authorization', value: 'Bearer matrix-credential' };
const dir = mkdtempSync(join(tmpdir(), 'portcullis-matrix-'));
const issuer = await benchIssuer(dir);
const token = await issuer.mint(900, 'support-bot', { scope: 'v2:read v2:write v1:read v1:write stdio:read stdio:write everything:read' });

// Servers ---------------------------------------------------------------------------------------
const v2 = createMcpToolServer(trackerTools(), { credential: CREDENTIAL });
const v2Url = `${await v2.listen({ host: '127.0.0.1', port: 0 })}/mcp`;
const v1Sessions = new Map();
const v1Http = createServer(async (req, res) => {
  if (req.headers.authorization !== CREDENTIAL.value) return void res.writeHead(401).end();
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined;
  let t = v1Sessions.get(req.headers['mcp-session-id']);
  if (!t) {
    if (req.method !== 'POST' || !isInitializeRequest(body)) return void res.writeHead(404).end();
    const transport = new V1ServerTransport({ sessionIdGenerator: randomUUID, onsessioninitialized: (id) => v1Sessions.set(id, transport) });
    await trackerServerV1(undefined, 'tracker-v1').connect(transport);
    t = transport;
  }
  await t.handleRequest(req, res, body);
});
await new Promise((r) => v1Http.listen(0, '127.0.0.1', r));
const v1Url = `http://127.0.0.1:${v1Http.address().port}/mcp`;

// @modelcontextprotocol/server-everything, the reference server (Streamable HTTP, its own process).
const everythingPort = await new Promise((resolve) => {
  const probe = createServer().listen(0, '127.0.0.1', () => {
    const { port } = probe.address();
    probe.close(() => resolve(port));
  });
});
const everything = spawn(process.execPath, [join(root, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js'), 'streamableHttp'], { env: { ...process.env, PORT: String(everythingPort) }, stdio: ['ignore', 'ignore', 'pipe'] });
await new Promise((resolve, reject) => {
  everything.stderr.on('data', (c) => String(c).includes('listening') && resolve());
  everything.once('exit', (code) => reject(new Error(`server-everything exited with ${code}`)));
});
const everythingUrl = `http://127.0.0.1:${everythingPort}/mcp`;

// The gateway -----------------------------------------------------------------------------------
const operations = [
  ['search_issues', 'read'], ['get_issue', 'read'], ['generate_report', 'read'], ['share_issue', 'write'],
].map(([name, action]) => ({ name, mcp_tool: name, action }));
const tool = (upstream, ops = operations) => ({ upstream, protocol: 'mcp', classification: 'internal', operations: ops, ...(typeof upstream === 'string' ? { credentials: CREDENTIAL } : {}) });
const everythingOps = ['echo', 'trigger-long-running-operation'].map((name) => ({ name, mcp_tool: name, action: 'read' }));
const config = compileConfig(
  validate({
    listen: { proxy: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 } },
    auth: { issuers: [{ issuer: 'https://idp.bench', jwks_file: issuer.jwksFile, audiences: ['portcullis'] }] },
    agents: { 'support-bot': { owner: 'alice@example.com', roles: ['support_agent'], max_classification: 'confidential' } },
    tools: { v2: tool(v2Url), v1: tool(v1Url), stdio: tool({ command: process.execPath, args: [join(root, 'test/fixtures/stdio-tracker.mjs')] }), everything: tool(everythingUrl, everythingOps) },
    policy: { bundle: join(root, 'policies/build/bundle.tar.gz'), watch: false },
    audit: { sinks: [{ type: 'file', path: join(dir, 'audit.jsonl') }], signing_key: join(dir, 'key.pem'), generate_signing_key: true },
    logging: { level: 'silent' },
    // The refusals the matrix provokes on purpose must not lower the agent's trust for the next rows.
    trust: { signals: { policy_violation: { weight: 0 }, refusal: { weight: 0 } } },
    state: { file: join(dir, 'state.json') },
  }),
  root,
);
// The shipped policy knows tracker, not these names: the matrix tests the protocol, so a stand-in
// policy refuses any call with an argument at @evil.test, naming it.
const evil = (ctx) => Object.entries(ctx.mcp?.arguments ?? {}).find(([, v]) => typeof v === 'string' && v.endsWith('@evil.test'));
const gateway = buildGateway(config, {
  decider: { decide: (ctx) => ({ allow: !evil(ctx), approvalRequired: false, reasons: evil(ctx) ? [`argument ${evil(ctx)[0]}: outside the allowed domains`] : [], revision: 'matrix' }) },
});
const { proxyUrl } = await gateway.listen();

// Clients ---------------------------------------------------------------------------------------
const go = spawnSync('bash', [join(root, 'scripts/go-mcp-client.sh')], { encoding: 'utf8' });
const goBin = go.status === 0 ? go.stdout.trim() : undefined;

const CLIENTS = {
  'TypeScript SDK 1.x (2025-11-25)': async (url, headers) => {
    const c = new V1Client({ name: 'matrix', version: '1' });
    await c.connect(new V1Transport(new URL(url), { requestInit: { headers } }));
    return { list: async () => (await c.listTools()).tools, call: (name, args, opts) => c.callTool({ name, arguments: args }, undefined, opts), close: () => c.close() };
  },
  'TypeScript SDK 2.x (negotiates; 2026-07-28 first)': async (url, headers) => {
    const c = new V2Client({ name: 'matrix', version: '1' });
    await c.connect(new V2Transport(new URL(url), { requestInit: { headers } }));
    return { list: async () => (await c.listTools()).tools, call: (name, args, opts) => c.callTool({ name, arguments: args }, opts), close: () => c.close() };
  },
  'Go SDK 1.8 (2026-07-28)': async (url, headers) => {
    if (!goBin) throw new Error('no Go toolchain');
    const auth = headers.authorization.replace(/^Bearer /, '');
    const goRun = async (...args) => {
      const out = JSON.parse((await run(goBin, ['-url', url, '-token', auth, ...args])).stdout);
      if (out.error) throw new Error(out.error);
      return out.result;
    };
    await goRun('list');
    return {
      list: async () => (await goRun('list')).tools,
      call: async (name, args, opts) => {
        if (opts?.onprogress) return { notTried: true };
        const r = await goRun('call', name, JSON.stringify(args));
        if (r.isError) throw Object.assign(new Error(r.content?.[0]?.text ?? 'tool error'), { toolError: true });
        return r;
      },
      close: async () => undefined,
    };
  },
};

const TRACKER = { list: 'get_issue', call: ['get_issue', { id: 'ISS-1' }, 'ISS-1'], progress: ['generate_report', { rows: 2000 }], refuse: ['share_issue', { id: 'ISS-1', email: 'm@evil.test' }] };
const EVERYTHING = { list: 'echo', call: ['echo', { message: 'hello' }, 'hello'], progress: ['trigger-long-running-operation', { duration: 1, steps: 3 }], refuse: ['echo', { message: 'm@evil.test' }] };
const SERVERS = {
  'server-everything (reference server)': { direct: everythingUrl, via: `${proxyUrl}/tools/everything`, probe: EVERYTHING },
  'tracker, SDK 2.x (both revisions)': { direct: v2Url, via: `${proxyUrl}/tools/v2`, probe: TRACKER },
  'tracker, SDK 1.x (sessions)': { direct: v1Url, via: `${proxyUrl}/tools/v1`, probe: TRACKER },
  'tracker, SDK 1.x over stdio': { direct: undefined, via: `${proxyUrl}/tools/stdio`, probe: TRACKER },
};

const FEATURES = {
  'connect + tools/list': async (c, p) => ((await c.list()).some((t) => t.name === p.list) ? 'yes' : 'no tools'),
  'tools/call': async (c, p) => (JSON.stringify(await c.call(p.call[0], p.call[1])).includes(p.call[2]) ? 'yes' : 'wrong result'),
  'progress notifications': async (c, p) => {
    const seen = [];
    const r = await c.call(p.progress[0], p.progress[1], { onprogress: (x) => seen.push(x.progress), resetTimeoutOnProgress: true });
    if (r.notTried) return 'not tried (test client)';
    return seen.length > 0 ? 'yes' : 'none arrived';
  },
  'a refusal names its reason': async (c, p, through) => {
    if (!through) return 'n/a';
    try {
      await c.call(p.refuse[0], p.refuse[1]);
      return 'not refused';
    } catch (err) {
      return /outside the allowed domains/.test(err.message) ? 'yes' : `message: ${err.message.slice(0, 60)}`;
    }
  },
};

const rows = [];
for (const [clientName, connect] of Object.entries(CLIENTS)) {
  for (const [serverName, urls] of Object.entries(SERVERS)) {
    for (const [where, url] of [['direct', urls.direct], ['through Portcullis', urls.via]]) {
      const through = where !== 'direct';
      const results = {};
      if (!url) {
        for (const f of Object.keys(FEATURES)) results[f] = 'n/a';
      } else {
        let c;
        try {
          c = await connect(url, through ? { authorization: `Bearer ${token}` } : { [CREDENTIAL.header]: CREDENTIAL.value });
          for (const [f, check] of Object.entries(FEATURES)) results[f] = await check(c, urls.probe, through).catch((err) => `fails: ${String(err.message).split('\n')[0].slice(0, 60)}`);
        } catch (err) {
          for (const f of Object.keys(FEATURES)) results[f] = `fails: ${String(err.message).split('\n')[0].slice(0, 60)}`;
        } finally {
          await c?.close().catch(() => undefined);
        }
      }
      rows.push({ clientName, serverName, where, results });
    }
  }
}

await gateway.close();
everything.kill();
await v2.close();
v1Http.closeAllConnections();
v1Http.close();

const features = Object.keys(FEATURES);
const table = [
  `| client | server | path | ${features.join(' | ')} |`,
  `| --- | --- | --- | ${features.map(() => '---').join(' | ')} |`,
  ...rows.map((r) => `| ${r.clientName} | ${r.serverName} | ${r.where} | ${features.map((f) => r.results[f]).join(' | ')} |`),
].join('\n');
const block = `<!-- matrix:start (node scripts/mcp-matrix.mjs --write) -->\n${table}\n<!-- matrix:end -->`;
console.log(table);
if (process.argv.includes('--write')) {
  const doc = join(root, 'docs/mcp.md');
  const text = readFileSync(doc, 'utf8');
  writeFileSync(doc, text.replace(/<!-- matrix:start[\s\S]*?<!-- matrix:end -->/, block));
}
