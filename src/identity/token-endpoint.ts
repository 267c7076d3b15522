/**
 * `POST /oauth2/token` (RFC 6749 §3.2): rate limits (per source address, then per client), the form,
 * client authentication, an optional DPoP proof (RFC 9449 §5), the grant, the signature. Every
 * answer waits for its audit event (`token_issued` or `token_refused`) to be handed to the OS, like
 * every proxied call; the event names the client, grant, scopes and the new token's `jti`, never the
 * token, the assertion or a secret.
 */
import type { AgentLookup } from '../directory/registry.js';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AgentEntry, RuntimeConfig } from '../config/compile.js';
import type { PersonGrants } from './person-grants.js';
import type { TokenServiceConfig } from '../config/compile-identity.js';
import type { RateRule } from '../config/compile-trust.js';
import { isValidId } from '../auth/identifiers.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { AuditPort } from '../pipeline/context.js';
import type { StateStore } from '../state/store.js';
import { basicCredentials, claimOnce, createClientAuthenticator, type AuthenticatedClient } from './client-auth.js';
import { createSecretVerifier } from './client-secrets.js';
import { createDpopVerifier, DpopError, replayWindowMs } from './dpop.js';
import { createGrants, GRANTS, type Minted } from './grants.js';
import { OAuthError, type TokenReason } from './oauth-errors.js';
import type { SigningKeys } from './signing-keys.js';
import { createSubjectVerifier, TOKEN_TYPES } from './subject-token.js';
import { readTokenForm, required, type TokenForm } from './token-form.js';

export interface TokenEndpointDeps {
  /** The person grants (authorization_code, refresh_token), when oauth_clients are configured. */
  readonly person?: PersonGrants;
  readonly state: StateStore;
  readonly audit: AuditPort;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly keys: SigningKeys;
  readonly registry: AgentLookup;
}

export function createTokenEndpoint(config: RuntimeConfig, ts: TokenServiceConfig, deps: TokenEndpointDeps) {
  const authenticateClient = createClientAuthenticator(config, ts, { state: deps.state, registry: deps.registry, secrets: createSecretVerifier({ cacheTtlMs: ts.secretCacheTtlMs }) });
  const verifySubject = createSubjectVerifier(config, ts, deps);
  const grants = createGrants(config, ts);
  const verifyProof = createDpopVerifier({ algorithms: config.auth.algorithms, clockToleranceSec: config.auth.clockToleranceSec, maxBytes: config.auth.maxTokenBytes });
  const endpoint = { method: 'POST', url: ts.tokenEndpoint };
  const supported = [GRANTS.clientCredentials, GRANTS.tokenExchange, ...(deps.person ? [GRANTS.authorizationCode, GRANTS.refreshToken] : [])];

  async function limit(key: string, rule: RateRule, reason: TokenReason): Promise<void> {
    const r = await deps.state.takeRate([{ key, rule }]);
    if (r.ok) return;
    const seconds = Math.max(1, Math.ceil(r.retryAfterMs / 1000));
    throw new OAuthError(reason, `Too many token requests (${rule.rate}, burst ${rule.burst}); retry in ${seconds}s.`, { 'retry-after': String(seconds) });
  }

  async function proofKey(request: FastifyRequest, client: AuthenticatedClient): Promise<string | null> {
    const proofs = request.raw.headersDistinct.dpop;
    if (proofs === undefined) {
      if (client.agent.requireDpop) throw new OAuthError('dpop_required', `Agent ${JSON.stringify(client.agent.id)} may only obtain DPoP-bound tokens: send a DPoP proof.`);
      return null;
    }
    if (proofs.length !== 1) throw new OAuthError('dpop_proof_invalid', 'Send exactly one DPoP header.');
    let proof;
    try {
      proof = verifyProof(proofs[0]!, endpoint);
    } catch (err) {
      if (err instanceof DpopError) throw new OAuthError('dpop_proof_invalid', err.message);
      throw err;
    }
    if (!(await claimOnce(deps.state, `dpop:${proof.jkt}:${proof.jti}`, replayWindowMs(config.auth.clockToleranceSec)))) {
      throw new OAuthError('dpop_proof_replayed', 'This DPoP proof was used before; make a new one per request.');
    }
    return proof.jkt;
  }

  async function mint(request: FastifyRequest, form: TokenForm, grant: string, client: AuthenticatedClient): Promise<{ minted: Minted; subjectIssuer: string | null }> {
    // A stopped agent gets nothing new to hold (its calls would be refused anyway).
    if (deps.state.killFor({ agent: client.agent.id, user: null, tool: undefined })) throw new OAuthError('client_killed', `The kill switch stops agent ${JSON.stringify(client.agent.id)}.`);
    const jkt = await proofKey(request, client);
    if (grant === GRANTS.clientCredentials) return { minted: grants.clientCredentials(client, form, jkt), subjectIssuer: null };
    const subject = await verifySubject(required(form, 'subject_token'), required(form, 'subject_token_type'));
    if (form.has('actor_token')) throw new OAuthError('parameter_invalid', 'actor_token is not supported: the authenticated client is the actor.');
    const minted = grants.exchange(client, form, subject, jkt);
    const act = [...actorsOf(minted.claims.act)];
    for (const agent of act.slice(1)) {
      if (deps.state.killFor({ agent, user: null, tool: undefined })) throw new OAuthError('subject_killed', `The kill switch stops agent ${JSON.stringify(agent)} of the delegation chain.`);
    }
    if (act.length > 0 && deps.state.killFor({ agent: client.agent.id, user: minted.claims.sub as string, tool: undefined })) {
      throw new OAuthError('subject_killed', 'The kill switch stops calls for this user.');
    }
    return { minted, subjectIssuer: subject.issuer };
  }

  return async function token(request: FastifyRequest, reply: FastifyReply) {
    const ip = request.raw.socket.remoteAddress ?? '';
    let form: TokenForm | undefined;
    let grant: string | undefined;
    let client: AuthenticatedClient | undefined;
    try {
      if (!deps.audit.healthy()) throw new OAuthError('audit_unavailable', 'The audit log cannot be written, so no token is issued.');
      // Kills and revocations decide what may be minted: a snapshot that cannot be vouched for mints nothing.
      if (!deps.state.healthy()) throw new OAuthError('state_unavailable', 'Kills and revocations cannot be confirmed right now; retry shortly.');
      await limit(`ts:i:${ip}`, ts.rateLimits.address, 'rate_limited_address');
      form = await readTokenForm(request.raw, ts.maxBodyBytes);
      grant = required(form, 'grant_type');
      const personGrant = grant === GRANTS.authorizationCode || grant === GRANTS.refreshToken;
      if (!(grant === GRANTS.clientCredentials || grant === GRANTS.tokenExchange || (personGrant && deps.person))) {
        throw new OAuthError('grant_unsupported', `grant_type must be one of ${supported.join(', ')}.`);
      }
      const claimed = claimedClient(form, request.headers.authorization);
      if (claimed !== null) await limit(`ts:c:${claimed}`, ts.rateLimits.client, 'rate_limited_client');
      let who: Issuer;
      let minted: Minted;
      let subjectIssuer: string | null = null;
      let refreshToken: string | undefined;
      if (personGrant) {
        const m = grant === GRANTS.authorizationCode ? await deps.person!.authorizationCode(form, request.headers.authorization) : await deps.person!.refreshToken(form, request.headers.authorization);
        ({ refreshToken } = m);
        minted = m;
        who = { id: m.client.id, method: 'none', agent: m.agent };
      } else {
        client = await authenticateClient(form, request.headers.authorization);
        ({ minted, subjectIssuer } = await mint(request, form, grant, client));
        who = { id: client.agent.id, method: client.method, agent: client.agent };
      }
      const accessToken = deps.keys.sign(minted.claims, 'at+jwt');
      const tokenType = minted.claims.cnf ? 'DPoP' : 'Bearer';
      try {
        await deps.audit.record('token_issued', issuedFields(request, ip, grant, who, minted, tokenType, subjectIssuer), { written: true });
      } catch {
        throw new OAuthError('audit_unavailable', 'The issuance could not be recorded, so the token is withheld.');
      }
      deps.metrics.tokensIssued.labels(grant === GRANTS.tokenExchange ? 'token_exchange' : grant, who.method, tokenType).inc();
      const body: Record<string, unknown> = { access_token: accessToken, token_type: tokenType, expires_in: minted.expiresIn, scope: minted.scopes.join(' ') };
      if (grant === GRANTS.tokenExchange) body.issued_token_type = TOKEN_TYPES.accessToken;
      if (refreshToken !== undefined) body.refresh_token = refreshToken;
      return reply.code(200).header('cache-control', 'no-store').header('pragma', 'no-cache').send(body);
    } catch (err) {
      const e = err instanceof OAuthError ? err : new OAuthError('internal', 'The token service failed; no token was issued.');
      if (!(err instanceof OAuthError)) deps.logger.error({ err, request_id: request.id }, 'token endpoint failed');
      deps.metrics.tokenRefusals.labels(e.code, e.reason).inc();
      const fields = {
        request_id: request.id,
        client: { ip, id: client?.agent.id ?? (form ? claimedClient(form, request.headers.authorization) : null) },
        grant: grant !== undefined && grant.length <= 128 ? grant : null,
        auth_method: client?.method ?? null,
        requested_scope: form?.get('scope')?.slice(0, 2048) ?? null,
        outcome: { result: 'refused', status: e.status, error: e.code, reason: e.reason },
      };
      try {
        await deps.audit.record('token_refused', fields, { written: true });
      } catch {
        // The refusal stands either way; the audit trail's own metric counts the failed write.
      }
      for (const [k, v] of Object.entries(e.headers)) reply.header(k, v);
      // A body left unread (too large, or never parsed) must not be taken for the next request.
      if (!request.raw.complete) reply.header('connection', 'close');
      return reply.code(e.status).header('cache-control', 'no-store').header('pragma', 'no-cache').send(e.body(request.id));
    }
  };
}

/** Who the request says it is, before that is checked: for the per-client limit and the refusal's event. */
function claimedClient(form: TokenForm, authorization: string | undefined): string | null {
  let id = form.get('client_id');
  if (id === undefined && authorization !== undefined && /^basic /i.test(authorization)) id = basicCredentials(authorization)?.[0];
  if (id === undefined && form.has('client_assertion')) {
    const payload = form.get('client_assertion')!.split('.')[1];
    try {
      id = (JSON.parse(Buffer.from(payload ?? '', 'base64url').toString('utf8')) as { iss?: string }).iss;
    } catch {
      id = undefined;
    }
  }
  return isValidId(id) ? id : null;
}


function* actorsOf(act: unknown): Generator<string> {
  for (let a = act as Record<string, unknown> | undefined; a; a = a.act as Record<string, unknown> | undefined) yield a.sub as string;
}

/** Who a token is issued to: an agent (client_credentials, exchange) or an oauth client acting as its agent. */
interface Issuer {
  readonly id: string;
  readonly method: string;
  readonly agent: AgentEntry;
}

function issuedFields(request: FastifyRequest, ip: string, grant: string, client: Issuer, m: Minted, tokenType: string, subjectIssuer: string | null) {
  const c = m.claims;
  const act = c.act as Record<string, unknown> | undefined;
  const chain = [...actorsOf(act)];
  return {
    request_id: request.id,
    client: { ip, id: client.id },
    grant,
    auth_method: client.method,
    token: {
      jti: c.jti,
      sub: c.sub,
      aud: c.aud,
      iat: c.iat,
      exp: c.exp,
      type: tokenType,
      dpop_jkt: (c.cnf as { jkt?: string } | undefined)?.jkt ?? null,
      parent_jti: (c.parents as string[] | undefined)?.[0] ?? null,
      parents: c.parents ?? [],
    },
    agent: { id: client.agent.id, owner: client.agent.owner },
    user: act ? { id: c.sub, roles: c.roles ?? [] } : null,
    delegation: act ? [...chain, c.sub] : [c.sub],
    subject_issuer: subjectIssuer,
    requested_scope: m.requested,
    granted_scope: m.scopes,
    task_id: c.task_id ?? null,
    outcome: { result: 'issued', status: 200, error: null, reason: null },
  };
}
