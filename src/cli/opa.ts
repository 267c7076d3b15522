/**
 * Finding and running the OPA compiler for `policy build` and `policy test`. `OPA_BIN` wins; else
 * the project's own scripts/opa.sh prints (installing once, with `go install`) the pinned version.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const OPA_SCRIPT = fileURLToPath(new URL('../../scripts/opa.sh', import.meta.url));

export function opaBinary(): string {
  if (process.env.OPA_BIN) return process.env.OPA_BIN;
  if (!existsSync(OPA_SCRIPT)) throw new Error('cannot find opa: set OPA_BIN or run from a checkout that has scripts/opa.sh');
  try {
    return execFileSync('bash', [OPA_SCRIPT], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
  } catch {
    throw new Error('installing opa failed (scripts/opa.sh needs Go and the module proxy); or set OPA_BIN');
  }
}

/** Runs opa with inherited output (in `cwd` when given); returns its exit code. */
export function runOpa(args: string[], cwd?: string): number {
  const r = spawnSync(opaBinary(), args, { stdio: 'inherit', cwd });
  if (r.error) throw r.error;
  return r.status ?? 1;
}

/** Runs opa and returns what it printed on stdout; its stderr is passed through. Throws when it fails. */
export function opaOutput(args: string[]): string {
  const r = spawnSync(opaBinary(), args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 256 * 1024 * 1024 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`opa ${args[0]} exited with ${r.status}`);
  return r.stdout;
}
