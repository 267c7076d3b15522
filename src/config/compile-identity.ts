/**
 * The token service and the agents' credentials, compiled once (docs/identity.md): durations in
 * seconds, file paths resolved, scope ceilings checked against the tool catalogue so that a typo
 * fails at start rather than refusing every token request.
 */
import { join, resolve } from 'node:path';
import { ConfigError } from './load.js';
import { requireDuration, requireSize } from './units.js';
import { compileRate, type RateRule } from './compile-trust.js';
import { ACTIONS, type RawConfig } from './schema.js';
import { parseSecretHash } from '../identity/client-secrets.js';

export interface AgentCredentials {
  readonly jwksFile?: string;
  readonly jwksUri?: string;
  /** Registered through the registry (SCIM `credentials`): the public keys themselves. */
  readonly jwks?: { readonly keys: readonly Record<string, unknown>[] };
  readonly secretHashes: readonly string[];
}

export interface AgentIdentityConfig {
  readonly credentials?: AgentCredentials;
  readonly scopes: readonly string[];
  readonly requireDpop: boolean;
  /** The longest token the token service mints for this agent (below token_service.ttl). */
  readonly maxTokenTtlSec?: number;
  /** Free text the policy reads as `agent.risk_profile` (e.g. low, high, pci). */
  readonly riskProfile: string | null;
}

export interface SubjectIssuerConfig {
  readonly issuer: string;
  readonly jwksUri?: string;
  readonly jwksFile?: string;
  readonly audiences: readonly string[];
  readonly rolesClaim: string;
  /** IdP group → policy role; absent: the claim's values are the roles. */
  readonly roleMap?: ReadonlyMap<string, string>;
  readonly subjectClaim: string;
}

export interface TokenServiceConfig {
  readonly enabled: boolean;
  readonly issuer: string;
  readonly tokenEndpoint: string;
  /** Absolute paths; the first signs. */
  readonly signingKeys: readonly string[];
  /** True when the only key is the development one, generated on first start. */
  readonly generateKey: boolean;
  readonly ttlSec: number;
  readonly audiences: readonly string[];
  readonly subjectIssuers: readonly SubjectIssuerConfig[];
  readonly assertionMaxAgeSec: number;
  readonly maxBodyBytes: number;
  readonly rateLimits: { readonly client: RateRule; readonly address: RateRule };
  readonly secretCacheTtlMs: number;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** An https URL, or http on loopback only: keys and tokens over plain HTTP can be swapped in transit. */
export function requireSecureUrl(value: string, at: string): URL {
  const u = URL.canParse(value) ? new URL(value) : undefined;
  if (!u) throw new ConfigError(at, `is not a valid URL (got ${JSON.stringify(value)})`);
  if (u.protocol === 'http:' && !LOOPBACK.has(u.hostname)) throw new ConfigError(at, 'must use https:// (http:// is accepted only for loopback)');
  return u;
}

export function compileAgentIdentity(id: string, a: RawConfig['agents'][string], raw: RawConfig, baseDir: string): AgentIdentityConfig {
  const at = `agents.${id}`;
  for (const [i, scope] of a.scopes.entries()) {
    const [tool, action] = scope.split(':') as [string, string];
    if (!(tool in raw.tools)) throw new ConfigError(`${at}.scopes.${i}`, `names tool ${JSON.stringify(tool)}, which is not in tools`);
    if (raw.tools[tool]!.servers) throw new ConfigError(`${at}.scopes.${i}`, `names the virtual server ${JSON.stringify(tool)}; grant the scopes of the MCP tools it presents`);
    if (action !== '*' && !(ACTIONS as readonly string[]).includes(action)) {
      throw new ConfigError(`${at}.scopes.${i}`, `names action ${JSON.stringify(action)}; actions are ${ACTIONS.join(', ')} or *`);
    }
  }
  let credentials: AgentCredentials | undefined;
  const c = a.credentials;
  if (c) {
    if (c.jwks_file && c.jwks_uri) throw new ConfigError(`${at}.credentials`, 'name jwks_file or jwks_uri, not both');
    if (!c.jwks_file && !c.jwks_uri && !c.secret_hashes) throw new ConfigError(`${at}.credentials`, 'needs jwks_file, jwks_uri or secret_hashes');
    if (c.jwks_uri) requireSecureUrl(c.jwks_uri, `${at}.credentials.jwks_uri`);
    for (const [i, h] of (c.secret_hashes ?? []).entries()) {
      if (!parseSecretHash(h)) throw new ConfigError(`${at}.credentials.secret_hashes.${i}`, 'is not a scrypt PHC string with ln 10-20, r 1-32, p 1-16 and a 16-byte salt (make one with `portcullis agents secret`)');
    }
    credentials = { jwksFile: c.jwks_file ? resolve(baseDir, c.jwks_file) : undefined, jwksUri: c.jwks_uri, secretHashes: c.secret_hashes ?? [] };
  }
  const maxTokenTtlSec = a.max_token_ttl === undefined ? undefined : requireDuration(a.max_token_ttl, `${at}.max_token_ttl`) / 1000;
  if (maxTokenTtlSec !== undefined && maxTokenTtlSec < 1) throw new ConfigError(`${at}.max_token_ttl`, 'must be at least 1s');
  return { credentials, scopes: a.scopes, requireDpop: a.require_dpop, maxTokenTtlSec, riskProfile: a.risk_profile ?? null };
}

export function compileTokenService(raw: RawConfig, baseDir: string, keysDir: string, maxTokenTtlSec: number): TokenServiceConfig | undefined {
  const t = raw.token_service;
  if (!t.enabled) return undefined;
  if (!t.issuer) throw new ConfigError('token_service.issuer', 'is required when the token service is enabled: the URL agents reach it by');
  const issuer = requireSecureUrl(t.issuer, 'token_service.issuer').href.replace(/\/$/, '');
  const ttlSec = requireDuration(t.ttl, 'token_service.ttl') / 1000;
  if (ttlSec <= 0) throw new ConfigError('token_service.ttl', 'must be longer than 0s');
  if (ttlSec > maxTokenTtlSec) throw new ConfigError('token_service.ttl', `must not exceed auth.max_token_ttl (${maxTokenTtlSec}s): the gateway would refuse its own tokens`);
  if (t.signing_keys.length === 0 && !raw.dev.issuer) {
    throw new ConfigError('token_service.signing_keys', 'needs at least one PKCS#8 key file (Ed25519 or P-256); only with dev.issuer is one generated');
  }
  const subjectIssuers = t.subject_issuers.map((s, i): SubjectIssuerConfig => {
    const at = `token_service.subject_issuers.${i}`;
    if (!s.jwks_uri === !s.jwks_file) throw new ConfigError(at, 'needs exactly one of jwks_uri or jwks_file');
    if (s.jwks_uri) requireSecureUrl(s.jwks_uri, `${at}.jwks_uri`);
    if (s.issuer === issuer) throw new ConfigError(`${at}.issuer`, 'is the token service itself: its tokens are exchanged without being listed');
    return {
      issuer: s.issuer,
      jwksUri: s.jwks_uri,
      jwksFile: s.jwks_file ? resolve(baseDir, s.jwks_file) : undefined,
      audiences: s.audiences,
      rolesClaim: s.roles_claim,
      roleMap: s.role_map ? new Map(Object.entries(s.role_map)) : undefined,
      subjectClaim: s.subject_claim,
    };
  });
  const assertionMaxAgeSec = requireDuration(t.assertion_max_age, 'token_service.assertion_max_age') / 1000;
  if (assertionMaxAgeSec <= 0) throw new ConfigError('token_service.assertion_max_age', 'must be longer than 0s');
  return {
    enabled: true,
    issuer,
    tokenEndpoint: `${issuer}/oauth2/token`,
    signingKeys: t.signing_keys.length > 0 ? t.signing_keys.map((k) => resolve(baseDir, k)) : [join(keysDir, 'token-service.pem')],
    generateKey: t.signing_keys.length === 0,
    ttlSec,
    audiences: t.audiences,
    subjectIssuers,
    assertionMaxAgeSec,
    maxBodyBytes: requireSize(t.max_body, 'token_service.max_body'),
    rateLimits: {
      client: compileRate(t.rate_limits.client, 'token_service.rate_limits.client'),
      address: compileRate(t.rate_limits.address, 'token_service.rate_limits.address'),
    },
    secretCacheTtlMs: requireDuration(t.secret_cache_ttl, 'token_service.secret_cache_ttl'),
  };
}
