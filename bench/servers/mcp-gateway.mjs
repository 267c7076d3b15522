// Portcullis in front of MCP servers: `tracker`, `ticketing` and `crm` (MCP_UPSTREAMS, comma
// separated; names the shipped policy grants support_agent) and `workspace`, a virtual server over
// all three. The shipped policy decides, with its argument rules (share_issue's email domain).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileConfig } from '../../dist/config/compile.js';
import { validate } from '../../dist/config/load.js';
import { buildGateway } from '../../dist/gateway.js';

const env = process.env;
const names = ['tracker', 'ticketing', 'crm'];
const upstreams = env.MCP_UPSTREAMS.split(',');
const ACTIONS = { search_issues: 'read', get_issue: 'read', create_issue: 'write', share_issue: 'write' };
const operations = Object.entries(ACTIONS).map(([name, action]) => ({ name, mcp_tool: name, action }));
const tools = Object.fromEntries(
  upstreams.map((url, i) => [names[i], { upstream: url, protocol: 'mcp', classification: 'internal', credentials: { header: 'authorization', value: 'Bearer bench-mcp-credential' }, operations }]),
);
if (upstreams.length > 1) tools.workspace = { protocol: 'mcp', classification: 'internal', servers: names.slice(0, upstreams.length) };
const state = mkdtempSync(join(tmpdir(), 'portcullis-mcp-bench-'));
const config = compileConfig(
  validate({
    listen: { proxy: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 } },
    auth: { issuers: [{ issuer: 'https://idp.bench', jwks_file: env.JWKS_FILE, audiences: ['portcullis'] }] },
    agents: { 'support-bot': { owner: 'alice@example.com', roles: ['support_agent'], max_classification: 'confidential' } },
    tools,
    policy: { bundle: new URL('../../policies/build/bundle.tar.gz', import.meta.url).pathname, watch: false },
    audit: { sinks: [{ type: 'file', path: join(state, 'audit.jsonl') }], signing_key: join(state, 'audit-key.pem'), generate_signing_key: true },
    logging: { level: 'warn' },
    state: { file: join(state, 'state.json') },
  }),
  process.cwd(),
);
const gateway = buildGateway(config, {});
const { proxyUrl } = await gateway.listen();
process.send?.({ ready: Number(new URL(proxyUrl).port) });
process.on('SIGTERM', () => gateway.close().then(() => process.exit(0)));
