/**
 * Sign-in routes on the admin listener: `/console/login` (to the IdP), `/console/callback` (back
 * from it), `/console/session` (who is signed in, their roles, the CSRF token for the session, and
 * whether their MFA is fresh), `POST /console/logout`.
 */
import type { FastifyInstance } from 'fastify';
import { GatewayError } from '../errors.js';
import type { AdminAuthenticator } from '../control/admin-auth.js';
import type { Sso } from './sso.js';
import { cookieValue, sameSecret, SESSION_COOKIE } from './sessions.js';

export function registerConsoleRoutes(app: FastifyInstance, sso: Sso, authenticate: AdminAuthenticator): void {
  app.get('/console/login', sso.login);
  app.get('/console/callback', sso.callback);
  app.get('/console/session', async (request, reply) => {
    const who = await authenticate(request);
    if (!who.session) throw new GatewayError('session_invalid', 'No console session: sign in at /console/login.');
    return reply.header('cache-control', 'no-store').send({
      subject: who.subject,
      roles: [...who.roles].sort(),
      csrf_token: who.session.csrf,
      mfa_fresh: sso.mfaFresh(who.session),
      expires_at: new Date(who.session.expiresAt).toISOString(),
    });
  });
  // Signing out needs the session and its CSRF token, never a fresh MFA.
  app.post('/console/logout', async (request, reply) => {
    const session = await sso.sessions.get(cookieValue(request.headers.cookie, SESSION_COOKIE));
    if (!session) throw new GatewayError('session_invalid', 'No console session to end.');
    // From the API: the X-CSRF-Token header; from the console's button: the form's field.
    const form = request.headers['content-type']?.startsWith('application/x-www-form-urlencoded') === true;
    const csrf = form ? (request.body as { csrf?: unknown } | undefined)?.csrf : request.headers['x-csrf-token'];
    if (typeof csrf !== 'string' || !sameSecret(csrf, session.csrf)) throw new GatewayError('csrf_invalid', 'Signing out needs the session\'s CSRF token.');
    return sso.logout(request, session, reply, form);
  });
}
