/**
 * Who may use the admin API. A bearer JWT from `admin.auth.issuers` whose `roles_claim` groups map
 * (through `role_map`) to gateway roles, or the break-glass token — stored only as its SHA-256 and
 * compared in constant time — which holds every role and is meant for when the IdP is down.
 */
import { ALL_ROLES, mappedRoles, type PeopleDirectory } from '../directory/people.js';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AdminRole, RuntimeConfig } from '../config/compile.js';
import { createJwtVerifier, type JwtVerifier } from '../auth/jwt-verifier.js';
import { bearerToken } from '../pipeline/authenticate.js';
import { GatewayError } from '../errors.js';
import { cookieValue, SESSION_COOKIE, sameSecret } from '../console/sessions.js';
import type { Sso } from '../console/sso.js';
import type { Session } from '../console/sessions.js';

export interface AdminPrincipal {
  readonly subject: string;
  readonly roles: ReadonlySet<AdminRole>;
  readonly breakGlass: boolean;
  readonly claims: Readonly<Record<string, unknown>>;
  /** Set when the person is signed in through admin.sso (not a bearer token). */
  readonly session?: Session;
}

export type AdminAuthenticator = (request: Pick<FastifyRequest, 'headers' | 'method'>) => Promise<AdminPrincipal>;

export function createAdminAuthenticator(config: RuntimeConfig, sso?: Sso, people?: PeopleDirectory): AdminAuthenticator {
  const admin = config.admin;
  const verify: JwtVerifier | undefined = admin.issuers.length
    ? createJwtVerifier({
        issuers: admin.issuers,
        algorithms: config.auth.algorithms,
        clockToleranceSec: config.auth.clockToleranceSec,
        maxTokenBytes: config.auth.maxTokenBytes,
        jwks: config.auth.jwks,
        maxTtlSec: admin.maxTokenTtlSec,
        types: config.auth.tokenTypes,
        requiredClaims: ['iss', 'aud', 'exp', 'iat', 'sub'],
      })
    : undefined;
  const breakGlass = admin.breakGlassSha256 ? Buffer.from(admin.breakGlassSha256, 'hex') : undefined;

  return async function authenticateAdmin(request) {
    const authorization = request.headers.authorization;
    if (authorization === undefined && sso) {
      const sid = cookieValue(request.headers.cookie, SESSION_COOKIE);
      if (sid !== undefined) return fromSession(sso, request, sid, (s) => people?.(s.subject) ?? s.roles);
    }
    const token = bearerToken(authorization);
    if (breakGlass) {
      const digest = createHash('sha256').update(token).digest();
      if (timingSafeEqual(digest, breakGlass)) return { subject: 'break-glass', roles: ALL_ROLES, breakGlass: true, claims: {} };
    }
    if (!verify) throw new GatewayError('token_issuer_unknown', 'No admin issuer is configured and the token is not the break-glass token.');
    const claims = await verify(token);
    const subject = String(claims.sub);
    const roles = people?.(subject, claims[admin.rolesClaim]) ?? rolesFromGroups(claims[admin.rolesClaim], admin.roleMap);
    return { subject, roles, breakGlass: false, claims };
  };
}

/** IdP groups (a list, or a space-separated string) → gateway roles through role_map; admin holds every role. */
export function rolesFromGroups(groups: unknown, roleMap: ReadonlyMap<string, AdminRole>): ReadonlySet<AdminRole> {
  const roles = mappedRoles(groups, roleMap);
  return roles.has('admin') ? ALL_ROLES : roles;
}

const MFA_METHODS = new Set(['mfa', 'otp', 'hwk', 'swk', 'sms', 'fido', 'face', 'fpt']);

/** Whether the sign-in behind these claims used MFA (`amr`, RFC 8176) within `maxAgeSec` (`auth_time`). */
export function recentMfa(claims: Readonly<Record<string, unknown>>, maxAgeSec: number): boolean {
  const amr = claims.amr;
  const authTime = claims.auth_time;
  return Array.isArray(amr) && amr.some((m) => typeof m === 'string' && MFA_METHODS.has(m)) && typeof authTime === 'number' && Date.now() / 1000 - authTime <= maxAgeSec;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * A signed-in person (admin.sso). State-changing requests need the session's CSRF token in
 * `X-CSRF-Token` (a cross-site form cannot set a header, and SameSite=Strict keeps the cookie home
 * anyway); the roles in `mfa_for` act only within `mfa_max_age` of an MFA sign-in.
 */
async function fromSession(sso: Sso, request: Pick<FastifyRequest, 'headers' | 'method'>, sid: string, rolesOf: (s: Session) => ReadonlySet<AdminRole>): Promise<AdminPrincipal> {
  const session = await sso.sessions.get(sid);
  if (!session) throw new GatewayError('session_invalid', 'The session has ended or is unknown: sign in again at /console/login.');
  const roles = rolesOf(session);
  if (!SAFE_METHODS.has(request.method)) {
    const csrf = request.headers['x-csrf-token'];
    if (typeof csrf !== 'string' || !sameSecret(csrf, session.csrf)) throw new GatewayError('csrf_invalid', 'A state-changing request needs the session\'s CSRF token in X-CSRF-Token.');
    if ([...roles].some((r) => sso.mfaFor.has(r)) && !sso.mfaFresh(session)) {
      throw new GatewayError('mfa_required', 'This action needs a recent sign-in with MFA: sign in again at /console/login?step_up=1.');
    }
  }
  return { subject: session.subject, roles, breakGlass: false, claims: session.claims, session };
}

declare module 'fastify' {
  interface FastifyRequest {
    admin?: AdminPrincipal;
  }
}

/** A preHandler that lets only principals holding one of `roles` through. */
export function requireRole(authenticate: AdminAuthenticator, ...roles: AdminRole[]) {
  return async function adminGuard(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
    const principal = await authenticate(request);
    if (!roles.some((r) => principal.roles.has(r))) {
      throw new GatewayError('admin_role_missing', `This endpoint needs the ${roles.join(' or ')} role.`);
    }
    request.admin = principal;
  };
}
