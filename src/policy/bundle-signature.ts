/**
 * OPA bundle signing (openpolicyagent.org/docs/management-bundles#signing): `/.signatures.json`
 * holds exactly one JWT whose `files` list names every other file of the bundle with its hash, and
 * the JWT is signed by a key configured out of band. Verified here the way OPA's own reader does
 * (v1/bundle/verify.go): the signature against the configured key (jose), an optional `scope`, every
 * file listed and every listed file present, each hash matching. Structured files (data.json, YAML
 * data, .manifest) are hashed over their parsed value with object keys sorted, so the signature
 * does not depend on whitespace; others over their bytes.
 */
import { createHash } from 'node:crypto';
import { compactVerify, importSPKI, type CryptoKey } from 'jose';
import { BundleError } from './bundle.js';

export interface BundleVerifier {
  readonly key: CryptoKey | Uint8Array;
  readonly algorithm: string;
  /** When set, the JWT's `scope` must equal it. */
  readonly scope?: string;
}

const SIGNATURES = '/.signatures.json';
const HASHES: Record<string, string> = { 'SHA-256': 'sha256', 'SHA-384': 'sha384', 'SHA-512': 'sha512', 'SHA-512-256': 'sha512-256', 'SHA-224': 'sha224' };

export async function createBundleVerifier(pem: string, algorithm: string, scope?: string): Promise<BundleVerifier> {
  try {
    return { key: await importSPKI(pem, algorithm), algorithm, scope };
  } catch (err) {
    throw new BundleError(`the bundle signing key is not a ${algorithm} public key in PEM (SPKI): ${(err as Error).message}`);
  }
}

/** Throws a BundleError unless the bundle's files are exactly those its valid signature lists. */
export async function verifyBundleSignature(files: ReadonlyMap<string, Buffer>, verifier: BundleVerifier): Promise<void> {
  const raw = files.get(SIGNATURES);
  if (!raw) throw new BundleError('the bundle is not signed (no /.signatures.json) and policy.require_signature is on');
  let signatures: unknown;
  try {
    signatures = (JSON.parse(raw.toString('utf8')) as { signatures?: unknown }).signatures;
  } catch {
    throw new BundleError('the bundle\'s /.signatures.json is not valid JSON');
  }
  if (!Array.isArray(signatures) || signatures.length !== 1 || typeof signatures[0] !== 'string') {
    throw new BundleError('/.signatures.json must hold exactly one JWT');
  }
  let claims: { files?: unknown; scope?: unknown };
  try {
    const { payload } = await compactVerify(signatures[0], verifier.key, { algorithms: [verifier.algorithm] });
    claims = JSON.parse(Buffer.from(payload).toString('utf8')) as typeof claims;
  } catch (err) {
    throw new BundleError(`the bundle signature does not verify with the configured key: ${(err as Error).message}`);
  }
  if (verifier.scope !== undefined && claims.scope !== verifier.scope) throw new BundleError(`the bundle signature's scope is not ${JSON.stringify(verifier.scope)}`);
  if (!Array.isArray(claims.files)) throw new BundleError('the bundle signature lists no files');

  const listed = new Map<string, { hash: string; algorithm: string }>();
  for (const f of claims.files as { name?: unknown; hash?: unknown; algorithm?: unknown }[]) {
    if (typeof f?.name !== 'string' || typeof f.hash !== 'string' || typeof f.algorithm !== 'string') throw new BundleError('the bundle signature has a malformed file entry');
    listed.set(`/${f.name.replace(/^\/+/, '')}`, { hash: f.hash.toLowerCase(), algorithm: f.algorithm });
  }
  for (const [path, content] of files) {
    if (path === SIGNATURES) continue;
    const entry = listed.get(path);
    if (!entry) throw new BundleError(`${path} is in the bundle but not in its signature`);
    const hashName = HASHES[entry.algorithm];
    if (!hashName) throw new BundleError(`${path}: hashing algorithm ${JSON.stringify(entry.algorithm)} is not accepted`);
    const digest = createHash(hashName).update(hashInput(path, content)).digest('hex');
    if (digest !== entry.hash) throw new BundleError(`${path}: digest mismatch with the bundle signature`);
    listed.delete(path);
  }
  if (listed.size > 0) throw new BundleError(`the bundle signature names files the bundle lacks: ${[...listed.keys()].join(', ')}`);
}

function hashInput(path: string, content: Buffer): Buffer | string {
  const base = path.slice(path.lastIndexOf('/') + 1);
  if (base !== 'data.json' && base !== '.manifest') return content;
  let value: unknown;
  try {
    value = JSON.parse(content.toString('utf8'));
  } catch {
    throw new BundleError(`${path} is not valid JSON`);
  }
  return sortedJson(value);
}

/**
 * OPA's structured hash: Go's encoding of the value with object keys sorted and no HTML escaping.
 * Numbers are written as JavaScript writes them; a literal Go would keep differently (1.0, 1e3)
 * makes the digest differ and the bundle is refused — never accepted unsigned.
 */
function sortedJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(sortedJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const keys = Object.keys(v).sort(byUtf8);
    return `{${keys.map((k) => `${goString(k)}:${sortedJson((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return typeof v === 'string' ? goString(v) : JSON.stringify(v);
}

/** Go escapes U+2028 and U+2029 even without HTML escaping; JSON.stringify does not. */
function goString(s: string): string {
  return JSON.stringify(s).replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/** Go sorts map keys by their UTF-8 bytes. */
function byUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
