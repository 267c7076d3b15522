/**
 * The authorization endpoint (RFC 6749 §4.1, PKCE S256 only, RFC 7636) for oauth_clients: an MCP
 * host sends the person here; they sign in with the company IdP (admin.sso, OIDC code flow with
 * PKCE through openid-client), see what the client asks for on a consent page, and the client gets
 * a single-use code bound to its PKCE challenge and redirect URI.
 *
 * Until the client and its redirect URI are established, a refusal is a page, never a redirect (an
 * open redirector otherwise); after, it goes back to the client as `error` (§4.1.2.1) with `state`
 * and `iss` (RFC 9207). The flow is bound to the browser that started it (a cookie naming the
 * transaction) and each step is usable once; the consent form carries a CSRF token. Every consent,
 * denial and refusal is audited (`oauth_authorization`).
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { LRUCache } from 'lru-cache';
import * as oidc from 'openid-client';
import type { RuntimeConfig } from '../config/compile.js';
import type { TokenServiceConfig } from '../config/compile-identity.js';
import type { AuthorizationCodeConfig } from '../config/compile-oauth-clients.js';
import type { SsoConfig } from '../config/compile-sso.js';
import type { AgentLookup } from '../directory/registry.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { AuditPort } from '../pipeline/context.js';
import type { StateStore } from '../state/store.js';
import { cookieValue } from '../console/sessions.js';
import { AuthorizeError, authorizeRequest, clientIdOf, type AuthorizeRequest } from './authorize-request.js';
import { ClientMetadataError, type ClientResolver } from './client-metadata.js';
import { consentPage, CONSENT_CSP, errorPage } from './consent-page.js';
import type { GrantTokens } from './grant-tokens.js';
import { createIdpClient } from './idp-client.js';
import { mapRoles } from './subject-token.js';
import { readTokenForm } from './token-form.js';

const COOKIE = 'portcullis_authorize';
const PENDING_TTL_MS = 10 * 60_000;

interface Pending extends AuthorizeRequest {
  readonly verifier: string;
  readonly nonce: string;
  readonly csrf: string;
  person?: { readonly sub: string; readonly roles: readonly string[] };
}

export interface AuthorizeDeps {
  readonly clients: ClientResolver;
  readonly audit: AuditPort;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly state: StateStore;
  readonly registry: AgentLookup;
  readonly tokens: GrantTokens;
}

export function registerAuthorize(app: FastifyInstance, config: RuntimeConfig, ts: TokenServiceConfig, ac: AuthorizationCodeConfig, sso: SsoConfig, deps: AuthorizeDeps): void {
  const pending = new LRUCache<string, Pending>({ max: 10_000, ttl: PENDING_TTL_MS });
  const idp = createIdpClient(sso);
  const callbackUri = `${ts.issuer}/oauth2/callback`;
  const secure = ts.issuer.startsWith('https:') ? '; Secure' : '';
  // The subject issuer entry for the same IdP, if any, says which claim names the person and maps their groups to roles.
  const subjectIssuer = ts.subjectIssuers.find((s) => s.issuer === sso.issuer);

  function record(request: FastifyRequest, result: string, reason: string | null, fields: Record<string, unknown> = {}): void {
    deps.audit.record('oauth_authorization', { request_id: request.id, client: { ip: request.ip }, outcome: { result, reason }, ...fields });
    deps.metrics.oauthAuthorizations.inc({ result, reason: reason ?? 'none' });
  }

  const html = (reply: FastifyReply, status: number, body: string) =>
    reply.code(status).type('text/html; charset=utf-8').header('cache-control', 'no-store').header('content-security-policy', CONSENT_CSP).header('x-frame-options', 'DENY').send(body);

  /** Back to the client with `error` (or `code`), its `state` and our `iss`. */
  function back(reply: FastifyReply, req: { redirectUri: string; state: string | null }, params: Record<string, string>): FastifyReply {
    const url = new URL(req.redirectUri);
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    if (req.state !== null) url.searchParams.set('state', req.state);
    url.searchParams.set('iss', ts.issuer);
    return reply.code(303).header('cache-control', 'no-store').header('location', url.href).send();
  }

  app.get('/oauth2/authorize', async (request: FastifyRequest<{ Querystring: Record<string, unknown> }>, reply) => {
    let req: AuthorizeRequest;
    try {
      const id = clientIdOf(request.query);
      let client;
      try {
        client = id === undefined ? undefined : await deps.clients.resolve(id);
      } catch (err) {
        if (!(err instanceof ClientMetadataError)) throw err;
        throw new AuthorizeError('client_metadata_invalid', `The application's client ID metadata document is unusable: ${err.message}.`);
      }
      req = authorizeRequest(request.query, client, config, ts, deps);
    } catch (err) {
      if (!(err instanceof AuthorizeError)) throw err;
      record(request, 'refused', err.reason, { oauth_client: err.client?.id ?? null });
      return err.redirect ? back(reply, err.redirect, { error: err.code, error_description: err.message }) : html(reply, 400, errorPage(err.message));
    }
    const txn = randomBytes(24).toString('base64url');
    const verifier = oidc.randomPKCECodeVerifier();
    const nonce = oidc.randomNonce();
    pending.set(txn, { ...req, verifier, nonce, csrf: randomBytes(24).toString('base64url') });
    let url: URL;
    try {
      url = oidc.buildAuthorizationUrl(await idp(), { redirect_uri: callbackUri, scope: sso.scopes, state: txn, nonce, code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' });
    } catch (err) {
      deps.logger.warn({ err: (err as Error).message }, 'the identity provider could not be reached for an authorization');
      record(request, 'refused', 'idp_unavailable', { oauth_client: req.client.id });
      return back(reply, req, { error: 'temporarily_unavailable', error_description: 'Sign-in is unavailable right now; try again shortly.' });
    }
    // SameSite=Lax: the IdP's redirect back is a cross-site navigation.
    reply.header('set-cookie', `${COOKIE}=${txn}; HttpOnly; SameSite=Lax; Path=/oauth2/; Max-Age=600${secure}`);
    return reply.code(302).header('cache-control', 'no-store').header('location', url.href).send();
  });

  app.get('/oauth2/callback', async (request: FastifyRequest<{ Querystring: Record<string, string> }>, reply) => {
    const txn = typeof request.query.state === 'string' ? request.query.state : '';
    const p = pending.get(txn);
    if (!p || p.person || cookieValue(request.headers.cookie, COOKIE) !== txn) {
      record(request, 'refused', 'authorize_state_invalid');
      return html(reply, 400, errorPage('This sign-in was not started in this browser, was already used, or expired. Start again from the application.'));
    }
    let claims: oidc.IDToken;
    try {
      const current = new URL(`${callbackUri}?${new URL(request.url, 'http://x').searchParams}`);
      claims = (await oidc.authorizationCodeGrant(await idp(), current, { pkceCodeVerifier: p.verifier, expectedState: txn, expectedNonce: p.nonce, idTokenExpected: true })).claims()!;
    } catch (err) {
      pending.delete(txn);
      deps.logger.warn({ err: (err as Error).message, request_id: request.id }, 'sign-in for an authorization refused');
      record(request, 'refused', 'sso_response_invalid', { oauth_client: p.client.id });
      return back(reply, p, { error: 'access_denied', error_description: "The identity provider's answer did not verify." });
    }
    p.person = personOf(claims);
    return html(reply, 200, consentPage({ txn, csrf: p.csrf, client: p.client, agent: p.client.agent, redirectOrigin: new URL(p.redirectUri).origin, person: p.person.sub, scopes: p.scopes }));
  });

  app.post('/oauth2/consent', async (request, reply) => {
    let form;
    try {
      form = await readTokenForm(request.raw, 4096);
    } catch {
      return html(reply, 400, errorPage('The consent form could not be read.'));
    }
    const txn = form.get('txn') ?? '';
    const p = pending.get(txn);
    if (!p?.person || cookieValue(request.headers.cookie, COOKIE) !== txn || form.get('csrf') !== p.csrf) {
      record(request, 'refused', 'consent_invalid');
      return html(reply, 400, errorPage('This consent was not given in the browser that signed in, was already answered, or expired. Start again from the application.'));
    }
    pending.delete(txn);
    reply.header('set-cookie', `${COOKIE}=; HttpOnly; SameSite=Lax; Path=/oauth2/; Max-Age=0${secure}`);
    const who = { oauth_client: p.client.id, agent: p.client.agent, user: { id: p.person.sub, roles: p.person.roles }, scope: p.scopes };
    if (form.get('decision') !== 'approve') {
      record(request, 'denied', 'consent_denied', who);
      return back(reply, p, { error: 'access_denied', error_description: 'The person did not allow this application.' });
    }
    const now = Math.floor(Date.now() / 1000);
    const fam = oidc.randomState();
    const code = deps.tokens.code(
      { client_id: p.client.id, agent: p.client.agent, sub: p.person.sub, roles: p.person.roles, scope: p.scopes.join(' '), fam, fam_exp: now + ac.refreshTtlSec, redirect_uri: p.redirectUri, code_challenge: p.codeChallenge },
      ac.codeTtlSec,
    );
    record(request, 'consented', null, { ...who, family: fam });
    return back(reply, p, { code });
  });

  function personOf(claims: oidc.IDToken): { sub: string; roles: string[] } {
    const id = subjectIssuer ? claims[subjectIssuer.subjectClaim] : claims.sub;
    const sub = typeof id === 'string' && id !== '' ? id : String(claims.sub);
    return { sub, roles: subjectIssuer ? mapRoles(claims[subjectIssuer.rolesClaim], subjectIssuer.roleMap) : [] };
  }
}
