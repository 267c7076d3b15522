/**
 * A gateway with its token service on a known port (the issuer URL must be known before it starts),
 * agents with real key pairs (JWKS files on disk) and, where asked, scrypt secret hashes.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
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
