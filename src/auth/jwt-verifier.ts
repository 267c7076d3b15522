/**
 * The jose adapter: verifies a compact JWS against the trusted issuers and turns every jose failure
 * into one of our reason codes (callers never see a jose error). Used for agents' capability tokens
 * and for admin tokens, with different issuers, audiences and lifetime limits.
 */
import { decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { IssuerConfig } from '../config/compile.js';
import { GatewayError, type Reason } from '../errors.js';
import { createKeySet } from './key-sets.js';

export interface JwtVerifierOptions {
  readonly issuers: readonly IssuerConfig[];
  readonly algorithms: readonly string[];
  readonly clockToleranceSec: number;
  readonly maxTokenBytes: number;
  /** Remote JWKS caching: how long a fetched set is trusted, and the minimum gap between refetches on an unknown kid. */
  readonly jwks: { readonly cacheMaxAgeMs: number; readonly cooldownMs: number };
  /** Refuse a token whose `exp - iat` is longer than this (capability tokens must be short-lived). */
  readonly maxTtlSec?: number;
  readonly requiredClaims: readonly string[];
}

export type JwtVerifier = (token: string) => Promise<JWTPayload>;

// RFC 7515 §7.1 compact serialisation: three base64url parts. An empty signature (alg: none) fails here.
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

export function createJwtVerifier(opts: JwtVerifierOptions): JwtVerifier {
  const byIssuer = new Map<string, { config: IssuerConfig; keys: JWTVerifyGetKey }>();
  for (const config of opts.issuers) byIssuer.set(config.issuer, { config, keys: createKeySet(config, opts.jwks) });
  const algorithms = [...opts.algorithms];
  const requiredClaims = [...opts.requiredClaims];

  return async function verifyJwt(token: string): Promise<JWTPayload> {
    if (token.length > opts.maxTokenBytes) throw new GatewayError('token_too_large', `The token is longer than ${opts.maxTokenBytes} bytes.`);
    if (!COMPACT_JWS.test(token)) {
      throw new GatewayError(token.endsWith('.') ? 'token_algorithm_refused' : 'token_malformed', 'The token is not a signed compact JWT.');
    }
    let alg: unknown;
    let iss: unknown;
    try {
      alg = decodeProtectedHeader(token).alg;
      iss = decodeJwt(token).iss;
    } catch {
      throw new GatewayError('token_malformed', 'The token header or claims are not valid JSON.');
    }
    if (typeof alg !== 'string' || !algorithms.includes(alg)) {
      throw new GatewayError('token_algorithm_refused', `The token's algorithm ${JSON.stringify(alg)} is not accepted.`);
    }
    if (typeof iss !== 'string') throw new GatewayError('token_claim_missing', 'The token has no "iss" claim.');
    const issuer = byIssuer.get(iss);
    if (!issuer) throw new GatewayError('token_issuer_unknown', 'The token was issued by an issuer this gateway does not trust.');

    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, issuer.keys, {
        issuer: iss,
        audience: [...issuer.config.audiences],
        algorithms,
        clockTolerance: opts.clockToleranceSec,
        requiredClaims,
      }));
    } catch (err) {
      throw mapJoseError(err);
    }
    const nowSec = Date.now() / 1000;
    if (typeof payload.iat !== 'number' || typeof payload.exp !== 'number' || typeof payload.jti !== 'string') {
      throw new GatewayError('token_claim_invalid', 'The token\'s "iat", "exp" or "jti" claim has the wrong type.');
    }
    if (payload.iat > nowSec + opts.clockToleranceSec) throw new GatewayError('token_issued_in_future', 'The token was issued in the future.');
    if (opts.maxTtlSec !== undefined && payload.exp - payload.iat > opts.maxTtlSec) {
      throw new GatewayError('token_lifetime_too_long', `The token lives longer than the allowed ${opts.maxTtlSec}s.`);
    }
    return payload;
  };
}

function mapJoseError(err: unknown): GatewayError {
  const reason = reasonFor(err);
  const message = {
    token_expired: 'The token has expired.',
    token_not_yet_valid: 'The token is not valid yet ("nbf" is in the future).',
    token_claim_missing: `The token lacks a required claim${claimOf(err)}.`,
    token_claim_invalid: `The token's${claimOf(err) || ' claims'} claim does not match what this gateway expects.`,
    token_issued_in_future: 'The token was issued in the future.',
    token_signature_invalid: 'The token signature does not verify.',
    token_key_unknown: "The token's signing key is not among the issuer's keys.",
    token_algorithm_refused: "The token's algorithm is not accepted.",
    token_keys_unavailable: "The issuer's keys could not be fetched; the token cannot be verified.",
    token_malformed: 'The token is malformed.',
  }[reason as string] ?? 'The token is not valid.';
  return new GatewayError(reason, message);
}

function reasonFor(err: unknown): Reason {
  if (err instanceof errors.JWTExpired) return 'token_expired';
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.reason === 'missing') return 'token_claim_missing';
    if (err.claim === 'nbf') return 'token_not_yet_valid';
    if (err.claim === 'iat') return 'token_issued_in_future';
    return 'token_claim_invalid';
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'token_signature_invalid';
  if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) return 'token_key_unknown';
  if (err instanceof errors.JOSEAlgNotAllowed || err instanceof errors.JOSENotSupported) return 'token_algorithm_refused';
  if (err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid || err instanceof errors.JWKInvalid) return 'token_keys_unavailable';
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) return 'token_malformed';
  // Anything else (a network error fetching the JWKS, a file that vanished) means we cannot verify: fail closed.
  return 'token_keys_unavailable';
}

function claimOf(err: unknown): string {
  return err instanceof errors.JWTClaimValidationFailed ? ` "${err.claim}"` : '';
}
