/**
 * Stage 1 — who is acting. The capability token comes from `Authorization: Bearer` only: a token in
 * the query string leaks into access logs and browser history (RFC 6750 §5.3), so it is refused
 * rather than ignored, even when a header token is also present, under any spelling of its name.
 */
import type { TokenAuthenticator } from '../auth/token-authenticator.js';
import { GatewayError } from '../errors.js';
import type { CallContext } from './context.js';
import { queryNames } from './request-path.js';

export function createAuthenticate(tokens: TokenAuthenticator) {
  return async function authenticate(ctx: CallContext): Promise<void> {
    const q = ctx.url.indexOf('?');
    if (q >= 0 && queryNames(ctx.url.slice(q + 1)).includes('access_token')) {
      throw new GatewayError('token_in_query', 'Send the token in the Authorization header, never in the URL.');
    }
    ctx.principal = await tokens.authenticate(bearerToken(ctx.raw.headers.authorization));
  };
}

export function bearerToken(header: string | undefined): string {
  if (header === undefined || header === '') throw new GatewayError('token_missing', 'An Authorization: Bearer capability token is required.');
  const space = header.indexOf(' ');
  if (space < 0 || header.slice(0, space).toLowerCase() !== 'bearer') {
    throw new GatewayError('token_malformed', 'The Authorization header must use the Bearer scheme.');
  }
  const token = header.slice(space + 1).trim();
  if (token === '') throw new GatewayError('token_missing', 'The Bearer token is empty.');
  return token;
}
