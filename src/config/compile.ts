/**
 * Raw (validated) config → the frozen runtime form the request path reads. Everything that can be
 * computed once is computed here: durations in ms, the per-tool route table, lower-cased header
 * names, resolved file paths. Request code never looks at the raw config again.
 */
import { resolve } from 'node:path';
import { ConfigError } from './load.js';
import { requireDuration as duration, requireSize as size } from './units.js';
import { compileTemplate, type OperationTemplate } from './route-template.js';
import { compileAudit, type AuditConfig } from './compile-audit.js';
import { compileProxyListen, type ProxyListen } from './compile-listen.js';
import { compilePolicy, type PolicyConfig } from './compile-policy.js';
import { compileRate, compileRateLimits, compileTrust, type RateLimitsConfig, type RateRule, type TrustConfig } from './compile-trust.js';
import type { ActionName, Classification, RawConfig, TrustLevel } from './schema.js';
import { checkMcpOperation, compileMcp, compileStdio, compileVirtualServers, STDIO_URL, type ResourceRule, type StdioServer, type VirtualServer } from './compile-mcp.js';
import { compileOAuthClients, type AuthorizationCodeConfig } from './compile-oauth-clients.js';
import { compileCapture, type CaptureRules } from './compile-capture.js';
import { compileSso, type SsoConfig } from './compile-sso.js';
import { compileAgentIdentity, compileTokenService, type AgentIdentityConfig, type TokenServiceConfig } from './compile-identity.js';
import { DEV_ADMIN_AUDIENCE, DEV_AUDIENCE, DEV_ISSUER, devJwksFile } from '../auth/dev-issuer.js';

export type AdminRole = 'operator' | 'approver' | 'auditor' | 'admin' | 'provisioner';
export const ADMIN_ROLES: readonly AdminRole[] = ['operator', 'approver', 'auditor', 'admin', 'provisioner'];

export interface IssuerConfig {
  readonly issuer: string;
  readonly jwksUri?: string;
  readonly jwksFile?: string;
  readonly audiences: readonly string[];
  /** The token service's own keys (src/identity/signing-keys.ts), not a JWKS file or URL. */
  readonly selfIssued?: boolean;
}

export interface AgentEntry extends AgentIdentityConfig {
  readonly id: string;
  readonly owner: string;
  readonly purpose?: string;
  readonly version?: string;
  readonly roles: readonly string[];
  readonly maxClassification: Classification;
  readonly status: 'active' | 'suspended' | 'retired';
  readonly trustLevel: TrustLevel;
  /** This agent's own limit (in place of rate_limits.agent). */
  readonly rateLimit?: RateRule;
}

export interface OperationRoute extends OperationTemplate {
  readonly name: string;
  readonly action: ActionName;
  readonly risk: 'low' | 'medium' | 'high';
  readonly mcpTool?: string;
  readonly mcpMethod?: string;
  readonly mcpResource?: string;
  readonly mcpPrompt?: string;
  /** `tool:action`, precomputed for the scope check. */
  readonly scope: string;
  /** Per agent × this operation. */
  readonly rateLimit?: RateRule;
}

export interface ToolRoute {
  readonly name: string;
  readonly origin: string;
  /** Path prefix of the upstream URL, without a trailing slash ('' for none). */
  readonly basePath: string;
  readonly protocol: 'http' | 'mcp';
  readonly classification: Classification;
  readonly credential?: { readonly header: string; readonly value: string };
  readonly timeoutMs: number;
  readonly maxBodyBytes: number;
  readonly tls?: { readonly caFile?: string; readonly servername?: string };
  readonly operations: readonly OperationRoute[];
  /** Opt-in capture of the JSON request body into the audit event, with these dotted paths redacted. */
  readonly captureBody?: { readonly redact: readonly string[] };
  /** What an approval records of the call's content (src/pipeline/approval-capture.ts). */
  readonly capture: CaptureRules;
  /** Per agent × this tool (in place of rate_limits.agent_tool). */
  readonly rateLimit?: RateRule;
  /** protocol: mcp only. */
  readonly mcp?: McpToolRoute;
  /** An MCP server run as a child process (upstream: {command, …}). */
  readonly stdio?: StdioServer;
}

export interface McpToolRoute {
  /** tools/call name → operation (`mcp_tool`). */
  readonly tools: ReadonlyMap<string, OperationRoute>;
  /** Other data methods (resources/read, prompts/get…) → operation (`mcp_method`): every URI or name. */
  readonly methods: ReadonlyMap<string, OperationRoute>;
  /** prompts/get name → operation (`mcp_prompt`). */
  readonly prompts: ReadonlyMap<string, OperationRoute>;
  /** resources/read, subscribe, unsubscribe by URI pattern (`mcp_resource`), first match wins. */
  readonly resources: readonly ResourceRule[];
  readonly allowedOrigins: ReadonlySet<string>;
  /** Tool definitions pinned in gateway.yaml: name → "sha256:<hex>". */
  readonly pins: ReadonlyMap<string, string>;
  readonly maxListBytes: number;
  /** Kinds of server-to-client request allowed: sampling, elicitation, roots. */
  readonly serverRequests: ReadonlySet<string>;
}

export interface RuntimeConfig {
  readonly listen: { readonly proxy: ProxyListen; readonly admin: Listen };
  readonly auth: {
    readonly issuers: readonly IssuerConfig[];
    readonly algorithms: readonly string[];
    readonly clockToleranceSec: number;
    readonly maxTokenTtlSec: number;
    readonly maxTokenBytes: number;
    readonly tokenTypes: readonly string[];
    readonly jwks: { readonly cacheMaxAgeMs: number; readonly cooldownMs: number };
    readonly tokenCache: { readonly enabled: boolean; readonly maxEntries: number };
  };
  readonly agents: ReadonlyMap<string, AgentEntry>;
  /** Absent unless token_service.enabled. */
  readonly tokenService?: TokenServiceConfig;
  /** oauth_clients and how their codes and refresh tokens live; absent without clients. */
  readonly authorizationCode?: AuthorizationCodeConfig;
  readonly tools: ReadonlyMap<string, ToolRoute>;
  /** MCP endpoints presenting several MCP tools as one (`servers:`); not tools themselves. */
  readonly virtualServers: ReadonlyMap<string, VirtualServer>;
  readonly admin: {
    readonly issuers: readonly IssuerConfig[];
    readonly rolesClaim: string;
    readonly maxTokenTtlSec: number;
    readonly roleMap: ReadonlyMap<string, AdminRole>;
    readonly breakGlassSha256?: string;
    /** People sign in with the company IdP (src/console/sso.ts). */
    readonly sso?: SsoConfig;
  };
  readonly policy: PolicyConfig;
  readonly audit: AuditConfig;
  readonly approvals: {
    readonly holdMs: number;
    readonly ttlMs: number;
    readonly webhook: string | null;
    readonly requireMfa: boolean;
    readonly mfaMaxAgeSec: number;
    readonly retryAfterSec: number;
    readonly inputRequiredWaitMs: number;
  };
  readonly state: {
    readonly store: 'memory' | 'redis';
    readonly file: string;
    readonly redis: RedisConnection;
    readonly maxStalenessMs: number;
  };
  readonly trust: TrustConfig;
  readonly rateLimits: RateLimitsConfig;
  readonly logLevel: string;
  readonly shutdownGraceMs: number;
  readonly dev: { readonly issuer: boolean; readonly exampleTools: boolean; readonly keysDir: string; readonly sso: boolean; readonly ssoPort: number };
  /** The validated source, kept for later stages (policy, audit, state) that compile their own parts. */
  readonly raw: RawConfig;
  readonly baseDir: string;
}

interface Listen {
  readonly host: string;
  readonly port: number;
}

/** Headers a tool credential may not name: framing, routing and our own identity headers. */
const RESERVED_HEADERS = new Set([
  'host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer',
  'proxy-connection', 'portcullis-agent', 'portcullis-user', 'portcullis-request-id',
]);

export function compileConfig(raw: RawConfig, baseDir: string): RuntimeConfig {
  const agents = new Map<string, AgentEntry>();
  for (const [id, a] of Object.entries(raw.agents)) {
    agents.set(id, Object.freeze({
      id, owner: a.owner, purpose: a.purpose, version: a.version, roles: Object.freeze([...a.roles]),
      maxClassification: a.max_classification, status: a.status, trustLevel: a.trust_level,
      rateLimit: a.rate_limit && compileRate(a.rate_limit, `agents.${id}.rate_limit`),
      ...compileAgentIdentity(id, a, raw, baseDir),
    }));
  }

  const defaultMaxBody = size(raw.limits.max_body, 'limits.max_body');
  const tools = new Map<string, ToolRoute>();
  for (const [name, t] of Object.entries(raw.tools)) if (!t.servers) tools.set(name, compileTool(name, t, defaultMaxBody, baseDir));
  const virtualServers = compileVirtualServers(raw, tools);

  const roleMap = new Map<string, AdminRole>();
  for (const [group, role] of Object.entries(raw.admin.auth.role_map)) {
    if (!ADMIN_ROLES.includes(role as AdminRole)) {
      throw new ConfigError(`admin.auth.role_map.${group}`, `must be one of ${ADMIN_ROLES.join(', ')} (got ${JSON.stringify(role)})`);
    }
    roleMap.set(group, role as AdminRole);
  }

  const keysDir = resolve(baseDir, raw.dev.keys_dir);
  const devIssuer = (audience: string): IssuerConfig[] =>
    raw.dev.issuer ? [{ issuer: DEV_ISSUER, jwksFile: devJwksFile(keysDir), audiences: [audience] }] : [];

  const maxTokenTtlSec = duration(raw.auth.max_token_ttl, 'auth.max_token_ttl') / 1000;
  const tokenService = compileTokenService(raw, baseDir, keysDir, maxTokenTtlSec);
  const sso = compileSso(raw);
  const authorizationCode = compileOAuthClients(raw, tokenService, sso !== undefined);
  const selfIssuer: IssuerConfig[] = tokenService ? [{ issuer: tokenService.issuer, audiences: tokenService.audiences, selfIssued: true }] : [];

  const runtime: RuntimeConfig = {
    listen: {
      proxy: compileProxyListen(raw.listen.proxy),
      admin: { host: raw.listen.admin.host, port: raw.listen.admin.port ?? 8081 },
    },
    auth: {
      issuers: [...raw.auth.issuers.map((iss, i) => compileIssuer(iss, `auth.issuers.${i}`, baseDir)), ...devIssuer(DEV_AUDIENCE), ...selfIssuer],
      // RFC 9864: Ed25519 is the fully-specified name of EdDSA over Ed25519 (what oauth4webapi and
      // openid-client sign with); accepting one accepts the other, for the same keys.
      algorithms: withFullySpecified(raw.auth.algorithms),
      clockToleranceSec: duration(raw.auth.clock_tolerance, 'auth.clock_tolerance') / 1000,
      maxTokenTtlSec,
      maxTokenBytes: size(raw.auth.max_token_bytes, 'auth.max_token_bytes'),
      tokenTypes: raw.auth.token_types,
      jwks: {
        cacheMaxAgeMs: duration(raw.auth.jwks_cache_max_age, 'auth.jwks_cache_max_age'),
        cooldownMs: duration(raw.auth.jwks_cooldown, 'auth.jwks_cooldown'),
      },
      tokenCache: { enabled: raw.auth.token_cache.enabled, maxEntries: raw.auth.token_cache.max_entries },
    },
    agents,
    tokenService,
    authorizationCode,
    virtualServers,
    tools,
    admin: {
      issuers: [
        ...raw.admin.auth.issuers.map((iss, i) => compileIssuer(iss, `admin.auth.issuers.${i}`, baseDir)),
        ...devIssuer(DEV_ADMIN_AUDIENCE),
      ],
      rolesClaim: raw.admin.auth.roles_claim,
      maxTokenTtlSec: duration(raw.admin.auth.max_token_ttl, 'admin.auth.max_token_ttl') / 1000,
      roleMap,
      breakGlassSha256: raw.admin.break_glass?.sha256.toLowerCase(),
      sso,
    },
    policy: compilePolicy(raw, baseDir),
    audit: compileAudit(raw, baseDir),
    approvals: {
      holdMs: duration(raw.approvals.hold, 'approvals.hold'),
      ttlMs: duration(raw.approvals.ttl, 'approvals.ttl'),
      webhook: raw.approvals.notify.webhook,
      requireMfa: raw.approvals.require_mfa,
      mfaMaxAgeSec: duration(raw.approvals.mfa_max_age, 'approvals.mfa_max_age') / 1000,
      retryAfterSec: Math.max(1, Math.ceil(duration(raw.approvals.retry_after, 'approvals.retry_after') / 1000)),
      inputRequiredWaitMs: duration(raw.approvals.input_required_wait, 'approvals.input_required_wait'),
    },
    state: {
      store: raw.state.store,
      file: resolve(baseDir, raw.state.file),
      redis: compileRedis(raw.state.redis),
      maxStalenessMs: duration(raw.state.max_staleness, 'state.max_staleness'),
    },
    trust: compileTrust(raw, baseDir, compileIssuer),
    rateLimits: compileRateLimits(raw),
    logLevel: raw.logging.level,
    shutdownGraceMs: duration(raw.shutdown.grace, 'shutdown.grace'),
    dev: { issuer: raw.dev.issuer, exampleTools: raw.dev.example_tools, keysDir, sso: raw.dev.sso && !raw.admin.sso, ssoPort: raw.dev.sso_port },
    raw,
    baseDir,
  };
  if (runtime.auth.issuers.length === 0) throw new ConfigError('auth.issuers', 'needs at least one trusted issuer (or dev.issuer: true)');
  const issuerNames = runtime.auth.issuers.map((i) => i.issuer);
  const dup = issuerNames.find((n, i) => issuerNames.indexOf(n) !== i);
  if (dup !== undefined) throw new ConfigError('auth.issuers', `issuer ${JSON.stringify(dup)} is listed twice${dup === tokenService?.issuer ? ' (token_service.issuer is trusted without being listed)' : ''}`);
  if (runtime.auth.maxTokenTtlSec <= 0) throw new ConfigError('auth.max_token_ttl', 'must be longer than 0s');
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(runtime.logLevel)) {
    throw new ConfigError('logging.level', `must be one of fatal, error, warn, info, debug, trace, silent (got ${JSON.stringify(runtime.logLevel)})`);
  }
  return deepFreeze(runtime);
}

function compileTool(name: string, t: RawConfig['tools'][string], defaultMaxBody: number, baseDir: string): ToolRoute {
  const at = `tools.${name}`;
  // A stdio server is reached through the gateway's own bridge (src/mcp/stdio-bridge.ts) at this URL.
  if (t.upstream === undefined) throw new ConfigError(`${at}.upstream`, 'is required (or servers, for a virtual MCP server)');
  if (t.operations === undefined) throw new ConfigError(`${at}.operations`, 'is required (or servers, for a virtual MCP server)');
  const stdio = typeof t.upstream === 'string' ? undefined : compileStdio(at, t, baseDir);
  let url: URL;
  try {
    url = new URL(typeof t.upstream === 'string' ? t.upstream : STDIO_URL);
  } catch {
    throw new ConfigError(`${at}.upstream`, `is not a valid URL (got ${JSON.stringify(t.upstream)})`);
  }
  if (url.search || url.hash || url.username || url.password) {
    throw new ConfigError(`${at}.upstream`, 'must not carry a query, fragment or user info; use credentials for secrets');
  }
  let credential: ToolRoute['credential'];
  if (t.credentials) {
    const header = t.credentials.header.toLowerCase();
    if (RESERVED_HEADERS.has(header) || !/^[a-z0-9!#$%&'*+.^_`|~-]+$/.test(header)) {
      throw new ConfigError(`${at}.credentials.header`, `cannot inject into ${JSON.stringify(t.credentials.header)}`);
    }
    if (/[\r\n\0]/.test(t.credentials.value)) throw new ConfigError(`${at}.credentials.value`, 'contains a line break or NUL');
    credential = { header, value: t.credentials.value };
  }
  const seen = new Set<string>();
  const operations = t.operations.map((op, i): OperationRoute => {
    const opAt = `${at}.operations.${i}`;
    if (seen.has(op.name)) throw new ConfigError(`${opAt}.name`, `duplicate operation name ${JSON.stringify(op.name)}`);
    seen.add(op.name);
    if (t.protocol === 'http') {
      if (!op.path) throw new ConfigError(`${opAt}.path`, 'is required for an http tool');
      if (!op.method) throw new ConfigError(`${opAt}.method`, 'is required for an http tool');
    }
    checkMcpOperation(opAt, op, t.protocol);
    let template: OperationTemplate;
    try {
      template = compileTemplate(op.method ?? 'POST', op.path ?? '/');
    } catch (err) {
      throw new ConfigError(`${opAt}.path`, (err as Error).message);
    }
    return {
      ...template, name: op.name, action: op.action, risk: op.risk, mcpTool: op.mcp_tool, mcpMethod: op.mcp_method, mcpResource: op.mcp_resource, mcpPrompt: op.mcp_prompt, scope: `${name}:${op.action}`,
      rateLimit: op.rate_limit && compileRate(op.rate_limit, `${opAt}.rate_limit`),
    };
  });
  if (t.mcp && t.protocol !== 'mcp') throw new ConfigError(`${at}.mcp`, 'applies only to a tool with protocol: mcp');
  const maxBody = t.max_body !== undefined ? size(t.max_body, `${at}.max_body`) : defaultMaxBody;
  const timeoutMs = duration(t.timeout, `${at}.timeout`);
  if (timeoutMs <= 0) throw new ConfigError(`${at}.timeout`, 'must be longer than 0s');
  return {
    name,
    origin: url.origin,
    basePath: url.pathname.replace(/\/+$/, ''),
    protocol: t.protocol,
    classification: t.classification,
    credential,
    timeoutMs,
    maxBodyBytes: maxBody,
    tls: t.tls ? { caFile: t.tls.ca_file ? resolve(baseDir, t.tls.ca_file) : undefined, servername: t.tls.servername } : undefined,
    operations,
    captureBody: t.audit?.capture_body ? { redact: t.audit.redact } : undefined,
    capture: compileCapture(t.capture, `${at}.capture`),
    rateLimit: t.rate_limit && compileRate(t.rate_limit, `${at}.rate_limit`),
    mcp: t.protocol === 'mcp' ? compileMcp(at, t, operations) : undefined,
    stdio,
  };
}

/** How to reach Redis: one server, a Sentinel-monitored master, or a Cluster. */
export type RedisConnection =
  | { readonly mode: 'standalone'; readonly url: string; readonly prefix: string }
  | { readonly mode: 'sentinel'; readonly url: string; readonly prefix: string; readonly sentinels: readonly { host: string; port: number }[]; readonly name: string }
  | { readonly mode: 'cluster'; readonly url: string; readonly prefix: string; readonly nodes: readonly string[] };

function compileRedis(r: RawConfig['state']['redis']): RedisConnection {
  if (r.sentinels && r.cluster) throw new ConfigError('state.redis', 'name sentinels or cluster, not both');
  if (r.sentinels) {
    if (!r.name) throw new ConfigError('state.redis.name', 'is required with sentinels: the name of the monitored master');
    return { mode: 'sentinel', url: r.url, prefix: r.prefix, sentinels: r.sentinels, name: r.name };
  }
  if (r.name) throw new ConfigError('state.redis.name', 'only applies with sentinels');
  if (r.cluster) return { mode: 'cluster', url: r.url, prefix: r.prefix, nodes: r.cluster };
  return { mode: 'standalone', url: r.url, prefix: r.prefix };
}

function compileIssuer(iss: RawConfig['auth']['issuers'][number], at: string, baseDir: string): IssuerConfig {
  if (!iss.jwks_uri === !iss.jwks_file) throw new ConfigError(at, 'needs exactly one of jwks_uri or jwks_file');
  if (iss.jwks_uri) {
    // Keys fetched over plain HTTP could be swapped in transit, and with them every token: only loopback may skip TLS.
    const u = URL.canParse(iss.jwks_uri) ? new URL(iss.jwks_uri) : undefined;
    if (!u) throw new ConfigError(`${at}.jwks_uri`, `is not a valid URL (got ${JSON.stringify(iss.jwks_uri)})`);
    if (u.protocol === 'http:' && !['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname)) {
      throw new ConfigError(`${at}.jwks_uri`, 'must use https:// (http:// is accepted only for loopback)');
    }
  }
  return {
    issuer: iss.issuer,
    jwksUri: iss.jwks_uri,
    jwksFile: iss.jwks_file ? resolve(baseDir, iss.jwks_file) : undefined,
    audiences: iss.audiences,
  };
}


function withFullySpecified(algs: readonly string[]): string[] {
  const out = [...algs];
  if (out.includes('EdDSA') && !out.includes('Ed25519')) out.splice(out.indexOf('EdDSA') + 1, 0, 'Ed25519');
  if (out.includes('Ed25519') && !out.includes('EdDSA')) out.splice(out.indexOf('Ed25519'), 0, 'EdDSA');
  return out;
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    const values = o instanceof Map ? [...o.values()] : Object.values(o);
    for (const v of values) deepFreeze(v);
  }
  return o;
}
