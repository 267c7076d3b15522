/**
 * Compact JWS signatures with node:crypto, synchronously: the adapter behind DPoP proofs (one per
 * call, never cacheable) and the token service's own signatures. jose 6 goes through WebCrypto,
 * whose every verify is an async job costing several times the signature itself; here a proof
 * costs one `crypto.verify`. test/identity/native-jws.test.ts pins both directions to jose:
 * what jose signs verifies here, what this signs jose verifies, and the same tampering fails both.
 */
import { constants, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import type { JWK } from 'jose';

interface AlgSpec {
  readonly hash: string | null;
  readonly kty: string;
  readonly crv?: string;
  readonly pss?: boolean;
  readonly ec?: boolean;
}

const ALGS: Readonly<Record<string, AlgSpec>> = {
  EdDSA: { hash: null, kty: 'OKP', crv: 'Ed25519' },
  Ed25519: { hash: null, kty: 'OKP', crv: 'Ed25519' },
  ES256: { hash: 'sha256', kty: 'EC', crv: 'P-256', ec: true },
  ES384: { hash: 'sha384', kty: 'EC', crv: 'P-384', ec: true },
  RS256: { hash: 'sha256', kty: 'RSA' },
  RS384: { hash: 'sha384', kty: 'RSA' },
  RS512: { hash: 'sha512', kty: 'RSA' },
  PS256: { hash: 'sha256', kty: 'RSA', pss: true },
  PS384: { hash: 'sha384', kty: 'RSA', pss: true },
  PS512: { hash: 'sha512', kty: 'RSA', pss: true },
};

export class JwsError extends Error {
  override readonly name = 'JwsError';
}

export interface DecodedJws {
  readonly header: Record<string, unknown>;
  readonly payload: Record<string, unknown>;
  /** The signing input (`header.payload`) and the signature, for verifyJws. */
  readonly input: string;
  readonly signature: Buffer;
}

/** Splits and parses a compact JWS; throws JwsError on anything but three base64url JSON parts. */
export function decodeJws(token: string): DecodedJws {
  const first = token.indexOf('.');
  const second = token.indexOf('.', first + 1);
  if (first < 1 || second < 0 || token.indexOf('.', second + 1) >= 0) throw new JwsError('not a compact JWS');
  const header = parseJson(token.slice(0, first));
  const payload = parseJson(token.slice(first + 1, second));
  return { header, payload, input: token.slice(0, second), signature: Buffer.from(token.slice(second + 1), 'base64url') };
}

/** A public JWK as a KeyObject, checked to suit `alg` (type, curve, RSA ≥ 2048 bits). */
export function publicKeyFor(jwk: JWK, alg: string): KeyObject {
  const spec = ALGS[alg];
  if (!spec) throw new JwsError(`algorithm ${JSON.stringify(alg)} is not supported`);
  if (jwk.kty !== spec.kty || (spec.crv !== undefined && jwk.crv !== spec.crv)) throw new JwsError(`a ${String(jwk.kty)} ${String(jwk.crv ?? '')} key cannot verify ${alg}`);
  let key: KeyObject;
  try {
    key = createPublicKey({ key: jwk as never, format: 'jwk' });
  } catch {
    throw new JwsError('the JWK is not a valid public key');
  }
  if (spec.kty === 'RSA' && (key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) throw new JwsError('RSA keys must be at least 2048 bits');
  return key;
}

export function verifyJws(d: DecodedJws, alg: string, key: KeyObject): boolean {
  const spec = ALGS[alg];
  if (!spec) return false;
  const data = Buffer.from(d.input);
  if (spec.pss) return verify(spec.hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }, d.signature);
  if (spec.ec) return verify(spec.hash, data, { key, dsaEncoding: 'ieee-p1363' }, d.signature);
  return verify(spec.hash, data, key, d.signature);
}

/** Signs `header.payload` with a private key (EdDSA or ES256: the token service's key types). */
export function signJws(header: Record<string, unknown>, payload: Record<string, unknown>, key: KeyObject): string {
  const spec = ALGS[header.alg as string];
  if (!spec) throw new JwsError(`algorithm ${JSON.stringify(header.alg)} is not supported`);
  const input = `${b64(header)}.${b64(payload)}`;
  const sig = spec.ec ? sign(spec.hash, Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }) : sign(spec.hash, Buffer.from(input), key);
  return `${input}.${sig.toString('base64url')}`;
}

function b64(o: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(o)).toString('base64url');
}

function parseJson(part: string): Record<string, unknown> {
  if (!/^[A-Za-z0-9_-]+$/.test(part)) throw new JwsError('a part is not base64url');
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    throw new JwsError('a part is not JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new JwsError('a part is not a JSON object');
  return v as Record<string, unknown>;
}
