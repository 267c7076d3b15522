/**
 * Who is asking the token endpoint (RFC 6749 §2.3): an agent of the registry, by `private_key_jwt`
 * (RFC 7523 §2.2, a JWT it signed with a key only it holds; the preferred way) or by a client
 * secret (`client_secret_basic`, `client_secret_post`) checked against slow hashes. Exactly one
 * method per request; an agent without secret hashes cannot use a secret, whatever it sends.
 */
import type { AgentLookup } from '../directory/registry.js';
import { createLocalJWKSet, decodeJwt, errors, jwtVerify, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import type { AgentEntry, RuntimeConfig } from '../config/compile.js';
import type { TokenServiceConfig } from '../config/compile-identity.js';
import { createKeySet } from '../auth/key-sets.js';
import type { StateStore } from '../state/store.js';
import { OAuthError } from './oauth-errors.js';
import type { SecretVerifier } from './client-secrets.js';
import type { TokenForm } from './token-form.js';

export const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

export type ClientAuthMethod = 'private_key_jwt' | 'client_secret_basic' | 'client_secret_post';

export interface AuthenticatedClient {
  readonly agent: AgentEntry;
  readonly method: ClientAuthMethod;
}

export function createClientAuthenticator(config: RuntimeConfig, ts: TokenServiceConfig, deps: { state: StateStore; secrets: SecretVerifier; registry: AgentLookup }) {
  // By entry: a registry change (new keys) makes a new entry, and with it a new key set.
  const keySets = new WeakMap<AgentEntry, JWTVerifyGetKey>();
  const audiences = [ts.issuer, ts.tokenEndpoint];
  const tolerance = config.auth.clockToleranceSec;

  function agentFor(id: string | undefined): AgentEntry {
    const agent = id === undefined ? undefined : deps.registry.get(id);
    if (!agent) throw new OAuthError('client_unknown', 'The client is not a registered agent.', BASIC);
    if (agent.status !== 'active') throw new OAuthError('client_inactive', `Agent ${JSON.stringify(agent.id)} is ${agent.status}.`, BASIC);
    return agent;
  }

  function keysOf(agent: AgentEntry): JWTVerifyGetKey {
    const c = agent.credentials;
    if (!c?.jwksFile && !c?.jwksUri && !c?.jwks) throw new OAuthError('client_method_not_allowed', `Agent ${JSON.stringify(agent.id)} has no registered keys; it cannot use private_key_jwt.`);
    let set = keySets.get(agent);
    if (!set) {
      set = c.jwks ? createLocalJWKSet(c.jwks as JSONWebKeySet) : createKeySet({ issuer: agent.id, jwksFile: c.jwksFile, jwksUri: c.jwksUri, audiences: [] }, config.auth.jwks);
      keySets.set(agent, set);
    }
    return set;
  }

  async function byAssertion(form: TokenForm): Promise<AuthenticatedClient> {
    if (form.get('client_assertion_type') !== JWT_BEARER) {
      throw new OAuthError('client_assertion_invalid', `client_assertion_type must be ${JWT_BEARER}.`);
    }
    const assertion = form.get('client_assertion')!;
    let iss: unknown;
    try {
      iss = decodeJwt(assertion).iss;
    } catch {
      throw new OAuthError('client_assertion_invalid', 'The client assertion is not a JWT.');
    }
    const clientId = form.get('client_id');
    if (clientId !== undefined && clientId !== iss) throw new OAuthError('client_assertion_invalid', 'client_id does not match the assertion\'s issuer.');
    const agent = agentFor(typeof iss === 'string' ? iss : undefined);
    let payload;
    try {
      ({ payload } = await jwtVerify(assertion, keysOf(agent), {
        issuer: agent.id,
        subject: agent.id,
        audience: audiences,
        algorithms: [...config.auth.algorithms],
        clockTolerance: tolerance,
        requiredClaims: ['exp', 'jti'],
      }));
    } catch (err) {
      throw assertionError(err);
    }
    const now = Date.now() / 1000;
    const exp = payload.exp!;
    if (exp - now > ts.assertionMaxAgeSec + tolerance || (typeof payload.iat === 'number' && exp - payload.iat > ts.assertionMaxAgeSec)) {
      throw new OAuthError('client_assertion_invalid', `The client assertion lives longer than ${ts.assertionMaxAgeSec}s.`);
    }
    if (typeof payload.jti !== 'string' || payload.jti.length > 256) throw new OAuthError('client_assertion_invalid', 'The client assertion needs a "jti" of at most 256 characters.');
    // RFC 7523 §3 (7): one use. Remembered until the assertion could no longer be accepted anyway.
    const ttlMs = Math.max(1000, Math.ceil((exp + tolerance - now) * 1000));
    if (!(await claim(deps.state, `ca:${agent.id}:${payload.jti}`, ttlMs))) {
      throw new OAuthError('client_assertion_replayed', 'The client assertion was used before; sign a new one per request.');
    }
    return { agent, method: 'private_key_jwt' };
  }

  async function bySecret(id: string, secret: string, method: ClientAuthMethod): Promise<AuthenticatedClient> {
    const agent = agentFor(id);
    const hashes = agent.credentials?.secretHashes ?? [];
    if (hashes.length === 0) throw new OAuthError('client_method_not_allowed', `Agent ${JSON.stringify(agent.id)} authenticates with keys (private_key_jwt), not a secret.`, BASIC);
    if (!(await deps.secrets.verify(agent.id, secret, hashes))) throw new OAuthError('client_secret_invalid', 'The client secret is not valid.', BASIC);
    return { agent, method };
  }

  return async function authenticateClient(form: TokenForm, authorization: string | undefined): Promise<AuthenticatedClient> {
    const basic = authorization !== undefined && /^basic /i.test(authorization);
    const used = [basic, form.has('client_secret'), form.has('client_assertion')].filter(Boolean).length;
    if (used > 1) throw new OAuthError('client_auth_multiple', 'Use exactly one client authentication method (RFC 6749 §2.3).');
    if (form.has('client_assertion')) return byAssertion(form);
    if (basic) {
      const [id, secret] = decodeBasic(authorization!);
      if (form.has('client_id') && form.get('client_id') !== id) throw new OAuthError('parameter_invalid', 'client_id does not match the Basic credentials.');
      return bySecret(id, secret, 'client_secret_basic');
    }
    if (form.has('client_secret')) {
      const id = form.get('client_id');
      if (id === undefined) throw new OAuthError('parameter_missing', 'client_secret_post needs client_id.');
      return bySecret(id, form.get('client_secret')!, 'client_secret_post');
    }
    throw new OAuthError('client_auth_missing', 'The client must authenticate: private_key_jwt, client_secret_basic or client_secret_post.', BASIC);
  };
}

const BASIC = { 'www-authenticate': 'Basic realm="portcullis"' };

/** RFC 6749 §2.3.1: client id and secret are form-urlencoded before Basic encoding; undefined when malformed. */
export function basicCredentials(authorization: string): [string, string] | undefined {
  const text = Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon < 0) return undefined;
  try {
    return [decodeURIComponent(text.slice(0, colon).replace(/\+/g, ' ')), decodeURIComponent(text.slice(colon + 1).replace(/\+/g, ' '))];
  } catch {
    return undefined;
  }
}

function decodeBasic(authorization: string): [string, string] {
  const creds = basicCredentials(authorization);
  if (!creds) throw new OAuthError('client_secret_invalid', 'The Basic credentials are malformed (id:secret, each form-urlencoded).', BASIC);
  return creds;
}

async function claim(state: StateStore, key: string, ttlMs: number): Promise<boolean> {
  try {
    return await state.claimOnce(key, ttlMs);
  } catch {
    throw new OAuthError('state_unavailable', 'Single use cannot be checked right now (the shared state store is unreachable); retry shortly.');
  }
}

function assertionError(err: unknown): OAuthError {
  if (err instanceof OAuthError) return err;
  if (err instanceof errors.JWTExpired) return new OAuthError('client_assertion_expired', 'The client assertion has expired.');
  if (err instanceof errors.JWTClaimValidationFailed && err.claim === 'aud') {
    return new OAuthError('client_assertion_audience', 'The client assertion\'s "aud" must be this issuer or its token endpoint.');
  }
  if (err instanceof errors.JWTClaimValidationFailed) return new OAuthError('client_assertion_invalid', `The client assertion's "${err.claim}" claim is not valid.`);
  if (err instanceof errors.JWKSTimeout || (err instanceof Error && !(err instanceof errors.JOSEError))) {
    return new OAuthError('client_keys_unavailable', "The agent's keys could not be read; the assertion cannot be checked.");
  }
  return new OAuthError('client_assertion_invalid', 'The client assertion does not verify with the agent\'s registered keys.');
}

export { claim as claimOnce };
