/**
 * Key sets behind each trusted issuer. `jwks_uri` uses jose's remote set (HTTP caching, refetch on
 * an unknown `kid` after a cooldown, so key rotation needs no restart). `jwks_file` is re-read when
 * the file changes, checked at most once a second, so a rotated file is picked up the same way.
 */
import { readFileSync, statSync } from 'node:fs';
import { createLocalJWKSet, createRemoteJWKSet, errors, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import type { IssuerConfig } from '../config/compile.js';

export function createKeySet(issuer: IssuerConfig, remote: { cacheMaxAgeMs: number; cooldownMs: number }): JWTVerifyGetKey {
  return withEd25519Alias(keySetOf(issuer, remote));
}

/**
 * RFC 9864 names EdDSA over Ed25519 `Ed25519`; clients such as oauth4webapi sign with that name while
 * most published JWKS still say `"alg": "EdDSA"` (jose matches `alg` exactly). The same key serves
 * both names: on no match, look the key up under the other name.
 */
export function withEd25519Alias(getKey: JWTVerifyGetKey): JWTVerifyGetKey {
  return async function aliasedKey(header, token) {
    try {
      return await getKey(header, token);
    } catch (err) {
      const other = header.alg === 'Ed25519' ? 'EdDSA' : header.alg === 'EdDSA' ? 'Ed25519' : undefined;
      if (other === undefined || !(err instanceof errors.JWKSNoMatchingKey)) throw err;
      return getKey({ ...header, alg: other }, token);
    }
  };
}

function keySetOf(issuer: IssuerConfig, remote: { cacheMaxAgeMs: number; cooldownMs: number }): JWTVerifyGetKey {
  if (issuer.jwksUri) {
    return createRemoteJWKSet(new URL(issuer.jwksUri), {
      timeoutDuration: 5_000,
      cooldownDuration: remote.cooldownMs,
      cacheMaxAge: remote.cacheMaxAgeMs,
    });
  }
  if (!issuer.jwksFile) throw new Error(`issuer ${issuer.issuer} has no key source`);
  return createFileKeySet(issuer.jwksFile);
}

function createFileKeySet(file: string): JWTVerifyGetKey {
  let mtimeMs = -1;
  let checkedAt = 0;
  let current: JWTVerifyGetKey | undefined;
  return async function fileKeySet(header, token) {
    const now = Date.now();
    if (current === undefined || now - checkedAt > 1_000) {
      checkedAt = now;
      const m = statSync(file).mtimeMs;
      if (m !== mtimeMs || current === undefined) {
        current = createLocalJWKSet(JSON.parse(readFileSync(file, 'utf8')) as JSONWebKeySet);
        mtimeMs = m;
      }
    }
    return current(header, token);
  };
}
