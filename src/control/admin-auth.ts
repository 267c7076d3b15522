/**
 * Who may use the admin API. A bearer JWT from `admin.auth.issuers` whose `roles_claim` groups map
 * (through `role_map`) to gateway roles, or the break-glass token — stored only as its SHA-256 and
 * compared in constant time — which holds every role and is meant for when the IdP is down.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AdminRole, RuntimeConfig } from '../config/compile.js';
import { createJwtVerifier, type JwtVerifier } from '../auth/jwt-verifier.js';
import { bearerToken } from '../pipeline/authenticate.js';
import { GatewayError } from '../errors.js';

export interface AdminPrincipal {
  readonly subject: string;
  readonly roles: ReadonlySet<AdminRole>;
  readonly breakGlass: boolean;
  readonly claims: Readonly<Record<string, unknown>>;
}

export type AdminAuthenticator = (authorization: string | undefined) => Promise<AdminPrincipal>;

const ALL_ROLES: ReadonlySet<AdminRole> = new Set(['operator', 'approver', 'auditor', 'admin']);

export function createAdminAuthenticator(config: RuntimeConfig): AdminAuthenticator {
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

  return async function authenticateAdmin(authorization) {
    const token = bearerToken(authorization);
    if (breakGlass) {
      const digest = createHash('sha256').update(token).digest();
      if (timingSafeEqual(digest, breakGlass)) return { subject: 'break-glass', roles: ALL_ROLES, breakGlass: true, claims: {} };
    }
    if (!verify) throw new GatewayError('token_issuer_unknown', 'No admin issuer is configured and the token is not the break-glass token.');
    const claims = await verify(token);
    const roles = new Set<AdminRole>();
    const groups = claims[admin.rolesClaim];
    for (const g of typeof groups === 'string' ? groups.split(' ') : Array.isArray(groups) ? groups : []) {
      const role = typeof g === 'string' ? admin.roleMap.get(g) : undefined;
      if (role) roles.add(role);
    }
    // The admin role holds every other role.
    const effective = roles.has('admin') ? ALL_ROLES : roles;
    return { subject: String(claims.sub), roles: effective, breakGlass: false, claims };
  };
}

declare module 'fastify' {
  interface FastifyRequest {
    admin?: AdminPrincipal;
  }
}

/** A preHandler that lets only principals holding one of `roles` through. */
export function requireRole(authenticate: AdminAuthenticator, ...roles: AdminRole[]) {
  return async function adminGuard(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
    const principal = await authenticate(request.headers.authorization);
    if (!roles.some((r) => principal.roles.has(r))) {
      throw new GatewayError('admin_role_missing', `This endpoint needs the ${roles.join(' or ')} role.`);
    }
    request.admin = principal;
  };
}
