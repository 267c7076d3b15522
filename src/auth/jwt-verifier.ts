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
  /** `typ` values accepted besides none, JWT and at+jwt (lower case, without "application/"). */
  readonly types?: readonly string[];
  /** Key sets held in memory (the token service's own), by issuer, in place of a JWKS file or URL. */
  readonly keySets?: ReadonlyMap<string, JWTVerifyGetKey>;
}

export type JwtVerifier = (token: string) => Promise<JWTPayload>;

// RFC 7515 §7.1 compact serialisation: three base64url parts. An empty signature (alg: none) fails here.
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
// RFC 8725 §3.11: explicit typing. A JWT of another kind (an ID token typed as such, a DPoP proof,
// a logout token) must not be accepted as an access token because its signature verifies.
const BASE_TYPES = ['jwt', 'at+jwt'];
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

export function createJwtVerifier(opts: JwtVerifierOptions): JwtVerifier {
  const byIssuer = new Map<string, { config: IssuerConfig; keys: JWTVerifyGetKey }>();
  for (const config of opts.issuers) byIssuer.set(config.issuer, { config, keys: opts.keySets?.get(config.issuer) ?? createKeySet(config, opts.jwks) });
  const algorithms = [...opts.algorithms];
  const requiredClaims = [...opts.requiredClaims];
  const needsJti = requiredClaims.includes('jti');
  const types = new Set([...BASE_TYPES, ...(opts.types ?? []).map(normaliseType)]);

  return async function verifyJwt(token: string): Promise<JWTPayload> {
    if (token.length > opts.maxTokenBytes) throw new GatewayError('token_too_large', `The token is longer than ${opts.maxTokenBytes} bytes.`);
    if (!COMPACT_JWS.test(token)) {
      throw new GatewayError(token.endsWith('.') ? 'token_algorithm_refused' : 'token_malformed', 'The token is not a signed compact JWT.');
    }
    if (!canonicalParts(token)) throw new GatewayError('token_malformed', 'The token has non-canonical base64url (stray bits in a part\'s last character).');
    let alg: unknown;
    let typ: unknown;
    let iss: unknown;
    try {
      ({ alg, typ } = decodeProtectedHeader(token));
      iss = decodeJwt(token).iss;
    } catch {
      throw new GatewayError('token_malformed', 'The token header or claims are not valid JSON.');
    }
    if (typ !== undefined && (typeof typ !== 'string' || !types.has(normaliseType(typ)))) {
      throw new GatewayError('token_type_refused', `The token's type ${JSON.stringify(typ)} is not an access token type this gateway accepts.`);
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
    if (typeof payload.iat !== 'number' || typeof payload.exp !== 'number' || (needsJti && typeof payload.jti !== 'string')) {
      throw new GatewayError('token_claim_invalid', 'The token\'s "iat", "exp" or "jti" claim has the wrong type.');
    }
    if (payload.iat > nowSec + opts.clockToleranceSec) throw new GatewayError('token_issued_in_future', 'The token was issued in the future.');
    if (opts.maxTtlSec !== undefined && payload.exp - payload.iat > opts.maxTtlSec) {
      throw new GatewayError('token_lifetime_too_long', `The token lives longer than the allowed ${opts.maxTtlSec}s.`);
    }
    return payload;
  };
}

/** RFC 7515 §2 / RFC 4648 §3.5: base64url without padding, the unused bits of the last character zero. */
function canonicalParts(token: string): boolean {
  let end = token.indexOf('.');
  let start = 0;
  for (let i = 0; i < 3; i++) {
    if (!canonicalPart(token, start, end)) return false;
    start = end + 1;
    end = i === 0 ? token.indexOf('.', start) : token.length;
  }
  return true;
}

function canonicalPart(token: string, start: number, end: number): boolean {
  const rest = (end - start) % 4;
  if (rest === 1) return false;
  if (rest === 0) return true;
  const last = B64URL.indexOf(token[end - 1]!);
  // Two characters carry 8 bits of 12 (4 unused), three carry 16 of 18 (2 unused).
  return (last & (rest === 2 ? 0b1111 : 0b11)) === 0;
}

/** RFC 7515 §4.1.9: compared case-insensitively, with "application/" optional. */
function normaliseType(typ: string): string {
  const t = typ.toLowerCase();
  return t.startsWith('application/') ? t.slice('application/'.length) : t;
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
