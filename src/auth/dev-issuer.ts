/**
 * The development issuer (`dev.issuer: true`): an Ed25519 key generated on first start in a
 * git-ignored folder, its public half published as a JWKS file the gateway trusts, and a minting
 * function behind `portcullis token mint`. Never enable it in production: anyone who can read the
 * folder can mint tokens.
 */
import { randomUUID } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';

export const DEV_ISSUER = 'portcullis-dev';
export const DEV_AUDIENCE = 'portcullis';
export const DEV_ADMIN_AUDIENCE = 'portcullis-admin';

export function devJwksFile(dir: string): string {
  return join(dir, 'jwks.json');
}

function privateKeyFile(dir: string): string {
  return join(dir, 'issuer-private.jwk.json');
}

/** Creates the development key pair unless it exists. Returns true when it generated a new one. */
export async function ensureDevKeys(dir: string): Promise<boolean> {
  if (existsSync(privateKeyFile(dir)) && existsSync(devJwksFile(dir))) return false;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const kid = `dev-${randomUUID().slice(0, 8)}`;
  const priv = { ...(await exportJWK(privateKey)), kid, alg: 'EdDSA', use: 'sig' };
  const pub = { ...(await exportJWK(publicKey)), kid, alg: 'EdDSA', use: 'sig' };
  writeFileSync(privateKeyFile(dir), JSON.stringify(priv), { mode: 0o600 });
  chmodSync(privateKeyFile(dir), 0o600);
  writeFileSync(devJwksFile(dir), JSON.stringify({ keys: [pub] }, null, 2));
  return true;
}

export interface MintOptions {
  /** The agent presenting the token. */
  agent: string;
  /** The delegating user; makes a delegated token (`sub` = user, `act.sub` = agent). */
  user?: string;
  /** Earlier actors between the agent and the user, outermost first (nested `act`). */
  via?: string[];
  userRoles?: string[];
  scope?: string;
  ttlSec: number;
  taskId?: string;
  audience?: string;
  /** Extra claims (admin tokens: `groups`, `amr`, `auth_time`). */
  claims?: Record<string, unknown>;
}

/** Signs a token with the development key. Throws when the keys were never generated. */
export async function mintDevToken(dir: string, o: MintOptions): Promise<string> {
  if (!existsSync(privateKeyFile(dir))) {
    throw new Error(`no development issuer key in ${dir}: start the gateway once with dev.issuer: true`);
  }
  const jwk = JSON.parse(readFileSync(privateKeyFile(dir), 'utf8')) as JWK;
  const key = await importJWK(jwk, 'EdDSA');
  const claims: Record<string, unknown> = { ...o.claims };
  if (o.scope !== undefined) claims.scope = o.scope;
  if (o.taskId !== undefined) claims.task_id = o.taskId;
  let sub = o.agent;
  if (o.user !== undefined) {
    sub = o.user;
    let act: Record<string, unknown> | undefined;
    for (const actor of [...(o.via ?? [])].reverse()) act = act ? { sub: actor, act } : { sub: actor };
    claims.act = act ? { sub: o.agent, act } : { sub: o.agent };
    if (o.userRoles) claims.roles = o.userRoles;
  }
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'EdDSA', kid: jwk.kid, typ: 'JWT' })
    .setIssuer(DEV_ISSUER)
    .setAudience(o.audience ?? DEV_AUDIENCE)
    .setSubject(sub)
    .setJti(randomUUID())
    .setIssuedAt(now)
    .setExpirationTime(now + o.ttlSec)
    .sign(key);
}
