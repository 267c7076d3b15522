// Portcullis's token service, built from dist/: one agent (bench-agent) that authenticates by
// private_key_jwt with the key in AGENT_JWKS (or a client secret, SECRET_HASH), the default audit
// trail (file, group commit) and the memory state store. Token rate limits are set high enough never
// to refuse: the bench measures the grant, not the limiter.
//   PORT              the port (the issuer URL names it)
//   SECRET_CACHE=off  check the client secret's scrypt hash on every request
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileConfig } from '../../dist/config/compile.js';
import { validate } from '../../dist/config/load.js';
import { buildGateway } from '../../dist/gateway.js';

const env = process.env;
const dir = mkdtempSync(join(tmpdir(), 'portcullis-bench-ts-'));
const issuer = `http://127.0.0.1:${env.PORT}`;
const high = { rate: '1000000/s', burst: 1000000 };
const raw = validate({
  listen: { proxy: { host: '127.0.0.1', port: Number(env.PORT) }, admin: { host: '127.0.0.1', port: 0 } },
  token_service: {
    enabled: true,
    issuer,
    signing_keys: [env.SIGNING_KEY],
    rate_limits: { client: high, address: high },
    secret_cache_ttl: env.SECRET_CACHE === 'off' ? 0 : '5m',
  },
  agents: {
    'bench-agent': {
      owner: 'alice@example.com',
      roles: ['support_agent'],
      max_classification: 'confidential',
      scopes: ['crm:read', 'crm:write'],
      credentials: { ...(env.AGENT_JWKS ? { jwks_file: env.AGENT_JWKS } : {}), ...(env.SECRET_HASH ? { secret_hashes: [env.SECRET_HASH] } : {}) },
    },
  },
  tools: { crm: { upstream: 'http://127.0.0.1:9', classification: 'confidential', operations: [{ name: 'get-contact', method: 'GET', path: '/contacts/:id', action: 'read' }] } },
  policy: { bundle: new URL('../../policies/build/bundle.tar.gz', import.meta.url).pathname, watch: false },
  audit: { sinks: [{ type: 'file', path: join(dir, 'audit.jsonl') }], signing_key: join(dir, 'audit-key.pem'), generate_signing_key: true },
  logging: { level: 'warn' },
});
const gateway = buildGateway(compileConfig(raw, process.cwd()));
await gateway.listen();
process.send?.({ ready: Number(env.PORT), issuer });
process.on('SIGTERM', () => gateway.close().then(() => process.exit(0)));
