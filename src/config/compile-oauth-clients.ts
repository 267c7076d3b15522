/**
 * oauth_clients compiled: applications (MCP hosts) that obtain tokens for a person through the
 * authorization code flow with PKCE. Each acts as one registered agent, may ask for at most its
 * scopes, and is redirected only to the URIs listed here, compared exactly.
 */
import { ConfigError } from './load.js';
import { requireDuration } from './units.js';
import type { RawConfig } from './schema.js';
import type { TokenServiceConfig } from './compile-identity.js';
import { uriPattern } from '../mcp/resource-uri.js';

export interface OAuthClientConfig {
  readonly id: string;
  readonly name: string;
  readonly agent: string;
  readonly redirectUris: ReadonlySet<string>;
  /** The most the client may ask for; null: the agent's scopes. */
  readonly scopes: readonly string[] | null;
}

export interface AuthorizationCodeConfig {
  readonly codeTtlSec: number;
  readonly refreshTtlSec: number;
  readonly clients: ReadonlyMap<string, OAuthClientConfig>;
  /** Clients named by a Client ID Metadata Document URL: which URLs may be fetched, and the agent they act as. */
  readonly metadataDocuments?: { readonly agent: string; readonly allow: readonly RegExp[]; readonly cacheTtlMs: number };
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Checks a redirect URI the way oauth_clients' are checked (also for those of metadata documents). */
export function redirectUriProblem(uri: string): string | undefined {
  try {
    redirectUri(uri, '');
    return undefined;
  } catch (err) {
    return (err as ConfigError).problem;
  }
}

export function compileOAuthClients(raw: RawConfig, ts: TokenServiceConfig | undefined, people: boolean): AuthorizationCodeConfig | undefined {
  const entries = Object.entries(raw.oauth_clients);
  const documents = raw.token_service.authorization_code.client_metadata_documents;
  if (entries.length === 0 && !documents) return undefined;
  if (!ts) throw new ConfigError('oauth_clients', 'needs token_service.enabled: the token service issues their tokens');
  if (!people) throw new ConfigError('oauth_clients', 'needs admin.sso (or dev.sso): the person a client acts for signs in there to consent');
  const clients = new Map<string, OAuthClientConfig>();
  for (const [id, c] of entries) {
    const at = `oauth_clients.${id}`;
    if (id in raw.agents) throw new ConfigError(at, `is also an agent id; a client and an agent share the token endpoint's client_id namespace`);
    const agent = raw.agents[c.agent];
    if (!agent) throw new ConfigError(`${at}.agent`, `names ${JSON.stringify(c.agent)}, which is not in agents`);
    for (const [i, uri] of c.redirect_uris.entries()) redirectUri(uri, `${at}.redirect_uris.${i}`);
    for (const [i, scope] of (c.scopes ?? []).entries()) {
      if (!(scope.split(':')[0]! in raw.tools)) throw new ConfigError(`${at}.scopes.${i}`, `names tool ${JSON.stringify(scope.split(':')[0])}, which is not in tools`);
    }
    clients.set(id, { id, name: c.name ?? id, agent: c.agent, redirectUris: new Set(c.redirect_uris), scopes: c.scopes ?? null });
  }
  const a = raw.token_service.authorization_code;
  const codeTtlSec = requireDuration(a.code_ttl, 'token_service.authorization_code.code_ttl') / 1000;
  if (codeTtlSec <= 0 || codeTtlSec > 600) throw new ConfigError('token_service.authorization_code.code_ttl', 'must be between 1s and 10m (RFC 6749 §4.1.2)');
  const refreshTtlSec = requireDuration(a.refresh_ttl, 'token_service.authorization_code.refresh_ttl') / 1000;
  if (refreshTtlSec < ts.ttlSec) throw new ConfigError('token_service.authorization_code.refresh_ttl', 'must be at least token_service.ttl');
  let metadataDocuments: AuthorizationCodeConfig['metadataDocuments'];
  if (documents) {
    const at = 'token_service.authorization_code.client_metadata_documents';
    if (!raw.agents[documents.agent]) throw new ConfigError(`${at}.agent`, `names ${JSON.stringify(documents.agent)}, which is not in agents`);
    const allow = documents.allow.map((pattern, i) => {
      const u = URL.canParse(pattern.replaceAll('*', 'x')) ? new URL(pattern.replaceAll('*', 'x')) : undefined;
      if (!u || (u.protocol === 'http:' && !LOOPBACK.has(u.hostname))) throw new ConfigError(`${at}.allow.${i}`, 'must be an https:// URL pattern (http:// only on loopback)');
      // The gateway fetches these URLs: only from hosts an operator named, never a host pattern.
      if ((pattern.split('/')[2] ?? '').includes('*')) throw new ConfigError(`${at}.allow.${i}`, 'must name its host exactly (no *): the gateway fetches only from hosts you chose');
      if (u.pathname === '/') throw new ConfigError(`${at}.allow.${i}`, 'must have a path: a client ID metadata document URL has one');
      return uriPattern(pattern);
    });
    metadataDocuments = { agent: documents.agent, allow, cacheTtlMs: requireDuration(documents.cache_ttl, `${at}.cache_ttl`) };
  }
  return { codeTtlSec, refreshTtlSec, clients, metadataDocuments };
}

/** An absolute redirect URI without a fragment: https, http on loopback, or an app's private scheme (RFC 8252 §7.1). */
function redirectUri(uri: string, at: string): void {
  const u = URL.canParse(uri) ? new URL(uri) : undefined;
  if (!u) throw new ConfigError(at, `is not an absolute URI (got ${JSON.stringify(uri)})`);
  if (u.hash || uri.includes('#')) throw new ConfigError(at, 'must not carry a fragment (RFC 6749 §3.1.2)');
  if (u.protocol === 'https:') return;
  if (u.protocol === 'http:') {
    if (!LOOPBACK.has(u.hostname)) throw new ConfigError(at, 'must use https:// (http:// only on loopback, RFC 8252 §7.3)');
    return;
  }
  if (!/^[a-z][a-z0-9+-]*(\.[a-z0-9+-]+)+:$/.test(u.protocol)) {
    throw new ConfigError(at, 'must be https, http on loopback, or a private-use scheme in reverse-domain form (com.example.app:/callback, RFC 8252 §7.1)');
  }
}
