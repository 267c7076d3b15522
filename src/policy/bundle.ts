/**
 * An OPA bundle compiled to wasm (`opa build -t wasm`): `/policy.wasm`, `/data.json` and
 * `/.manifest`, loaded into an opa-wasm instance. Every failure — a corrupt archive, a missing
 * module, an entrypoint that is not there — is a BundleError with a message fit for an operator.
 */
import { loadPolicy, type LoadedPolicy } from '@open-policy-agent/opa-wasm';
import { readTarGz } from './tar.js';
import type { InputReads } from './input-reads.js';
import { verifyBundleSignature, type BundleVerifier } from './bundle-signature.js';

export class BundleError extends Error {
  override readonly name = 'BundleError';
}

export interface Manifest {
  readonly revision: string;
  readonly roots?: readonly string[];
  readonly [key: string]: unknown;
}

export interface LoadedBundle {
  readonly policy: LoadedPolicy;
  readonly entrypoint: number;
  readonly revision: string;
  readonly manifest: Manifest;
  readonly bytes: number;
  /** What the policy reads of its input, from the manifest metadata `portcullis policy build` writes. */
  readonly reads?: InputReads;
}

/** With a verifier, the bundle is loaded only when its OPA signature verifies (bundle-signature.ts). */
export async function loadBundle(archive: Buffer, entrypoint: string, verifier?: BundleVerifier): Promise<LoadedBundle> {
  let files: Map<string, Buffer>;
  try {
    files = readTarGz(archive);
  } catch (err) {
    throw new BundleError(`the bundle is not a readable tar.gz: ${(err as Error).message}`);
  }
  if (verifier) await verifyBundleSignature(files, verifier);
  const wasm = files.get('/policy.wasm');
  if (!wasm) throw new BundleError('the bundle has no /policy.wasm: build it with `opa build -t wasm` (portcullis policy build)');
  const manifest = parseJson<Manifest>(files.get('/.manifest'), '/.manifest') ?? { revision: '' };
  const data = parseJson<Record<string, unknown>>(files.get('/data.json'), '/data.json') ?? {};

  let policy: LoadedPolicy;
  try {
    policy = await loadPolicy(wasm);
    policy.setData(data);
  } catch (err) {
    throw new BundleError(`the wasm module failed to load: ${describe(err)}`);
  }
  const id = policy.entrypoints[entrypoint];
  if (id === undefined) {
    throw new BundleError(`the bundle has no entrypoint ${entrypoint} (it has: ${Object.keys(policy.entrypoints).join(', ') || 'none'})`);
  }
  return { policy, entrypoint: id, revision: String(manifest.revision ?? ''), manifest, bytes: archive.length, reads: manifestReads(manifest) };
}

/**
 * `metadata.portcullis.input_reads` of the manifest, when it is well formed. A bundle built by plain
 * `opa build` has none, and its decisions are not cached (nothing says what its policy reads).
 */
function manifestReads(manifest: Manifest): InputReads | undefined {
  const r = ((manifest.metadata as { portcullis?: { input_reads?: unknown } } | undefined)?.portcullis)?.input_reads as
    | { paths?: unknown; impure?: unknown }
    | undefined;
  if (!r || typeof r !== 'object') return undefined;
  const strings = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');
  const paths = r.paths === null ? null : Array.isArray(r.paths) && r.paths.every((p) => strings(p) && p.length > 0) ? (r.paths as string[][]) : undefined;
  if (paths === undefined || !strings(r.impure)) return undefined;
  return { paths, impure: r.impure };
}

function parseJson<T>(buf: Buffer | undefined, name: string): T | undefined {
  if (!buf) return undefined;
  try {
    return JSON.parse(buf.toString('utf8')) as T;
  } catch (err) {
    throw new BundleError(`the bundle's ${name} is not valid JSON: ${(err as Error).message}`);
  }
}

/** opa-wasm throws plain strings and objects; turn whatever it threw into text. */
export function describe(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err === 'string') return err;
  if (err && typeof err === 'object' && 'message' in err) return String((err as { message: unknown }).message);
  return String(err);
}
