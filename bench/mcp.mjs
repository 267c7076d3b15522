// MCP through Portcullis, side by side in one run (2026-07-28 requests; docs/performance.md, "MCP"):
//  1. tools/call throughput, direct to a server answering from memory (the example tracker's tool
//     list, bench/servers/mcp-upstream.mjs RAW=1) vs through the gateway: get_issue (no argument
//     rule) and share_issue (an argument rule on its email), ROUNDS rounds in alternating order;
//  2. tools/list latency, direct vs through the gateway (filtered for the caller);
//  3. a virtual server's merged tools/list over three servers held DELAYS ms (10,20,40) against the
//     slowest server's own tools/list (goal: within 1.2×).
//   npm run bench:mcp        (DURATION=10 seconds per throughput run, ROUNDS=2, SAMPLES=200)
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { benchIssuer, latencies, median, percentile } from './common.mjs';
import { cannon, forkServer, stopServer } from './processes.mjs';

const env = process.env;
const DURATION = Number(env.DURATION ?? 10);
const ROUNDS = Number(env.ROUNDS ?? 2);
const SAMPLES = Number(env.SAMPLES ?? 200);
const DELAYS = (env.DELAYS ?? '10,20,40').split(',').map(Number);
const REVISION = '2026-07-28';
const META = { 'io.modelcontextprotocol/protocolVersion': REVISION, 'io.modelcontextprotocol/clientInfo': { name: 'bench', version: '1' }, 'io.modelcontextprotocol/clientCapabilities': {} };
const CREDENTIAL = 'Bearer bench-mcp-credential';

const dir = mkdtempSync(join(tmpdir(), 'portcullis-mcp-bench-'));
const issuer = await benchIssuer(dir);
const token = await issuer.mint(900, 'support-bot', { scope: 'tracker:read tracker:write ticketing:read crm:read' });
const started = [];
const start = async (script, vars, core) => {
  const s = await forkServer(script, vars, core);
  started.push(s);
  return s;
};

const message = (method, params) => JSON.stringify({ jsonrpc: '2.0', id: 1, method, params: { ...params, _meta: META } });
const headers = (auth, method, name) => ({ authorization: auth, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': REVISION, 'mcp-method': method, ...(name ? { 'mcp-name': name } : {}) });
const call = (name, args) => ({ method: 'POST', path: '/mcp', body: message('tools/call', { name, arguments: args }), headers: (auth) => headers(auth, 'tools/call', name) });
const CALLS = { get_issue: call('get_issue', { id: 'ISS-1' }), share_issue: call('share_issue', { id: 'ISS-1', email: 'dana@example.com' }) };

async function throughput(url, path, auth, c) {
  const r = await cannon({ url: `${url}${path}`, method: 'POST', body: c.body, headers: c.headers(auth), connections: 16, duration: DURATION });
  if (r.non2xx > 0 || r.errors > 0) throw new Error(`${url}${path}: ${r.non2xx} non-2xx, ${r.errors} errors`);
  return r.requests.average;
}

async function sample(url, path, auth, body, method) {
  const pool = new Pool(url, { connections: 1 });
  const ms = [];
  for (let i = 0; i < SAMPLES + 20; i++) {
    const t = performance.now();
    const res = await pool.request({ method: 'POST', path, headers: headers(auth, method), body });
    const text = await res.body.text();
    if (res.statusCode !== 200 || !text.includes('"tools"')) throw new Error(`${url}${path} answered ${res.statusCode}: ${text.slice(0, 200)}`);
    if (i >= 20) ms.push(performance.now() - t);
  }
  await pool.close();
  return ms;
}

// Printed as measured, so a run cut short still shows what it got.
const out = { push: (...lines) => lines.forEach((l) => console.log(l)) };
try {
  // 1 and 2: one server, no delay; the server and the gateway each pinned to a core.
  const up = await start('mcp-upstream.mjs', { DELAY_MS: '0', RAW: '1' }, 1);
  const direct = `http://127.0.0.1:${up.port}`;
  const gw = await start('mcp-gateway.mjs', { MCP_UPSTREAMS: `${direct}/mcp`, JWKS_FILE: issuer.jwksFile }, 0);
  const via = `http://127.0.0.1:${gw.port}`;
  // Each call direct and through the gateway: the tracker's own cost differs per tool.
  const keys = ['direct get_issue', 'via get_issue', 'direct share_issue', 'via share_issue'];
  const runs = Object.fromEntries(keys.map((k) => [k, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const k of round % 2 === 0 ? keys : [...keys].reverse()) {
      const [where, tool] = k.split(' ');
      runs[k].push(where === 'direct' ? await throughput(direct, '/mcp', CREDENTIAL, CALLS[tool]) : await throughput(via, '/tools/tracker', `Bearer ${token}`, CALLS[tool]));
    }
  }
  const rps = Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, median(v)]));
  out.push(`## tools/call throughput (req/s, median of ${ROUNDS} rounds in alternating order; 16 connections, ${DURATION} s each)`);
  for (const tool of ['get_issue', 'share_issue']) {
    const rule = tool === 'share_issue' ? 'an argument rule on its email' : 'no argument rule';
    out.push(`${tool} (${rule}): direct ${rps[`direct ${tool}`].toFixed(0)}, through Portcullis ${rps[`via ${tool}`].toFixed(0)} (${(rps[`via ${tool}`] / rps[`direct ${tool}`]).toFixed(2)}x)`);
  }
  const list = message('tools/list', {});
  const listDirect = await sample(direct, '/mcp', CREDENTIAL, list, 'tools/list');
  const listVia = await sample(via, '/tools/tracker', `Bearer ${token}`, list, 'tools/list');
  out.push('', '## tools/list latency (sequential)');
  out.push(`direct: ${latencies(listDirect)}`);
  out.push(`through Portcullis (filtered for the caller): ${latencies(listVia)}; p50 +${(percentile(listVia, 50) - percentile(listDirect, 50)).toFixed(2)} ms`);
  for (const s of started.splice(0)) await stopServer(s);

  // 3: three servers held DELAYS ms each, behind one virtual server.
  const held = [];
  for (const d of DELAYS) held.push(await start('mcp-upstream.mjs', { DELAY_MS: String(d) }));
  const gw3 = await start('mcp-gateway.mjs', { MCP_UPSTREAMS: held.map((h) => `http://127.0.0.1:${h.port}/mcp`).join(','), JWKS_FILE: issuer.jwksFile });
  const slowest = held[DELAYS.indexOf(Math.max(...DELAYS))];
  const slow = await sample(`http://127.0.0.1:${slowest.port}`, '/mcp', CREDENTIAL, list, 'tools/list');
  const merged = await sample(`http://127.0.0.1:${gw3.port}`, '/tools/workspace', `Bearer ${token}`, list, 'tools/list');
  out.push('', `## a virtual server over ${DELAYS.length} servers held ${DELAYS.join('/')} ms`);
  out.push(`the slowest server's own tools/list: ${latencies(slow)}`);
  out.push(`the virtual server's merged tools/list: ${latencies(merged)}`);
  out.push(`merged ÷ slowest: p50 ${(percentile(merged, 50) / percentile(slow, 50)).toFixed(2)}x, p99 ${(percentile(merged, 99) / percentile(slow, 99)).toFixed(2)}x (goal: within 1.2x)`);
} finally {
  for (const s of started) await stopServer(s).catch(() => undefined);
}
