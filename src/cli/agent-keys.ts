/**
 * `portcullis agents keygen|secret|assert` — set an agent up for the token service (docs/identity.md):
 * a key pair whose public JWKS goes into the registry, or a client secret shown once with the hash
 * to store, and a client assertion (private_key_jwt) for scripts and the README's first call.
 */
import { randomUUID, createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SignJWT, type JWK } from 'jose';
import { hashSecret, newClientSecret } from '../identity/client-secrets.js';
import { jwkThumbprint } from '../identity/signing-keys.js';
import { isValidId } from '../auth/identifiers.js';
import { parseDuration } from '../config/units.js';
import { UsageError } from './args.js';

export async function keygen(agent: string, opts: { out?: string; alg?: string; force?: boolean }): Promise<number> {
  checkAgent(agent);
  const alg = opts.alg ?? 'EdDSA';
  if (alg !== 'EdDSA' && alg !== 'ES256') throw new UsageError('--alg must be EdDSA or ES256');
  const dir = resolve(opts.out ?? '.');
  const keyFile = join(dir, `${agent}.key.pem`);
  const jwksFile = join(dir, `${agent}.jwks.json`);
  if (!opts.force && (existsSync(keyFile) || existsSync(jwksFile))) throw new UsageError(`${keyFile} or ${jwksFile} exists (use --force to replace)`);
  const { privateKey, publicKey } = alg === 'EdDSA' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pub = publicKey.export({ format: 'jwk' }) as JWK;
  const jwks = { keys: [{ ...pub, kid: jwkThumbprint(pub), alg, use: 'sig' }] };
  mkdirSync(dir, { recursive: true });
  writeFileSync(keyFile, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
  writeFileSync(jwksFile, `${JSON.stringify(jwks, null, 2)}\n`);
  process.stderr.write(`private key: ${keyFile} (give it to the agent only)\npublic JWKS: ${jwksFile} (agents.${agent}.credentials.jwks_file)\n`);
  process.stdout.write(`${JSON.stringify(jwks, null, 2)}\n`);
  return 0;
}

export async function secret(agent: string): Promise<number> {
  checkAgent(agent);
  const value = newClientSecret();
  const hash = await hashSecret(value);
  process.stdout.write(`client_id:     ${agent}\nclient_secret: ${value}\n\n`);
  process.stdout.write(`Store only the hash, under agents.${agent}.credentials.secret_hashes (keep the old one listed\nuntil the agent uses the new secret):\n  - "${hash}"\n`);
  process.stderr.write('The secret is shown once and is not stored anywhere.\n');
  return 0;
}

/** Prints a client assertion (RFC 7523 §3) signed with the agent's key, for `client_assertion=`. */
export async function assert(agent: string, opts: { key?: string; aud?: string; ttl?: string }): Promise<number> {
  checkAgent(agent);
  if (!opts.key) throw new UsageError('assert needs --key FILE (the agent\'s PKCS#8 private key)');
  if (!opts.aud) throw new UsageError('assert needs --aud URL (the token service\'s issuer or token endpoint)');
  const ttlMs = parseDuration(opts.ttl ?? '60s');
  if (ttlMs === undefined || ttlMs <= 0) throw new UsageError(`--ttl: not a duration: ${opts.ttl}`);
  let key;
  try {
    key = createPrivateKey(readFileSync(opts.key));
  } catch (err) {
    throw new UsageError(`--key: cannot read a private key from ${opts.key}: ${(err as Error).message.split('\n')[0]}`);
  }
  const alg = key.asymmetricKeyType === 'ed25519' ? 'EdDSA' : key.asymmetricKeyType === 'ec' ? 'ES256' : undefined;
  if (!alg) throw new UsageError('--key must be an Ed25519 or P-256 key');
  const kid = jwkThumbprint(createPublicKey(key).export({ format: 'jwk' }) as JWK);
  const now = Math.floor(Date.now() / 1000);
  const jwt = await new SignJWT({})
    .setProtectedHeader({ alg, kid, typ: 'JWT' })
    .setIssuer(agent)
    .setSubject(agent)
    .setAudience(opts.aud)
    .setJti(randomUUID())
    .setIssuedAt(now)
    .setExpirationTime(now + Math.ceil(ttlMs / 1000))
    .sign(key);
  process.stdout.write(`${jwt}\n`);
  return 0;
}

function checkAgent(agent: string | undefined): asserts agent is string {
  if (!agent || !isValidId(agent)) throw new UsageError('--agent ID is required');
}
