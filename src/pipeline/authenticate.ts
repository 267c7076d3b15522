/**
 * Stage 1 — who is acting. The capability token comes from the Authorization header only: a token in
 * the query string leaks into access logs and browser history (RFC 6750 §5.3), so it is refused
 * rather than ignored, even when a header token is also present, under any spelling of its name.
 * A sender-constrained token (`cnf.jkt`, RFC 9449) must come as `Authorization: DPoP` with a fresh
 * proof of its key for this method and URL, used once across every replica; a bearer token must
 * come as `Bearer`, and an agent the registry marks `require_dpop` gets no bearer token through.
 */
import type { AgentLookup } from '../directory/registry.js';
import type { RuntimeConfig } from '../config/compile.js';
import type { TokenAuthenticator } from '../auth/token-authenticator.js';
import { GatewayError, type Reason } from '../errors.js';
import { createDpopVerifier, DpopError, replayWindowMs } from '../identity/dpop.js';
import type { Metrics } from '../observability/metrics.js';
import type { StateStore } from '../state/store.js';
import type { CallContext } from './context.js';
import { queryNames } from './request-path.js';

export function createAuthenticate(config: RuntimeConfig, tokens: TokenAuthenticator, deps: { state: StateStore; metrics: Metrics; registry: AgentLookup }) {
  const verifyProof = createDpopVerifier({ algorithms: config.auth.algorithms, clockToleranceSec: config.auth.clockToleranceSec, maxBytes: config.auth.maxTokenBytes });
  const replayMs = replayWindowMs(config.auth.clockToleranceSec);
  const publicUrl = config.listen.proxy.publicUrl;
  const challenge = `DPoP realm="portcullis", algs="${config.auth.algorithms.join(' ')}"`;

  function refuse(reason: Reason, message: string, error = 'invalid_dpop_proof'): GatewayError {
    deps.metrics.dpopProofs.labels(reason).inc();
    return new GatewayError(reason, message, { headers: { 'www-authenticate': `${challenge}, error="${error}"` } });
  }

  async function proveKey(ctx: CallContext, token: string, jkt: string): Promise<void> {
    const proofs = ctx.raw.headersDistinct.dpop;
    if (proofs === undefined) throw refuse('dpop_proof_missing', 'A DPoP-bound token needs a DPoP proof header.');
    if (proofs.length !== 1) throw refuse('dpop_proof_invalid', 'Send exactly one DPoP header.');
    const host = publicUrl?.host ?? ctx.raw.headers.host;
    if (host === undefined) throw refuse('dpop_proof_invalid', 'Without a Host header the proof\'s URL cannot be checked.');
    const q = ctx.url.indexOf('?');
    const url = `${publicUrl?.proto ?? 'http'}://${host}${q < 0 ? ctx.url : ctx.url.slice(0, q)}`;
    let proof;
    try {
      proof = verifyProof(proofs[0]!, { method: ctx.method, url, accessToken: token });
    } catch (err) {
      if (err instanceof DpopError) throw refuse('dpop_proof_invalid', err.message);
      throw err;
    }
    if (proof.jkt !== jkt) throw refuse('dpop_key_mismatch', 'The DPoP proof is signed by another key than the one the token is bound to.');
    let first: boolean;
    try {
      first = await deps.state.claimOnce(`dpop:${proof.jkt}:${proof.jti}`, replayMs);
    } catch {
      throw new GatewayError('state_stale', 'DPoP proof reuse cannot be checked right now (the shared state store is unreachable), so no call is forwarded.');
    }
    if (!first) throw refuse('dpop_proof_replayed', 'This DPoP proof was used before; make a new one per request.');
    deps.metrics.dpopProofs.labels('ok').inc();
  }

  return async function authenticate(ctx: CallContext): Promise<void> {
    const q = ctx.url.indexOf('?');
    if (q >= 0 && queryNames(ctx.url.slice(q + 1)).includes('access_token')) {
      throw new GatewayError('token_in_query', 'Send the token in the Authorization header, never in the URL.');
    }
    const { scheme, token } = credentials(ctx.raw.headers.authorization);
    const principal = await tokens.authenticate(token);
    if (principal.jkt !== null) {
      if (scheme !== 'dpop') throw refuse('dpop_scheme_mismatch', 'This token is DPoP-bound: send it as "Authorization: DPoP <token>" with a DPoP proof.', 'invalid_token');
      await proveKey(ctx, token, principal.jkt);
    } else if (scheme === 'dpop') {
      throw refuse('dpop_scheme_mismatch', 'This token is not DPoP-bound: send it as "Authorization: Bearer <token>".', 'invalid_token');
    } else if (deps.registry.get(principal.agentId)?.requireDpop) {
      throw refuse('dpop_required', `Agent ${JSON.stringify(principal.agentId)} may only use DPoP-bound tokens.`, 'invalid_token');
    }
    ctx.principal = principal;
  };
}

/** The Authorization header's scheme (Bearer or DPoP, RFC 9449 §7.1) and token. */
export function credentials(header: string | undefined): { scheme: 'bearer' | 'dpop'; token: string } {
  if (header === undefined || header === '') throw new GatewayError('token_missing', 'An Authorization: Bearer capability token is required.');
  const space = header.indexOf(' ');
  const scheme = space < 0 ? '' : header.slice(0, space).toLowerCase();
  if (scheme !== 'bearer' && scheme !== 'dpop') {
    throw new GatewayError('token_malformed', 'The Authorization header must use the Bearer (or DPoP) scheme.');
  }
  const token = header.slice(space + 1).trim();
  if (token === '') throw new GatewayError('token_missing', `The ${scheme === 'dpop' ? 'DPoP' : 'Bearer'} token is empty.`);
  return { scheme, token };
}

/** The Bearer token of an Authorization header (admin API). */
export function bearerToken(header: string | undefined): string {
  const { scheme, token } = credentials(header);
  if (scheme !== 'bearer') throw new GatewayError('token_malformed', 'The Authorization header must use the Bearer scheme.');
  return token;
}
