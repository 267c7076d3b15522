/**
 * The Ed25519 key that signs checkpoints. From `audit.signing_key` (a PKCS#8 PEM file); when the
 * file does not exist and `dev.issuer` is on, one is generated there for development. The public
 * half is published as a JWKS at /.well-known/portcullis-audit-keys.json (kid = its thumbprint).
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { canonical } from './chain.js';

export interface CheckpointSigner {
  readonly kid: string;
  readonly publicJwk: JWK;
  sign(statement: CheckpointStatement): string;
}

/** What a checkpoint signs: the chain's head at one point. */
export interface CheckpointStatement {
  readonly chain: string;
  readonly seq: number;
  readonly hash: string;
  readonly ts: string;
}

export async function loadCheckpointSigner(path: string, opts: { generate: boolean }): Promise<CheckpointSigner> {
  if (!existsSync(path)) {
    if (!opts.generate) throw new Error(`audit.signing_key ${path} does not exist (generate one with: openssl genpkey -algorithm ed25519 -out ${path})`);
    const { privateKey } = generateKeyPairSync('ed25519');
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    writeFileSync(path, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  }
  const privateKey = createPrivateKey(readFileSync(path));
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error(`audit.signing_key ${path} is not an Ed25519 key`);
  const publicJwk = createPublicKey(privateKey).export({ format: 'jwk' }) as JWK;
  const kid = await calculateJwkThumbprint(publicJwk);
  const jwk: JWK = { ...publicJwk, kid, alg: 'EdDSA', use: 'sig' };
  return {
    kid,
    publicJwk: jwk,
    sign: (statement) => sign(null, Buffer.from(canonical(statement)), privateKey).toString('base64url'),
  };
}

/** Verifies a checkpoint signature against a set of public keys (by kid). */
export function verifyCheckpoint(statement: CheckpointStatement, signature: string, kid: string, keys: ReadonlyMap<string, KeyObject>): boolean {
  const key = keys.get(kid);
  if (!key) return false;
  try {
    return verify(null, Buffer.from(canonical(statement)), key, Buffer.from(signature, 'base64url'));
  } catch {
    return false;
  }
}
