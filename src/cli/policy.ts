/** `portcullis policy build | test | eval` — the platform team's loop: write Rego, test it, build the bundle, try a decision. */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { loadBundle, describe } from '../policy/bundle.js';
import { checkDecision } from '../policy/engine.js';
import { inputReads } from '../policy/input-reads.js';
import { policySourceDigest, policySourceFiles } from '../policy/sources.js';
import { parse, UsageError, type Command } from './args.js';
import { opaOutput, runOpa } from './opa.js';
import { help } from './start.js';

const USAGE = `portcullis policy build [--dir policies] [--out policies/build/bundle.tar.gz] [--entrypoint portcullis/decision]
                        [--signing-key PEM --signing-alg RS256]   (OPA bundle signing: adds /.signatures.json)
       portcullis policy test  [--dir policies] [--verbose]
       portcullis policy eval  --input FILE|- [--bundle policies/build/bundle.tar.gz] [--entrypoint portcullis/decision]`;

export const policy: Command = {
  summary: 'build, test and evaluate the Rego policy',
  usage: USAGE,
  async run(argv) {
    const { values, positionals } = parse(
      argv,
      {
        dir: { type: 'string', default: 'policies' },
        out: { type: 'string', default: 'policies/build/bundle.tar.gz' },
        bundle: { type: 'string', default: 'policies/build/bundle.tar.gz' },
        entrypoint: { type: 'string', default: 'portcullis/decision' },
        input: { type: 'string' },
        verbose: { type: 'boolean', short: 'v' },
        'signing-key': { type: 'string' },
        'signing-alg': { type: 'string', default: 'RS256' },
      },
      true,
    );
    if (values.help) return help(USAGE);
    const [sub, ...extra] = positionals;
    if (extra.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}`);
    if (sub === 'build') return build(values.dir!, values.out!, values.entrypoint!, values['signing-key'] ? { key: values['signing-key'], alg: values['signing-alg']! } : undefined);
    if (sub === 'test') return runOpa(['test', values.dir!, '--ignore', 'build', ...(values.verbose ? ['--verbose'] : [])]);
    if (sub === 'eval') {
      if (!values.input) throw new UsageError('eval needs --input FILE (or - for standard input)');
      return evaluate(values.input, values.bundle!, values.entrypoint!);
    }
    throw new UsageError('expected `policy build`, `policy test` or `policy eval`');
  },
};

/**
 * Compiles the sources to a wasm bundle whose manifest also says what the policy reads of its input
 * (src/policy/input-reads.ts; the gateway's decision cache keys on it). The sources are copied into a
 * scratch bundle root with that manifest, so the policy directory is never written to.
 */
async function build(dir: string, out: string, entrypoint: string, signing?: { key: string; alg: string }): Promise<number> {
  const revision = policySourceDigest(dir);
  const files = policySourceFiles(dir);
  const modules = files.filter((f) => f.endsWith('.rego')).map((f) => JSON.parse(opaOutput(['parse', '--format', 'json', f])) as unknown);
  const reads = inputReads(modules);
  const scratch = mkdtempSync(join(tmpdir(), 'portcullis-policy-build-'));
  // Named like the source directory, and compiled from inside the scratch directory, so the module
  // paths in the bundle (and in its error messages) are the same as a plain `opa build <dir>`'s.
  const name = basename(resolve(dir));
  const root = join(scratch, name);
  try {
    for (const f of files) {
      const to = join(root, relative(dir, f));
      mkdirSync(dirname(to), { recursive: true });
      copyFileSync(f, to);
    }
    writeFileSync(join(root, '.manifest'), JSON.stringify({ metadata: { portcullis: { input_reads: reads } } }));
    mkdirSync(dirname(resolve(out)), { recursive: true });
    const sign = signing ? ['--signing-key', resolve(signing.key), '--signing-alg', signing.alg] : [];
    const code = runOpa(['build', '-b', '-t', 'wasm', '-e', entrypoint, '--revision', revision, ...sign, '-o', resolve(out), name], scratch);
    if (code !== 0) return code;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  // Prove the bundle loads and answers before anyone ships it.
  const bundle = await loadBundle(readFileSync(out), entrypoint);
  const cache = reads.impure.length > 0 ? `not cached: calls ${reads.impure.join(', ')}` : reads.paths === null ? 'reads the whole input' : `reads ${reads.paths.length} input paths`;
  process.stdout.write(`built ${out} (${bundle.bytes} bytes, revision ${bundle.revision}; ${cache})\n`);
  return 0;
}

async function evaluate(inputFile: string, bundlePath: string, entrypoint: string): Promise<number> {
  const text = inputFile === '-' ? readFileSync(0, 'utf8') : readFileSync(inputFile, 'utf8');
  let input: unknown;
  try {
    input = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--input is not JSON: ${(err as Error).message}`);
  }
  const bundle = await loadBundle(readFileSync(bundlePath), entrypoint);
  const started = process.hrtime.bigint();
  let rs: unknown;
  try {
    rs = bundle.policy.evaluate(input, bundle.entrypoint);
  } catch (err) {
    process.stderr.write(`portcullis policy: evaluation failed: ${describe(err)}\n`);
    return 1;
  }
  const micros = Number(process.hrtime.bigint() - started) / 1000;
  const d = checkDecision(rs, bundle.revision);
  const result = d.approvalRequired ? 'approval_required' : d.allow ? 'allow' : 'deny';
  process.stdout.write(
    JSON.stringify({ result, allow: d.allow, approval_required: d.approvalRequired, reasons: d.reasons, revision: d.revision, eval_us: Math.round(micros * 10) / 10 }, null, 2) + '\n',
  );
  return 0;
}
