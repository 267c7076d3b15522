/** Builds policy bundles for tests with the real CLI and the real opa compiler. */
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from './cli.js';

export const REPO_POLICIES = fileURLToPath(new URL('../../policies', import.meta.url));
export const SHIPPED_BUNDLE = join(REPO_POLICIES, 'build', 'bundle.tar.gz');

/**
 * Copies the shipped policies (or writes `rego` alone), applies `editData` to data.yaml's text,
 * builds with `portcullis policy build`, and returns the bundle's path.
 */
export async function buildPolicyBundle(opts: { editData?: (yaml: string) => string; rego?: string; entrypoint?: string; signingKey?: string; signingAlg?: string } = {}): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-policy-'));
  const src = join(dir, 'policies');
  if (opts.rego) {
    cpSync(REPO_POLICIES, src, { recursive: true, filter: (p) => !p.endsWith('.rego') && !p.includes('/build') });
    writeFileSync(join(src, 'custom.rego'), opts.rego);
  } else {
    cpSync(REPO_POLICIES, src, { recursive: true, filter: (p) => !p.includes('/build') });
  }
  if (opts.editData) writeFileSync(join(src, 'data.yaml'), opts.editData(readFileSync(join(src, 'data.yaml'), 'utf8')));
  const out = join(dir, 'bundle.tar.gz');
  const sign = opts.signingKey ? ['--signing-key', opts.signingKey, '--signing-alg', opts.signingAlg ?? 'RS256'] : [];
  const r = await runCli(['policy', 'build', '--dir', src, '--out', out, '--entrypoint', opts.entrypoint ?? 'portcullis/decision', ...sign], { timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`policy build failed: ${r.stderr}`);
  return out;
}

/** `YYYY-MM-DDTHH:MM:SSZ` `seconds` from now. */
export function utcIn(seconds: number): string {
  return new Date(Date.now() + seconds * 1000).toISOString().slice(0, 19) + 'Z';
}

/** A data.yaml edit for reload tests: sales ops agents may also write tickets. */
export function letSalesWriteTickets(yaml: string): string {
  const from = '    ticketing: { read: "*" }\n    warehouse: { read: [list-views, query-view] }';
  if (!yaml.includes(from)) throw new Error('data.yaml changed: update letSalesWriteTickets');
  return yaml.replace(from, '    ticketing: { read: "*", write: "*" }\n    warehouse: { read: [list-views, query-view] }');
}

/** Calls `probe` every 100 ms until `done(result)` or the deadline; returns the last result. */
export async function pollUntil<T>(probe: () => Promise<T>, done: (v: T) => boolean, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let v = await probe();
  while (!done(v) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    v = await probe();
  }
  return v;
}
