/**
 * DPoP proof verification (RFC 9449 §4.3), shared by the token endpoint and the proxy. The proof is
 * a JWT typed `dpop+jwt`, signed by the key in its own header; it binds one request (`htm`, `htu`),
 * one moment (`iat`), one use (`jti`, checked by the caller against the replicas' shared cache) and,
 * on a call, one access token (`ath`). The key's RFC 7638 thumbprint is what a token's `cnf.jkt` names.
 */
import { createHash, type KeyObject } from 'node:crypto';
import type { JWK } from 'jose';
import { LRUCache } from 'lru-cache';
import { jwkThumbprint } from './signing-keys.js';
import { decodeJws, JwsError, publicKeyFor, verifyJws } from './native-jws.js';
import { isValidId } from '../auth/identifiers.js';

export interface DpopProof {
  readonly jkt: string;
  readonly jti: string;
  readonly iat: number;
}

export class DpopError extends Error {
  override readonly name = 'DpopError';
}

export interface DpopRequest {
  readonly method: string;
  /** The request's URL without query or fragment, as the server knows itself. */
  readonly url: string;
  /** On a call: the access token the proof must name by `ath`. */
  readonly accessToken?: string;
}

export interface DpopOptions {
  readonly algorithms: readonly string[];
  readonly clockToleranceSec: number;
  readonly maxBytes: number;
}

export type DpopVerifier = (proof: string, request: DpopRequest) => DpopProof;

/**
 * A verifier that remembers the public keys it imported (by thumbprint, bounded): an agent proves
 * the same key on every call, so each later proof costs one signature check.
 */
export function createDpopVerifier(opts: DpopOptions): DpopVerifier {
  const algorithms = new Set(opts.algorithms);
  const keys = new LRUCache<string, KeyObject>({ max: 10_000 });

  return function verifyDpopProof(proof, c) {
    if (proof.length > opts.maxBytes) throw new DpopError('The DPoP proof is not a compact signed JWT.');
    let d;
    try {
      d = decodeJws(proof);
    } catch {
      throw new DpopError('The DPoP proof is not a compact signed JWT.');
    }
    const { header, payload } = d;
    if (header.typ !== 'dpop+jwt') throw new DpopError('The DPoP proof must be typed "dpop+jwt".');
    const alg = header.alg;
    if (typeof alg !== 'string' || !algorithms.has(alg)) throw new DpopError(`The DPoP proof's algorithm ${JSON.stringify(alg)} is not accepted.`);
    const jwk = header.jwk as JWK | undefined;
    if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) throw new DpopError('The DPoP proof carries no public key ("jwk").');
    if ('d' in jwk || 'p' in jwk || 'k' in jwk) throw new DpopError('The DPoP proof\'s "jwk" must be a public key.');
    let jkt: string;
    try {
      jkt = jwkThumbprint(jwk);
    } catch {
      throw new DpopError('The DPoP proof\'s key has no thumbprint.');
    }
    const cacheKey = `${alg}:${jkt}`;
    let key = keys.get(cacheKey);
    try {
      if (!key) {
        key = publicKeyFor(jwk, alg);
        keys.set(cacheKey, key);
      }
      if (!verifyJws(d, alg, key)) throw new JwsError('bad signature');
    } catch {
      throw new DpopError('The DPoP proof signature does not verify with its own key.');
    }
    const { jti, htm, htu, iat, ath } = payload;
    if (!isValidId(jti)) throw new DpopError('The DPoP proof needs a "jti" of 1 to 256 characters.');
    if (htm !== c.method) throw new DpopError(`The DPoP proof is for method ${JSON.stringify(htm)}, not ${c.method}.`);
    if (typeof htu !== 'string' || !sameUrl(htu, c.url)) throw new DpopError(`The DPoP proof's "htu" does not name this URL (${c.url}).`);
    const now = Date.now() / 1000;
    if (typeof iat !== 'number' || Math.abs(now - iat) > opts.clockToleranceSec) throw new DpopError('The DPoP proof\'s "iat" is not within the clock tolerance of now.');
    if (c.accessToken !== undefined && ath !== createHash('sha256').update(c.accessToken).digest('base64url')) {
      throw new DpopError('The DPoP proof\'s "ath" does not match the access token.');
    }
    return { jkt, jti: jti as string, iat };
  };
}

/** RFC 9449 §4.3 (9): compare without query and fragment, after RFC 3986 normalisation (WHATWG URL's). */
export function sameUrl(htu: string, expected: string): boolean {
  if (!URL.canParse(htu)) return false;
  const a = new URL(htu);
  const b = new URL(expected);
  return a.protocol === b.protocol && a.host === b.host && a.pathname === b.pathname && a.username === '' && a.password === '';
}

/** How long a proof's `jti` must be remembered: as long as its `iat` is acceptable, plus a margin. */
export function replayWindowMs(clockToleranceSec: number): number {
  return Math.ceil(clockToleranceSec * 2 * 1000) + 1000;
}
