/** admin.sso compiled: durations in ms, the roles that need MFA as a set, the redirect URI if fixed. */
import { requireDuration } from './units.js';
import { requireSecureUrl } from './compile-identity.js';
import { ConfigError } from './load.js';
import type { RawConfig } from './schema.js';
import type { AdminRole } from './compile.js';

export interface SsoConfig {
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret?: string;
  readonly rolesClaim: string;
  readonly mfaFor: ReadonlySet<AdminRole>;
  readonly mfaMaxAgeSec: number;
  readonly sessionTtlMs: number;
  readonly redirectUri?: string;
  readonly scopes: string;
}

/** The development IdP's client (dev.sso); its secret guards nothing real. */
export const DEV_SSO_CLIENT = { id: 'portcullis-console', secret: 'dev-console-secret' } as const;

export function compileSso(raw: RawConfig): SsoConfig | undefined {
  const s = raw.admin.sso;
  if (!s && raw.dev.sso) {
    return {
      issuer: `http://127.0.0.1:${raw.dev.sso_port}`,
      clientId: DEV_SSO_CLIENT.id,
      clientSecret: DEV_SSO_CLIENT.secret,
      rolesClaim: raw.admin.auth.roles_claim,
      mfaFor: new Set(['approver', 'operator', 'admin']),
      mfaMaxAgeSec: 900,
      sessionTtlMs: 8 * 3_600_000,
      scopes: 'openid email profile groups',
    };
  }
  if (!s) return undefined;
  requireSecureUrl(s.issuer, 'admin.sso.issuer');
  if (s.redirect_uri) requireSecureUrl(s.redirect_uri, 'admin.sso.redirect_uri');
  const sessionTtlMs = requireDuration(s.session_ttl, 'admin.sso.session_ttl');
  if (sessionTtlMs <= 0) throw new ConfigError('admin.sso.session_ttl', 'must be longer than 0s');
  if (!s.scopes.split(' ').includes('openid')) throw new ConfigError('admin.sso.scopes', 'must include openid');
  return {
    issuer: s.issuer,
    clientId: s.client_id,
    clientSecret: s.client_secret,
    rolesClaim: s.roles_claim ?? raw.admin.auth.roles_claim,
    mfaFor: new Set(s.mfa_for),
    mfaMaxAgeSec: requireDuration(s.mfa_max_age, 'admin.sso.mfa_max_age') / 1000,
    sessionTtlMs,
    redirectUri: s.redirect_uri,
    scopes: s.scopes,
  };
}
