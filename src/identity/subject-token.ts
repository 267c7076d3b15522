/**
 * The `subject_token` of a token exchange (RFC 8693 §2.1): a user's token from a company IdP listed
 * in `token_service.subject_issuers` (delegation), or a capability token this service minted
 * (re-delegation to a sub-agent). Either way it is verified as strictly as a call's token, and what
 * the new token may carry is read from it: the user, their mapped roles, the chain of actors so far,
 * its scope, its expiry, `may_act`, and the ids of every token it descends from (cascade revocation).
 */
import type { AgentLookup } from '../directory/registry.js';
import { decodeJwt, type JWTPayload } from 'jose';
import type { RuntimeConfig } from '../config/compile.js';
import type { SubjectIssuerConfig, TokenServiceConfig } from '../config/compile-identity.js';
import { createJwtVerifier, type JwtVerifier } from '../auth/jwt-verifier.js';
import { principalFromClaims } from '../auth/principal.js';
import { isValidId } from '../auth/identifiers.js';
import { GatewayError } from '../errors.js';
import type { StateStore } from '../state/store.js';
import { OAuthError } from './oauth-errors.js';
import type { SigningKeys } from './signing-keys.js';

export const TOKEN_TYPES = {
  jwt: 'urn:ietf:params:oauth:token-type:jwt',
  idToken: 'urn:ietf:params:oauth:token-type:id_token',
  accessToken: 'urn:ietf:params:oauth:token-type:access_token',
} as const;
const ACCEPTED_TYPES = new Set<string>(Object.values(TOKEN_TYPES));

export interface Subject {
  readonly kind: 'user' | 'capability';
  /** The new token's `sub`: the user (or, re-delegating a service token, the agent it names). */
  readonly sub: string;
  readonly roles: readonly string[];
  /** The subject token's `act`, to nest under the new actor. */
  readonly act: Record<string, unknown> | undefined;
  readonly actDepth: number;
  /** Its scope, when it has one (an ID token has none). */
  readonly scopes: ReadonlySet<string> | undefined;
  readonly exp: number;
  readonly jti: string | null;
  /** This token's id and those it descends from, nearest first. */
  readonly lineage: readonly string[];
  readonly mayAct: unknown;
  readonly taskId: string | null;
  readonly issuer: string;
  readonly bound: boolean;
}

export const MAX_LINEAGE = 8;

export function createSubjectVerifier(config: RuntimeConfig, ts: TokenServiceConfig, deps: { keys: SigningKeys; state: StateStore; registry: AgentLookup }) {
  const common = {
    algorithms: config.auth.algorithms,
    clockToleranceSec: config.auth.clockToleranceSec,
    maxTokenBytes: config.auth.maxTokenBytes,
    jwks: config.auth.jwks,
  };
  const own = createJwtVerifier({
    ...common,
    issuers: [{ issuer: ts.issuer, audiences: ts.audiences, selfIssued: true }],
    keySets: new Map([[ts.issuer, deps.keys.keySet]]),
    maxTtlSec: config.auth.maxTokenTtlSec,
    requiredClaims: ['iss', 'aud', 'exp', 'iat', 'jti'],
  });
  const idps = new Map<string, { config: SubjectIssuerConfig; verify: JwtVerifier }>();
  for (const s of ts.subjectIssuers) {
    idps.set(s.issuer, { config: s, verify: createJwtVerifier({ ...common, issuers: [s], requiredClaims: ['iss', 'sub', 'exp', 'iat'], types: ['id_token', 'jwt'] }) });
  }

  async function verified(verify: JwtVerifier, token: string): Promise<JWTPayload> {
    try {
      return await verify(token);
    } catch (err) {
      const reason = err instanceof GatewayError && err.reason === 'token_expired' ? 'subject_token_expired' : 'subject_token_invalid';
      throw new OAuthError(reason, `The subject token is not acceptable: ${(err as Error).message}`);
    }
  }

  return async function verifySubject(token: string, type: string): Promise<Subject> {
    if (!ACCEPTED_TYPES.has(type)) throw new OAuthError('subject_type_mismatch', `subject_token_type must be one of ${[...ACCEPTED_TYPES].join(', ')}.`);
    let iss: unknown;
    try {
      iss = decodeJwt(token).iss;
    } catch {
      throw new OAuthError('subject_token_invalid', 'The subject token is not a JWT (opaque tokens cannot be exchanged).');
    }
    if (iss === ts.issuer) return capability(await verified(own, token));
    const idp = typeof iss === 'string' ? idps.get(iss) : undefined;
    if (!idp) throw new OAuthError('subject_issuer_untrusted', 'The subject token\'s issuer is not among token_service.subject_issuers.');
    return user(idp.config, await verified(idp.verify, token));
  };

  function capability(claims: JWTPayload): Subject {
    let p;
    try {
      p = principalFromClaims(claims);
    } catch (err) {
      throw new OAuthError('subject_token_invalid', `The subject token is not acceptable: ${(err as Error).message}`);
    }
    const lineage = [p.jti, ...parentsOf(claims)];
    for (const jti of lineage) {
      if (deps.state.isRevoked({ jti, agent: p.agentId, iat: p.iat })) throw new OAuthError('subject_token_revoked', 'The subject token (or one it was exchanged from) has been revoked.');
    }
    for (const actor of p.actors) {
      const agent = deps.registry.get(actor);
      if (!agent || agent.status !== 'active' || deps.state.isRevoked({ jti: p.jti, agent: actor, iat: p.iat })) {
        throw new OAuthError('subject_token_revoked', `Agent ${JSON.stringify(actor)} in the subject token's chain is not active or its tokens were revoked.`);
      }
    }
    if ((claims.cnf as { jkt?: unknown } | undefined)?.jkt !== undefined) {
      throw new OAuthError('subject_token_invalid', 'A sender-constrained (DPoP) token cannot be exchanged: only its holder may use it.');
    }
    return {
      kind: 'capability',
      sub: claims.sub!,
      roles: p.userRoles,
      act: claims.act as Record<string, unknown> | undefined,
      actDepth: p.userId === null ? 0 : p.actors.length,
      scopes: p.scopes,
      exp: p.exp,
      jti: p.jti,
      lineage: lineage.slice(0, MAX_LINEAGE),
      mayAct: claims.may_act,
      taskId: p.taskId,
      issuer: ts.issuer,
      bound: false,
    };
  }

  function user(idp: SubjectIssuerConfig, claims: JWTPayload): Subject {
    const sub = claims[idp.subjectClaim];
    if (!isValidId(sub)) throw new OAuthError('subject_token_invalid', `The subject token's "${idp.subjectClaim}" is not a usable user id.`);
    if (claims.act !== undefined) throw new OAuthError('subject_token_invalid', 'A user token that already names an actor cannot be exchanged here.');
    const jti = typeof claims.jti === 'string' && isValidId(claims.jti) ? claims.jti : null;
    if (jti !== null && deps.state.isRevoked({ jti, agent: '', iat: claims.iat! })) throw new OAuthError('subject_token_revoked', 'The subject token has been revoked.');
    return {
      kind: 'user',
      sub: sub as string,
      roles: mapRoles(claims[idp.rolesClaim], idp.roleMap),
      act: undefined,
      actDepth: 0,
      scopes: typeof claims.scope === 'string' ? new Set(claims.scope.split(' ').filter(Boolean)) : undefined,
      exp: claims.exp!,
      jti,
      lineage: jti === null ? [] : [jti],
      mayAct: claims.may_act,
      taskId: null,
      issuer: idp.issuer,
      bound: false,
    };
  }
}

function parentsOf(claims: JWTPayload): string[] {
  const parents = claims.parents;
  return Array.isArray(parents) ? parents.filter((j): j is string => isValidId(j)).slice(0, MAX_LINEAGE) : [];
}

/** A user's roles from an IdP claim (groups), through the issuer's role_map when it has one. */
export function mapRoles(value: unknown, roleMap: ReadonlyMap<string, string> | undefined): string[] {
  const groups = typeof value === 'string' ? value.split(' ') : Array.isArray(value) ? value.filter((g): g is string => typeof g === 'string') : [];
  const roles = roleMap ? groups.flatMap((g) => (roleMap.has(g) ? [roleMap.get(g)!] : [])) : groups;
  return [...new Set(roles.filter(Boolean))].sort();
}

/** RFC 8693 §4.4: `may_act` (an object, or a list of them) must name the acting agent. */
export function mayActAllows(mayAct: unknown, agent: string, issuer: string): boolean {
  if (mayAct === undefined) return true;
  const list = Array.isArray(mayAct) ? mayAct : [mayAct];
  return list.some((m) => typeof m === 'object' && m !== null && (m as { sub?: unknown }).sub === agent && ((m as { iss?: unknown }).iss === undefined || (m as { iss?: unknown }).iss === issuer));
}
