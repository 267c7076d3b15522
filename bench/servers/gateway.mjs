// Portcullis itself, built from dist/ with a config that points the `crm` tool at the bench upstream.
// TOKEN_CACHE=off disables the verified-token cache; POLICY=off replaces the Rego policy with a
// registry-and-scope decider (the ladder's step below "+ policy"); AUDIT=off replaces the audit
// trail with a no-op (the step below "+ audit"); RATE_LIMITS=on adds per-agent, agent × tool and
// user limits high enough never to refuse (their cost, not their effect); logs go to stdout (discarded).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileConfig } from '../../dist/config/compile.js';
import { validate } from '../../dist/config/load.js';
import { buildGateway } from '../../dist/gateway.js';

const raw = validate({
  listen: { proxy: { host: '127.0.0.1', port: Number(process.env.PORT ?? 0) }, admin: { host: '127.0.0.1', port: Number(process.env.ADMIN_PORT ?? 0) } },
  auth: {
    issuers: [{ issuer: 'https://idp.bench', jwks_file: process.env.JWKS_FILE, audiences: ['portcullis'] }],
    token_cache: { enabled: process.env.TOKEN_CACHE !== 'off' },
  },
  agents: { 'support-bot': { owner: 'alice@example.com', roles: ['support_agent'], max_classification: 'confidential' } },
  tools: {
    crm: {
      upstream: process.env.UPSTREAM,
      classification: 'confidential',
      credentials: { header: 'authorization', value: 'Bearer bench-crm-credential' },
      operations: [
        { name: 'get-contact', method: 'GET', path: '/contacts/:id', action: 'read' },
        { name: 'add-note', method: 'POST', path: '/contacts/:id/notes', action: 'write' },
      ],
    },
  },
  policy: { bundle: new URL('../../policies/build/bundle.tar.gz', import.meta.url).pathname, watch: false },
  audit: {
    sinks: [{ type: 'file', path: join(mkdtempSync(join(tmpdir(), 'portcullis-bench-audit-')), 'audit.jsonl') }],
    signing_key: join(tmpdir(), 'portcullis-bench-audit-key.pem'),
    generate_signing_key: true,
  },
  logging: { level: process.env.LOG_LEVEL ?? 'info' },
  ...(process.env.RATE_LIMITS === 'on'
    ? { rate_limits: { agent: { rate: '1000000/s', burst: 1000000 }, agent_tool: { rate: '1000000/s', burst: 1000000 }, user: { rate: '1000000/s', burst: 1000000 } } }
    : {}),
});
const allowByScope = { decide: () => ({ allow: true, approvalRequired: false, reasons: ['scope'], revision: 'none' }) };
const noAudit = { record: () => undefined, healthy: () => true };
const gateway = buildGateway(compileConfig(raw, process.cwd()), {
  ...(process.env.POLICY === 'off' ? { decider: allowByScope } : {}),
  ...(process.env.AUDIT === 'off' ? { audit: noAudit } : {}),
});
const { proxyUrl } = await gateway.listen();
process.send?.({ ready: Number(new URL(proxyUrl).port) });
process.on('SIGTERM', () => gateway.close().then(() => process.exit(0)));
