/** The repo's gateway.yaml (agents, tools, operations), pointed at a test upstream, issuer and policy bundle. */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { compileConfig, type RuntimeConfig } from '../../src/config/compile.js';
import { parseConfig, validate } from '../../src/config/load.js';
import type { TestIssuer } from '../helpers/issuer.js';
import { tempAudit, tempState } from '../helpers/gateway.js';
import type { RecordingUpstream } from '../helpers/upstream.js';

export function shippedCatalogue(issuer: TestIssuer, up: RecordingUpstream, policy: Record<string, unknown>, extra: { agents?: Record<string, unknown>; breakGlass?: string } = {}): RuntimeConfig {
  const raw = parseConfig(readFileSync(new URL('../../gateway.yaml', import.meta.url), 'utf8')) as unknown as Record<string, any>;
  for (const tool of Object.values(raw.tools as Record<string, { upstream: string }>)) tool.upstream = up.url;
  raw.listen = { proxy: { port: 0 }, admin: { port: 0 } };
  raw.auth.issuers = [{ issuer: issuer.issuer, jwks_file: issuer.jwksFile, audiences: ['portcullis'] }];
  raw.agents = { ...raw.agents, ...extra.agents };
  raw.dev = { issuer: false, example_tools: false };
  raw.token_service = { enabled: false };
  raw.policy = { ...raw.policy, ...policy };
  raw.audit = tempAudit();
  raw.state = tempState();
  raw.approvals = { hold: '300ms', ttl: '1m' };
  if (extra.breakGlass) raw.admin.break_glass = { sha256: createHash('sha256').update(extra.breakGlass).digest('hex') };
  return compileConfig(validate(raw), process.cwd());
}
