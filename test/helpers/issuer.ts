/** A test token issuer: real keys, a JWKS file on disk, and a signer that can also forge bad tokens. */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';

export interface TestIssuer {
  readonly issuer: string;
  readonly jwksFile: string;
  readonly publicJwk: JWK;
  readonly kid: string;
  sign(claims?: Record<string, unknown>, opts?: { header?: Record<string, unknown>; key?: CryptoKey; omit?: string[] }): Promise<string>;
  /** A token for `agent` with sane defaults: 5 minutes, aud portcullis, a jti. */
  token(agent: string, scope: string, extra?: Record<string, unknown>): Promise<string>;
}

export async function createTestIssuer(issuer = 'https://idp.test', audience = 'portcullis'): Promise<TestIssuer> {
  const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const kid = `k-${randomUUID().slice(0, 8)}`;
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'EdDSA', use: 'sig' };
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-issuer-'));
  const jwksFile = join(dir, 'jwks.json');
  writeFileSync(jwksFile, JSON.stringify({ keys: [publicJwk] }));

  async function sign(claims: Record<string, unknown> = {}, opts: { header?: Record<string, unknown>; key?: CryptoKey; omit?: string[] } = {}) {
    const now = Math.floor(Date.now() / 1000);
    const full: Record<string, unknown> = { iss: issuer, aud: audience, iat: now, exp: now + 300, jti: randomUUID(), ...claims };
    for (const k of opts.omit ?? []) delete full[k];
    return new SignJWT(full).setProtectedHeader({ alg: 'EdDSA', kid, typ: 'JWT', ...opts.header } as { alg: string }).sign(opts.key ?? privateKey);
  }
  return {
    issuer,
    jwksFile,
    publicJwk,
    kid,
    sign,
    token: (agent, scope, extra = {}) => sign({ sub: agent, scope, ...extra }),
  };
}

/** base64url of a JSON value or a string. */
export function b64url(v: unknown): string {
  return Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
}
