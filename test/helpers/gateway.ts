/**
 * Builds and starts a whole gateway on port 0 from a config object, capturing its log lines so a
 * test can assert what was (and was not) logged.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { compileConfig, type RuntimeConfig } from '../../src/config/compile.js';
import { validate } from '../../src/config/load.js';
import { buildGateway, type Gateway, type GatewayDeps } from '../../src/gateway.js';
import type { TestIssuer } from './issuer.js';
import type { Decider } from '../../src/pipeline/decide.js';

export interface RunningGateway {
  readonly gateway: Gateway;
  readonly config: RuntimeConfig;
  readonly proxyUrl: string;
  readonly adminUrl: string;
  readonly logs: Record<string, unknown>[];
  readonly rawLogs: string[];
  close(): Promise<void>;
}

/** All log text captured by every gateway started in this process (for secrecy assertions). */
export const capturedLogText: string[] = [];

/** An audit section writing to a fresh temp folder (each gateway its own chain and key). */
export function tempAudit(extra: Record<string, unknown> = {}): Record<string, unknown> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-audit-'));
  return { sinks: [{ type: 'file', path: join(dir, 'audit.jsonl') }], signing_key: join(dir, 'signing-key.pem'), generate_signing_key: true, ...extra };
}

/** A state section (kills, revocations) persisted to a fresh temp file: tests never share a kill. */
export function tempState(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { file: join(mkdtempSync(join(tmpdir(), 'portcullis-state-')), 'state.json'), ...extra };
}

export function testConfig(issuer: TestIssuer, tools: Record<string, unknown>, extra: Record<string, unknown> = {}): RuntimeConfig {
  const raw = validate({
    audit: tempAudit(),
    state: tempState(),
    approvals: { hold: '300ms', ttl: '1m' },
    listen: { proxy: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 } },
    auth: { issuers: [{ issuer: issuer.issuer, jwks_file: issuer.jwksFile, audiences: ['portcullis'] }] },
    agents: {
      'support-bot': { owner: 'alice@example.com', roles: ['support_agent'], max_classification: 'confidential' },
      'sleepy-bot': { owner: 'bob@example.com', roles: ['support_agent'], max_classification: 'internal', status: 'suspended' },
      'old-bot': { owner: 'bob@example.com', roles: ['support_agent'], max_classification: 'internal', status: 'retired' },
    },
    tools,
    logging: { level: 'info' },
    shutdown: { grace: '2s' },
    ...extra,
  });
  return compileConfig(raw, process.cwd());
}

/**
 * For suites about something other than policy: registry + scope decide, and the decision says so.
 * Policy suites pass `{ policy: true }` to run the real engine with the configured bundle.
 */
export const scopeOnlyDecider: Decider = {
  decide: (ctx) => ({ allow: true, approvalRequired: false, reasons: [`scope ${ctx.operation!.scope}`], revision: 'scope-only' }),
};

export async function startGateway(config: RuntimeConfig, deps: GatewayDeps & { policy?: boolean } = {}): Promise<RunningGateway> {
  const logs: Record<string, unknown>[] = [];
  const rawLogs: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      const text = chunk.toString('utf8');
      rawLogs.push(text);
      capturedLogText.push(text);
      for (const line of text.split('\n').filter(Boolean)) logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const { policy, ...rest } = deps;
  const gateway = buildGateway(config, { logDestination: destination, ...(policy ? {} : { decider: scopeOnlyDecider }), ...rest });
  const { proxyUrl, adminUrl } = await gateway.listen();
  return { gateway, config, proxyUrl, adminUrl, logs, rawLogs, close: () => gateway.close() };
}

/** Every audit event the gateway has written so far (a durable marker first, so nothing is still in flight). */
export async function auditEvents(running: RunningGateway): Promise<Record<string, any>[]> {
  const trail = running.gateway.audit()!;
  await trail.record('marker', {}, { durable: true });
  return readFileSync(trail.path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>);
}
