/**
 * An OPA bundle compiled to wasm (`opa build -t wasm`): `/policy.wasm`, `/data.json` and
 * `/.manifest`, loaded into an opa-wasm instance. Every failure — a corrupt archive, a missing
 * module, an entrypoint that is not there — is a BundleError with a message fit for an operator.
 */
import { loadPolicy, type LoadedPolicy } from '@open-policy-agent/opa-wasm';
import { readTarGz } from './tar.js';

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
}

export async function loadBundle(archive: Buffer, entrypoint: string): Promise<LoadedBundle> {
  let files: Map<string, Buffer>;
  try {
    files = readTarGz(archive);
  } catch (err) {
    throw new BundleError(`the bundle is not a readable tar.gz: ${(err as Error).message}`);
  }
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
  return { policy, entrypoint: id, revision: String(manifest.revision ?? ''), manifest, bytes: archive.length };
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
