/**
 * The grants of a client acting for a person (SPEC "MCP: authorization for MCP hosts"):
 * `authorization_code` with PKCE (S256) redeems what the person consented to, and `refresh_token`
 * renews it, rotating the refresh token each time. The client is public (an MCP host cannot keep a
 * secret): it names itself with `client_id`, and PKCE binds the code to the one that asked for it.
 * Tokens carry `sub` = the person, `act.sub` = the client's agent, the person's roles, and their
 * family in `parents` (grant-tokens.ts).
 */
import { createHash, randomUUID } from 'node:crypto';
import type { AgentEntry, RuntimeConfig } from '../config/compile.js';
import type { TokenServiceConfig } from '../config/compile-identity.js';
import type { AuthorizationCodeConfig, OAuthClientConfig } from '../config/compile-oauth-clients.js';
import type { AgentLookup } from '../directory/registry.js';
import type { StateStore } from '../state/store.js';
import { isToolResource } from './authorize-request.js';
import { claimOnce } from './client-auth.js';
import type { ClientResolver } from './client-metadata.js';
import type { GrantTokens, PersonGrant } from './grant-tokens.js';
import type { Minted } from './grants.js';
import { OAuthError } from './oauth-errors.js';
import { parseRequestedScope } from './scopes.js';
import { required, type TokenForm } from './token-form.js';

/** RFC 7636 §4.1: 43 to 128 unreserved characters. */
const VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;

export interface PersonMinted extends Minted {
  readonly client: OAuthClientConfig;
  readonly agent: AgentEntry;
  readonly refreshToken: string;
}

export function createPersonGrants(config: RuntimeConfig, ts: TokenServiceConfig, ac: AuthorizationCodeConfig, deps: { state: StateStore; registry: AgentLookup; tokens: GrantTokens; clients: ClientResolver }) {
  /** The client by its id: registered, or named by an allowed metadata document URL (its code binds it; nothing is fetched here). */
  function clientOf(form: TokenForm, authorization: string | undefined): OAuthClientConfig {
    const id = required(form, 'client_id');
    const docs = ac.metadataDocuments;
    const client = ac.clients.get(id) ?? (deps.clients.known(id) && docs ? { id, name: id, agent: docs.agent, redirectUris: new Set<string>(), scopes: null } : undefined);
    if (!client) throw new OAuthError('client_unknown', 'The client is not one of oauth_clients, nor an allowed client ID metadata document URL.');
    if (form.has('client_secret') || form.has('client_assertion') || authorization !== undefined) {
      throw new OAuthError('client_method_not_allowed', `Client ${JSON.stringify(client.id)} is public: it authenticates with PKCE, never a secret.`);
    }
    return client;
  }

  function agentOf(client: OAuthClientConfig, person: string): AgentEntry {
    const agent = deps.registry.get(client.agent);
    if (!agent || agent.status !== 'active') throw new OAuthError('client_inactive', `Agent ${JSON.stringify(client.agent)}, which client ${JSON.stringify(client.id)} acts as, is not active.`);
    if (deps.state.killFor({ agent: agent.id, user: null, tool: undefined })) throw new OAuthError('client_killed', `The kill switch stops agent ${JSON.stringify(agent.id)}.`);
    if (deps.state.killFor({ agent: agent.id, user: person, tool: undefined })) throw new OAuthError('subject_killed', 'The kill switch stops calls for this person.');
    return agent;
  }

  /** Single use across replicas; a second use means the code or token leaked, so its whole family is revoked. */
  async function useOnce(kind: string, jti: string, grant: PersonGrant): Promise<void> {
    if (await claimOnce(deps.state, `${kind}:${jti}`, (grant.fam_exp + 60) * 1000 - Date.now())) return;
    await deps.state.addRevocation({ kind: 'jti', jti: grant.fam, until: grant.fam_exp * 1000 + 60_000, by: 'token-service', reason: `${kind} presented twice` });
    throw new OAuthError('grant_replayed', `This ${kind === 'code' ? 'authorization code' : 'refresh token'} was used before; every token issued from it is now revoked.`);
  }

  function mint(client: OAuthClientConfig, grant: PersonGrant, scope: string): PersonMinted {
    const agent = agentOf(client, grant.sub);
    const now = Math.floor(Date.now() / 1000);
    const ttl = Math.min(ts.ttlSec, agent.maxTokenTtlSec ?? ts.ttlSec, grant.fam_exp - now);
    if (ttl <= 0) throw new OAuthError('grant_expired', 'The sign-in this grant came from has ended; sign in again.');
    const claims: Record<string, unknown> = {
      iss: ts.issuer,
      aud: ts.audiences[0],
      iat: now,
      exp: now + ttl,
      jti: randomUUID(),
      client_id: client.id,
      scope,
      sub: grant.sub,
      act: { sub: agent.id },
      parents: [grant.fam],
    };
    if (grant.roles.length > 0) claims.roles = [...grant.roles];
    const refreshToken = deps.tokens.refresh({ ...grant, scope });
    return { claims, scopes: scope.split(' '), requested: null, expiresIn: ttl, client, agent, refreshToken };
  }

  /** RFC 8707: the resource, when named, is one of this service's (an MCP tool, or an audience). */
  function checkResource(form: TokenForm): void {
    const r = form.get('resource');
    if (r !== undefined && !ts.audiences.includes(r) && !isToolResource(r, ts.issuer, config)) throw new OAuthError('resource_unknown', `This service issues tokens for its tools, not ${JSON.stringify(r.slice(0, 128))}.`);
  }

  async function authorizationCode(form: TokenForm, authorization: string | undefined): Promise<PersonMinted> {
    const client = clientOf(form, authorization);
    checkResource(form);
    const code = await deps.tokens.verifyCode(required(form, 'code'));
    if (code.client_id !== client.id) throw new OAuthError('grant_client_mismatch', 'The authorization code was issued to another client.');
    if (required(form, 'redirect_uri') !== code.redirect_uri) throw new OAuthError('redirect_uri_mismatch', 'redirect_uri differs from the one the code was requested with.');
    const verifier = required(form, 'code_verifier');
    if (!VERIFIER.test(verifier) || createHash('sha256').update(verifier).digest('base64url') !== code.code_challenge) {
      throw new OAuthError('pkce_mismatch', 'code_verifier does not match the code_challenge (S256).');
    }
    await useOnce('code', code.jti, code);
    return mint(client, code, code.scope);
  }

  async function refreshToken(form: TokenForm, authorization: string | undefined): Promise<PersonMinted> {
    const client = clientOf(form, authorization);
    checkResource(form);
    const rt = await deps.tokens.verifyRefresh(required(form, 'refresh_token'));
    if (rt.client_id !== client.id) throw new OAuthError('grant_client_mismatch', 'The refresh token was issued to another client.');
    if (deps.state.isRevoked({ jti: rt.fam, agent: rt.agent, iat: rt.iat })) throw new OAuthError('grant_revoked', 'This grant was revoked; sign in again.');
    // RFC 6749 §6: a narrower scope may be asked for; never a wider one.
    const asked = parseRequestedScope(form.get('scope'), config.tools);
    const granted = new Set(rt.scope.split(' '));
    if (asked?.some((s) => !granted.has(s))) throw new OAuthError('scope_widened', 'A refresh may narrow the scope, never widen it.');
    await useOnce('refresh', rt.jti, rt);
    return mint(client, rt, asked ? asked.join(' ') : rt.scope);
  }

  return { authorizationCode, refreshToken };
}

export type PersonGrants = ReturnType<typeof createPersonGrants>;
