/**
 * People sign in with the company IdP: OpenID Connect authorization code flow with PKCE (S256),
 * `state` and `nonce`, through openid-client (the RP side is a library's job, not ours). The login
 * is bound to the browser that started it (a short-lived cookie carrying the state) and usable once;
 * the session cookie is HttpOnly, SameSite=Strict, Secure when the console is reached over https,
 * and a new id is issued at every sign-in. Roles come from the ID token's groups through
 * admin.auth.role_map; `step_up=1` asks the IdP for a fresh login (prompt=login, max_age=0) for the
 * roles in `mfa_for`. Every sign-in, refusal and sign-out is audited.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { LRUCache } from 'lru-cache';
import * as oidc from 'openid-client';
import type { RuntimeConfig } from '../config/compile.js';
import { recentMfa, rolesFromGroups } from '../control/admin-auth.js';
import type { SsoConfig } from '../config/compile-sso.js';
import type { Logger } from '../observability/logger.js';
import type { AuditPort } from '../pipeline/context.js';
import type { StateStore } from '../state/store.js';
import { createIdpClient } from '../identity/idp-client.js';
import { cookieValue, createSessions, SESSION_COOKIE, type Session } from './sessions.js';

const LOGIN_COOKIE = 'portcullis_login';
const LOGIN_TTL_MS = 10 * 60_000;

interface PendingLogin {
  readonly verifier: string;
  readonly nonce: string;
  readonly redirectUri: string;
  readonly next: string;
  readonly stepUp: boolean;
}

export function createSso(config: RuntimeConfig, sso: SsoConfig, deps: { audit: AuditPort; logger: Logger; state: StateStore }) {
  const sessions = createSessions(sso.sessionTtlMs, deps.state);
  const pending = new LRUCache<string, PendingLogin>({ max: 10_000, ttl: LOGIN_TTL_MS });
  const client = createIdpClient(sso);

  const secure = (request: FastifyRequest) => (sso.redirectUri ?? '').startsWith('https:') || request.protocol === 'https';

  async function login(request: FastifyRequest<{ Querystring: { next?: string; step_up?: string } }>, reply: FastifyReply) {
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const verifier = oidc.randomPKCECodeVerifier();
    const redirectUri = sso.redirectUri ?? `http://${request.headers.host}/console/callback`;
    const next = safeNext(request.query.next);
    const stepUp = request.query.step_up === '1';
    pending.set(state, { verifier, nonce, redirectUri, next, stepUp });
    const params: Record<string, string> = { redirect_uri: redirectUri, scope: sso.scopes, state, nonce, code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' };
    if (stepUp) Object.assign(params, { prompt: 'login', max_age: '0' });
    const url = oidc.buildAuthorizationUrl(await client(), params);
    // SameSite=Lax: the IdP's redirect back is a cross-site navigation, which a Strict cookie would miss.
    reply.header('set-cookie', `${LOGIN_COOKIE}=${state}; HttpOnly; SameSite=Lax; Path=/console/callback; Max-Age=600${secure(request) ? '; Secure' : ''}`);
    return reply.redirect(url.href, 302);
  }

  async function callback(request: FastifyRequest<{ Querystring: Record<string, string> }>, reply: FastifyReply) {
    const state = request.query.state;
    const bound = cookieValue(request.headers.cookie, LOGIN_COOKIE);
    const p = state ? pending.get(state) : undefined;
    if (state) pending.delete(state);
    const refuse = (reason: string, message: string) => {
      deps.audit.record('console_sign_in', { request_id: request.id, client: { ip: request.ip }, outcome: { result: 'refused', reason }, subject: null });
      return reply.code(400).type('text/plain; charset=utf-8').header('cache-control', 'no-store').send(`Sign-in refused: ${message}\n`);
    };
    if (!p || bound !== state) return refuse('sso_state_invalid', 'this sign-in was not started in this browser, was already used, or expired. Start again at /console/login.');
    let claims: oidc.IDToken;
    try {
      const current = new URL(`${p.redirectUri}?${new URL(request.url, 'http://x').searchParams}`);
      const tokens = await oidc.authorizationCodeGrant(await client(), current, { pkceCodeVerifier: p.verifier, expectedState: state, expectedNonce: p.nonce, idTokenExpected: true });
      claims = tokens.claims()!;
    } catch (err) {
      deps.logger.warn({ err: (err as Error).message, request_id: request.id }, 'console sign-in refused');
      return refuse('sso_response_invalid', 'the identity provider\'s answer did not verify.');
    }
    const roles = rolesFromGroups(claims[sso.rolesClaim], config.admin.roleMap);
    const session = await sessions.create({ subject: String(claims.sub), roles, claims: { amr: claims.amr, auth_time: claims.auth_time, email: claims.email, name: claims.name } });
    deps.audit.record('console_sign_in', { request_id: request.id, client: { ip: request.ip }, outcome: { result: 'signed_in', reason: null }, subject: session.subject, roles: [...roles], mfa: mfaFresh(session, sso), step_up: p.stepUp });
    reply.header('set-cookie', [
      `${SESSION_COOKIE}=${session.id}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${Math.floor(sso.sessionTtlMs / 1000)}${secure(request) ? '; Secure' : ''}`,
      `${LOGIN_COOKIE}=; HttpOnly; SameSite=Lax; Path=/console/callback; Max-Age=0`,
    ]);
    // A page of our own moves on to the console: a Strict cookie set by the answer to a cross-site
    // redirect is not sent on the redirect's next hop, but is on a same-site navigation from here.
    return reply.code(200).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(`<!doctype html><meta http-equiv="refresh" content="0;url=${p.next}"><title>Signed in</title><p><a href="${p.next}">Continue</a></p>\n`);
  }

  async function logout(request: FastifyRequest, session: Session, reply: FastifyReply, page: boolean) {
    await sessions.end(session.id);
    deps.audit.record('console_sign_out', { request_id: request.id, client: { ip: request.ip }, subject: session.subject });
    reply.header('set-cookie', `${SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`).header('cache-control', 'no-store');
    if (page) return reply.code(200).type('text/html; charset=utf-8').send('<!doctype html><title>Signed out</title><p>Signed out. <a href="/console/">Sign in again</a></p>\n');
    return reply.code(200).send({ signed_out: true });
  }

  return { login, callback, logout, sessions, mfaFor: sso.mfaFor, mfaFresh: (s: Session) => mfaFresh(s, sso) };
}

export type Sso = ReturnType<typeof createSso>;

export function mfaFresh(s: Session, sso: SsoConfig): boolean {
  return recentMfa(s.claims, sso.mfaMaxAgeSec);
}

/** Only a path of the console: never an absolute URL (an open redirect). */
function safeNext(next: string | undefined): string {
  return typeof next === 'string' && /^\/console\/[A-Za-z0-9/_-]*$/.test(next) ? next : '/console/';
}
