/**
 * A gateway with its token service on a known port (the issuer URL must be known before it starts),
 * agents with real key pairs (JWKS files on disk) and, where asked, scrypt secret hashes.
 */
import { createHash, generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { hashSecret } from '../../src/identity/client-secrets.js';
import { jwkThumbprint } from '../../src/identity/signing-keys.js';
import { freePort } from './cli.js';
import { startGateway, testConfig, type RunningGateway } from './gateway.js';
import type { TestIssuer } from './issuer.js';
import type { GatewayDeps } from '../../src/gateway.js';

export interface AgentKey {
  readonly privateKey: CryptoKey;
  readonly publicJwk: JWK;
  readonly jwksFile: string;
}

export async function agentKey(alg: 'EdDSA' | 'ES256' = 'EdDSA'): Promise<AgentKey> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const pub = await exportJWK(publicKey);
  const publicJwk = { ...pub, kid: jwkThumbprint(pub), alg };
  const jwksFile = join(mkdtempSync(join(tmpdir(), 'portcullis-agent-')), 'jwks.json');
  writeFileSync(jwksFile, JSON.stringify({ keys: [publicJwk] }));
  return { privateKey, publicJwk, jwksFile };
}

/** A PKCS#8 signing key file for the token service. */
export function signingKeyFile(type: 'ed25519' | 'p256' = 'ed25519'): string {
  const { privateKey } = type === 'ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const file = join(mkdtempSync(join(tmpdir(), 'portcullis-ts-key-')), 'key.pem');
  writeFileSync(file, privateKey.export({ format: 'pem', type: 'pkcs8' }));
  return file;
}

/** A cheap scrypt hash (ln=10) so tests stay fast; production hashes use ln=15. */
export function testSecretHash(secret: string): Promise<string> {
  return hashSecret(secret, { ln: 10, r: 8, p: 1 });
}

export interface TokenServiceOptions {
  readonly agents: Record<string, Record<string, unknown>>;
  readonly tools: Record<string, unknown>;
  readonly tokenService?: Record<string, unknown>;
  readonly extra?: Record<string, unknown>;
  /** The issuer URL; by default this gateway's own proxy URL. */
  readonly issuerUrl?: string;
  readonly port?: number;
  readonly deps?: GatewayDeps & { policy?: boolean };
}

export async function startTokenService(issuer: TestIssuer, o: TokenServiceOptions): Promise<RunningGateway & { issuerUrl: string }> {
  const port = o.port ?? (await freePort());
  const issuerUrl = o.issuerUrl ?? `http://127.0.0.1:${port}`;
  const agents: Record<string, Record<string, unknown>> = {};
  for (const [id, a] of Object.entries(o.agents)) agents[id] = { owner: `${id}-owner@example.com`, roles: ['support_agent'], max_classification: 'confidential', ...a };
  const config = testConfig(issuer, o.tools, {
    listen: { proxy: { host: '127.0.0.1', port }, admin: { host: '127.0.0.1', port: 0 } },
    agents,
    token_service: { enabled: true, issuer: issuerUrl, signing_keys: [signingKeyFile()], ttl: '5m', ...o.tokenService },
    ...o.extra,
  });
  const running = await startGateway(config, o.deps);
  return { ...running, issuerUrl };
}

/** The OAuth error an openid-client call failed with: from the body, or (a 401 with a challenge) from the response. */
export async function oauthError(err: unknown): Promise<{ error: string; status: number; reasons: string[]; challenge?: string }> {
  const e = err as { name?: string; error?: string; status?: number; cause?: unknown; response?: Response };
  if (e.response && e.name === 'WWWAuthenticateChallengeError') {
    const body = (await e.response.json()) as { error: string; reasons: string[] };
    return { error: body.error, status: e.response.status, reasons: body.reasons, challenge: e.response.headers.get('www-authenticate') ?? undefined };
  }
  if (e.error !== undefined) return { error: e.error, status: e.status ?? 0, reasons: (e.cause as { reasons: string[] }).reasons };
  throw err;
}

/** A DPoP proof (RFC 9449 §4.2) built by hand, so a test can break any part of it. */
export async function dpopProof(
  key: { privateKey: CryptoKey; publicJwk: JWK },
  o: { htm: string; htu: string; accessToken?: string; iat?: number; jti?: string; jwk?: JWK; typ?: string; alg?: string },
): Promise<string> {
  const claims: Record<string, unknown> = { htm: o.htm, htu: o.htu, iat: o.iat ?? Math.floor(Date.now() / 1000), jti: o.jti ?? randomUUID() };
  if (o.accessToken !== undefined) claims.ath = createHash('sha256').update(o.accessToken).digest('base64url');
  const { kid: _kid, alg: _alg, ...jwk } = o.jwk ?? key.publicJwk;
  return new SignJWT(claims).setProtectedHeader({ alg: o.alg ?? 'EdDSA', typ: o.typ ?? 'dpop+jwt', jwk }).sign(key.privateKey);
}

/** A client assertion (RFC 7523) built by hand, so a test can break any part of it. */
export async function clientAssertion(agent: string, key: { privateKey: CryptoKey }, o: { aud: string; exp?: number; iat?: number; jti?: string; iss?: string; sub?: string; alg?: string }): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = { iss: o.iss ?? agent, sub: o.sub ?? agent, aud: o.aud, iat: o.iat ?? now, exp: o.exp ?? now + 60, jti: o.jti ?? randomUUID() };
  return new SignJWT(claims).setProtectedHeader({ alg: o.alg ?? 'EdDSA' }).sign(key.privateKey);
}

/** POSTs a token request form as given (no client library: for the attacks a library would not send). */
export async function tokenRequest(issuerUrl: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, any>; headers: Headers }> {
  const res = await fetch(`${issuerUrl}/oauth2/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(form).toString() });
  return { status: res.status, body: (await res.json()) as Record<string, any>, headers: res.headers };
}

export const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
