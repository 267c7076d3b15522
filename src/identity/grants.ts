/**
 * The two grants, as claims of the token to mint (SPEC "Token service"):
 * - client_credentials: the agent acting as itself (`sub` = the agent), scope within its ceiling;
 * - token exchange (RFC 8693): the agent acting for the subject token's user, `act` naming it with
 *   every earlier actor nested inside, scope within the subject's and the agent's, expiry never
 *   past the subject's, and `parents` listing the tokens it descends from (cascade revocation).
 */
import { randomUUID } from 'node:crypto';
import type { RuntimeConfig } from '../config/compile.js';
import type { TokenServiceConfig } from '../config/compile-identity.js';
import { isValidId } from '../auth/identifiers.js';
import type { AuthenticatedClient } from './client-auth.js';
import { OAuthError } from './oauth-errors.js';
import { grantScopes, parseRequestedScope, type ScopeLimit } from './scopes.js';
import { MAX_LINEAGE, mayActAllows, type Subject } from './subject-token.js';
import type { TokenForm } from './token-form.js';

export const GRANTS = {
  clientCredentials: 'client_credentials',
  tokenExchange: 'urn:ietf:params:oauth:grant-type:token-exchange',
  authorizationCode: 'authorization_code',
  refreshToken: 'refresh_token',
} as const;

export interface Minted {
  readonly claims: Record<string, unknown>;
  readonly scopes: readonly string[];
  readonly requested: readonly string[] | null;
  readonly expiresIn: number;
}

const MAX_ACTORS = 8;

export function createGrants(config: RuntimeConfig, ts: TokenServiceConfig) {
  function audience(form: TokenForm): string {
    // RFC 8707 `resource` and RFC 8693 `audience` both name where the token will be used.
    const resource = form.get('resource') ?? form.get('audience');
    if (resource === undefined) return ts.audiences[0]!;
    if (!ts.audiences.includes(resource)) throw new OAuthError('resource_unknown', `This service issues tokens for ${ts.audiences.map((a) => JSON.stringify(a)).join(', ')}, not ${JSON.stringify(resource.slice(0, 128))}.`);
    return resource;
  }

  function taskId(form: TokenForm, inherited: string | null): string | null {
    const t = form.get('task_id');
    if (t === undefined) return inherited;
    if (!isValidId(t)) throw new OAuthError('parameter_invalid', 'task_id must be 1 to 256 characters without control characters.');
    return t;
  }

  function ceiling(client: AuthenticatedClient): ScopeLimit {
    return { scopes: new Set(client.agent.scopes), reason: 'scope_beyond_ceiling', what: `agent ${client.agent.id}'s scopes` };
  }

  function base(client: AuthenticatedClient, form: TokenForm, scopes: readonly string[], now: number, exp: number, task: string | null, jkt: string | null): Record<string, unknown> {
    const claims: Record<string, unknown> = {
      iss: ts.issuer,
      aud: audience(form),
      iat: now,
      exp,
      jti: randomUUID(),
      client_id: client.agent.id,
      scope: scopes.join(' '),
    };
    if (task !== null) claims.task_id = task;
    if (jkt !== null) claims.cnf = { jkt };
    return claims;
  }

  /** The token service's lifetime, or the agent's registry `maxTokenTtl` when that is shorter. */
  const ttlFor = (client: AuthenticatedClient) => Math.min(ts.ttlSec, client.agent.maxTokenTtlSec ?? ts.ttlSec);

  function clientCredentials(client: AuthenticatedClient, form: TokenForm, jkt: string | null): Minted {
    const requested = parseRequestedScope(form.get('scope'), config.tools);
    const scopes = grantScopes(requested, [ceiling(client)]);
    const now = Math.floor(Date.now() / 1000);
    const ttl = ttlFor(client);
    const claims = { ...base(client, form, scopes, now, now + ttl, taskId(form, null), jkt), sub: client.agent.id };
    return { claims, scopes, requested: requested ?? null, expiresIn: ttl };
  }

  function exchange(client: AuthenticatedClient, form: TokenForm, subject: Subject, jkt: string | null): Minted {
    const agent = client.agent.id;
    if (!mayActAllows(subject.mayAct, agent, ts.issuer)) throw new OAuthError('may_act_refused', `The subject token's may_act does not name agent ${JSON.stringify(agent)}.`);
    if (subject.actDepth + 1 > MAX_ACTORS) throw new OAuthError('delegation_too_deep', `A delegation chain may name at most ${MAX_ACTORS} agents.`);
    const requested = parseRequestedScope(form.get('scope'), config.tools);
    const limits: ScopeLimit[] = [ceiling(client)];
    if (subject.scopes) limits.push({ scopes: subject.scopes, reason: 'scope_widened', what: "the subject token's scope" });
    const scopes = grantScopes(requested, limits);
    const now = Math.floor(Date.now() / 1000);
    const exp = Math.min(now + ttlFor(client), subject.exp);
    if (exp <= now) throw new OAuthError('subject_token_expired', 'The subject token expires now; a token exchanged from it would already be expired.');
    const claims: Record<string, unknown> = {
      ...base(client, form, scopes, now, exp, taskId(form, subject.taskId), jkt),
      sub: subject.sub,
      act: subject.act ? { sub: agent, act: subject.act } : { sub: agent },
    };
    if (subject.roles.length > 0) claims.roles = subject.roles;
    if (subject.lineage.length > 0) claims.parents = subject.lineage.slice(0, MAX_LINEAGE);
    return { claims, scopes, requested: requested ?? null, expiresIn: exp - now };
  }

  return { clientCredentials, exchange };
}
