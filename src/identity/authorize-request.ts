/**
 * An authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3, RFC 8707 §2) checked before anyone
 * signs in: the client and its exact redirect URI first (until both hold, nothing goes back to the
 * client), then `response_type=code`, a PKCE S256 challenge, the scopes the person will be asked
 * for (what was asked, within the agent's and the client's ceilings) and the resource.
 */
import type { RuntimeConfig } from '../config/compile.js';
import type { TokenServiceConfig } from '../config/compile-identity.js';
import type { OAuthClientConfig } from '../config/compile-oauth-clients.js';
import type { AgentLookup } from '../directory/registry.js';
import type { StateStore } from '../state/store.js';
import { OAuthError } from './oauth-errors.js';
import { covers, parseRequestedScope } from './scopes.js';

export interface AuthorizeRequest {
  readonly client: OAuthClientConfig;
  readonly redirectUri: string;
  readonly state: string | null;
  readonly codeChallenge: string;
  readonly scopes: readonly string[];
  readonly resource: string | null;
}

/** RFC 6749 §4.1.2.1 (and RFC 8707's invalid_target) error codes, by the precise reason. */
export const AUTHORIZE_REASONS = {
  client_unknown: 'invalid_request',
  client_metadata_invalid: 'invalid_request',
  redirect_uri_unregistered: 'invalid_request',
  parameter_invalid: 'invalid_request',
  response_type_unsupported: 'unsupported_response_type',
  pkce_required: 'invalid_request',
  scope_invalid: 'invalid_scope',
  resource_unknown: 'invalid_target',
  client_inactive: 'unauthorized_client',
} as const;

export type AuthorizeReason = keyof typeof AUTHORIZE_REASONS;

export class AuthorizeError extends Error {
  readonly code: string;
  constructor(
    readonly reason: AuthorizeReason,
    message: string,
    /** Where the refusal may go back to; undefined while the client or its redirect URI is unproven. */
    readonly redirect?: { readonly redirectUri: string; readonly state: string | null },
    readonly client?: OAuthClientConfig,
  ) {
    super(message);
    this.code = AUTHORIZE_REASONS[reason];
  }
}

const CHALLENGE = /^[A-Za-z0-9_-]{43}$/;

/** The request's single `client_id`, or undefined (absent or repeated: the client is then unknown). */
export function clientIdOf(query: Record<string, unknown>): string | undefined {
  return typeof query.client_id === 'string' ? query.client_id : undefined;
}

/** Checks the request of `client` (resolved from its client_id by the caller; undefined: unknown). */
export function authorizeRequest(query: Record<string, unknown>, found: OAuthClientConfig | undefined, config: RuntimeConfig, ts: TokenServiceConfig, deps: { registry: AgentLookup; state: StateStore }): AuthorizeRequest {
  const one = (name: string): string | undefined => {
    const v = query[name];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw new AuthorizeError('parameter_invalid', `${name} must be given once.`, back, client);
    return v;
  };
  let back: AuthorizeError['redirect'];
  const client = found;
  if (!client) throw new AuthorizeError('client_unknown', 'The application is not registered with this service (oauth_clients).');
  const redirectUri = one('redirect_uri');
  if (redirectUri === undefined || !client.redirectUris.has(redirectUri)) {
    throw new AuthorizeError('redirect_uri_unregistered', `The redirect URI is not one registered for ${client.name}; it must match exactly.`, undefined, client);
  }
  back = { redirectUri, state: one('state') ?? null };
  const fail = (reason: AuthorizeReason, message: string) => new AuthorizeError(reason, message, back, client);
  if (one('response_type') !== 'code') throw fail('response_type_unsupported', 'Only response_type=code is supported.');
  const challenge = one('code_challenge');
  if (one('code_challenge_method') !== 'S256' || challenge === undefined || !CHALLENGE.test(challenge)) {
    throw fail('pkce_required', 'PKCE is required: code_challenge (43 base64url characters) with code_challenge_method=S256.');
  }
  const agent = deps.registry.get(client.agent);
  if (!agent || agent.status !== 'active' || deps.state.killFor({ agent: client.agent, user: null, tool: undefined })) {
    throw fail('client_inactive', `The agent ${client.agent}, which ${client.name} runs as, is not active.`);
  }
  let requested: string[] | undefined;
  try {
    requested = parseRequestedScope(one('scope'), config.tools);
  } catch (err) {
    throw fail('scope_invalid', (err as OAuthError).message);
  }
  // What the person is asked for: the request (or everything) within the agent's and the client's ceilings.
  const limits = [new Set(agent.scopes), ...(client.scopes ? [new Set(client.scopes)] : [])];
  const candidates = requested ?? [...limits[limits.length - 1]!];
  const scopes = [...new Set(candidates.filter((s) => limits.every((l) => covers(l, s))))].sort();
  if (scopes.length === 0) throw fail('scope_invalid', `None of the requested scopes is within what ${client.name} and agent ${client.agent} may have.`);
  const resource = one('resource') ?? null;
  if (resource !== null && !ts.audiences.includes(resource) && !isToolResource(resource, ts.issuer, config)) {
    throw fail('resource_unknown', `This service issues tokens for its tools (${ts.issuer}/tools/<tool>) and ${ts.audiences.join(', ')}; not ${resource.slice(0, 128)}.`);
  }
  return { client, redirectUri, state: back.state, codeChallenge: challenge, scopes, resource };
}

/** `<issuer>/tools/<tool>`: an MCP host names the server it connects to (RFC 8707, MCP authorization). */
export function isToolResource(resource: string, issuer: string, config: RuntimeConfig): boolean {
  const prefix = `${issuer}/tools/`;
  return resource.startsWith(prefix) && config.tools.has(resource.slice(prefix.length).replace(/\/$/, ''));
}
