/**
 * The token service's signing keys: PKCS#8 PEM files, Ed25519 (EdDSA) or P-256 (ES256). The first
 * key signs; every key is published in the JWKS, so a new key can be added second, published for
 * longer than a token lives, then moved first, and the old one dropped once its tokens expired.
 * `kid` is the key's RFC 7638 thumbprint, so the same file always gets the same id.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { createLocalJWKSet, type JSONWebKeySet, type JWK, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { ConfigError } from '../config/load.js';
import { signJws } from './native-jws.js';

export interface SigningKeys {
  readonly alg: 'EdDSA' | 'ES256';
  readonly kid: string;
  /** Every key's public half, the signing one first. */
  readonly jwks: JSONWebKeySet;
  /** The published keys as a verifier's key set. */
  readonly keySet: JWTVerifyGetKey;
  /** A compact JWS of `claims` (synchronous: node:crypto, see native-jws.ts). */
  sign(claims: JWTPayload, typ: string): string;
}

export function loadSigningKeys(files: readonly string[], opts: { generate: boolean }): SigningKeys {
  if (opts.generate && !existsSync(files[0]!)) generateDevKey(files[0]!);
  const keys = files.map((file, i) => readKey(file, `token_service.signing_keys.${i}`));
  const first = keys[0]!;
  const jwks: JSONWebKeySet = { keys: keys.map((k) => k.jwk) };
  return {
    alg: first.alg,
    kid: first.jwk.kid!,
    jwks,
    keySet: createLocalJWKSet(jwks),
    sign: (claims, typ) => signJws({ alg: first.alg, kid: first.jwk.kid!, typ }, claims, first.key),
  };
}

function readKey(file: string, at: string): { key: KeyObject; alg: 'EdDSA' | 'ES256'; jwk: JWK } {
  let key: KeyObject;
  try {
    key = createPrivateKey(readFileSync(file));
  } catch (err) {
    throw new ConfigError(at, `cannot read a PKCS#8 private key from ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const type = key.asymmetricKeyType;
  const curve = key.asymmetricKeyDetails?.namedCurve;
  const alg = type === 'ed25519' ? 'EdDSA' : type === 'ec' && curve === 'prime256v1' ? 'ES256' : undefined;
  if (!alg) throw new ConfigError(at, `${file} holds a ${type}${curve ? ` ${curve}` : ''} key; use Ed25519 or P-256`);
  const pub = createPublicKey(key).export({ format: 'jwk' }) as JWK;
  return { key, alg, jwk: { ...pub, kid: jwkThumbprint(pub), alg, use: 'sig' } };
}

/** RFC 7638: SHA-256 over the required members in lexicographic order, base64url. */
export function jwkThumbprint(jwk: JWK): string {
  const members =
    jwk.kty === 'OKP' ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x }
    : jwk.kty === 'EC' ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }
    : jwk.kty === 'RSA' ? { e: jwk.e, kty: jwk.kty, n: jwk.n }
    : undefined;
  if (!members || Object.values(members).some((v) => typeof v !== 'string')) throw new Error(`cannot take the thumbprint of a ${String(jwk.kty)} key`);
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}

function generateDevKey(file: string): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const { privateKey } = generateKeyPairSync('ed25519');
  writeFileSync(file, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
  chmodSync(file, 0o600);
}
