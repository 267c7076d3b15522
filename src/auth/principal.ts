/**
 * Verified claims → who is acting. Service-account token: `sub` is the agent. Delegated token
 * (RFC 8693 §4.1): `sub` is the user and `act.sub` the agent presenting the call; a nested `act`
 * records earlier actors. `delegation` lists the chain outermost first: [agent, …earlier actors, user].
 * The agent's roles come from the registry, never from the token.
 */
import type { JWTPayload } from 'jose';
import { GatewayError } from '../errors.js';
import { isValidId, MAX_ID_LENGTH } from './identifiers.js';

export interface Principal {
  readonly agentId: string;
  /** The delegating user, or null for a service-account token. */
  readonly userId: string | null;
  readonly userRoles: readonly string[];
  /** The user's classification clearance, when the token carries a `clearance` claim. */
  readonly userClearance: string | null;
  readonly delegation: readonly string[];
  /** Every agent of the chain, the presenting one first: each must be registered, active, not killed or revoked. */
  readonly actors: readonly string[];
  readonly scopes: ReadonlySet<string>;
  readonly jti: string;
  readonly issuer: string;
  readonly iat: number;
  readonly exp: number;
  readonly taskId: string | null;
  /** The agent software's version (`agent_version` claim), for the trust score's posture. */
  readonly agentVersion: string | null;
  /** Ids of the tokens this one was exchanged from, nearest first (`parents`): revoking any refuses it. */
  readonly parents: readonly string[];
  /** The DPoP key thumbprint the token is bound to (`cnf.jkt`, RFC 9449 §6.1), or null for a bearer token. */
  readonly jkt: string | null;
}

const MAX_CHAIN = 8;

export function principalFromClaims(claims: JWTPayload): Principal {
  const sub = claims.sub;
  if (typeof sub !== 'string' || sub === '') throw new GatewayError('token_claim_missing', 'The token lacks a "sub" claim.');
  checkId(sub, 'sub');
  checkId(claims.jti, 'jti');
  const actors: string[] = [];
  let act: unknown = claims.act;
  while (act !== undefined) {
    if (typeof act !== 'object' || act === null || typeof (act as { sub?: unknown }).sub !== 'string') {
      throw new GatewayError('token_claim_invalid', 'The token\'s "act" claim must be an object with a string "sub".');
    }
    if (actors.length >= MAX_CHAIN) throw new GatewayError('token_claim_invalid', `The delegation chain is longer than ${MAX_CHAIN}.`);
    const actor = (act as { sub: string }).sub;
    checkId(actor, 'act.sub');
    actors.push(actor);
    act = (act as { act?: unknown }).act;
  }
  const delegated = actors.length > 0;
  return {
    agentId: delegated ? actors[0]! : sub,
    userId: delegated ? sub : null,
    userRoles: delegated ? stringList(claims.roles, 'roles') : [],
    userClearance: delegated && typeof claims.clearance === 'string' ? claims.clearance : null,
    delegation: delegated ? [...actors, sub] : [sub],
    actors: delegated ? actors : [sub],
    scopes: new Set(scopeList(claims.scope)),
    jti: claims.jti as string,
    issuer: claims.iss as string,
    iat: claims.iat as number,
    exp: claims.exp as number,
    taskId: typeof claims.task_id === 'string' ? claims.task_id : null,
    agentVersion: typeof claims.agent_version === 'string' ? claims.agent_version.slice(0, 128) : null,
    parents: parentList(claims.parents),
    jkt: boundKey(claims.cnf),
  };
}

function parentList(v: unknown): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.length > MAX_CHAIN || !v.every((j) => isValidId(j))) {
    throw new GatewayError('token_claim_invalid', `The token's "parents" claim must be a list of at most ${MAX_CHAIN} token ids.`);
  }
  return v as string[];
}

function boundKey(cnf: unknown): string | null {
  if (cnf === undefined) return null;
  const jkt = (cnf as { jkt?: unknown } | null)?.jkt;
  // A confirmation this gateway cannot check (x5t#S256, jwk) must not be ignored: refuse it.
  if (typeof jkt !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(jkt)) throw new GatewayError('token_claim_invalid', 'The token\'s "cnf" claim must carry a DPoP "jkt" (RFC 9449).');
  return jkt;
}

function checkId(v: unknown, claim: string): void {
  if (!isValidId(v)) {
    throw new GatewayError('token_claim_invalid', `The token's "${claim}" must be 1 to ${MAX_ID_LENGTH} characters without control characters.`);
  }
}

function scopeList(scope: unknown): string[] {
  if (scope === undefined) return [];
  if (typeof scope === 'string') return scope.split(' ').filter(Boolean);
  if (Array.isArray(scope) && scope.every((s) => typeof s === 'string')) return scope;
  throw new GatewayError('token_claim_invalid', 'The token\'s "scope" claim must be a space-separated string.');
}

function stringList(v: unknown, claim: string): string[] {
  if (v === undefined) return [];
  if (Array.isArray(v) && v.every((s) => typeof s === 'string')) return v;
  throw new GatewayError('token_claim_invalid', `The token's "${claim}" claim must be a list of strings.`);
}

/** Whether the token's scopes cover `tool:action` (or `tool:*`). */
export function hasScope(p: Principal, tool: string, scope: string): boolean {
  return p.scopes.has(scope) || p.scopes.has(`${tool}:*`);
}

/** Whether the token names the tool at all (any `tool:<action>`): what MCP control messages need. */
export function namesTool(p: Principal, tool: string): boolean {
  const prefix = `${tool}:`;
  for (const s of p.scopes) if (s.startsWith(prefix)) return true;
  return false;
}
