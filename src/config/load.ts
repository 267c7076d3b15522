/**
 * gateway.yaml → validated raw config: parse YAML, substitute `${env:NAME}` / `${env:NAME:-default}` /
 * `${file:PATH}` inside string values (after parsing, so a secret can never inject YAML structure),
 * fill defaults and validate against the schema. Every failure is a ConfigError naming the key path.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { TypeCompiler, type ValueError } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';
import { ConfigSchema, type RawConfig } from './schema.js';

/** A configuration mistake: `path` is the dotted key path (`tools.crm.upstream`), `problem` what is wrong. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(path ? `config error at ${path}: ${problem}` : `config error: ${problem}`);
  }
}

const checker = TypeCompiler.Compile(ConfigSchema);
const SUBSTITUTION = /\$\{(env|file):([^}]*)\}/g;

/** Reads and validates a config file. Relative `${file:}` paths resolve against the file's folder. */
export function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): { raw: RawConfig; baseDir: string } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError('', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  const baseDir = dirname(resolve(file));
  return { raw: parseConfig(text, { env, baseDir }), baseDir };
}

/** Parses and validates config text (exported for tests and for the embedded default). */
export function parseConfig(text: string, opts: { env?: NodeJS.ProcessEnv; baseDir?: string } = {}): RawConfig {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    throw new ConfigError('', `invalid YAML at line ${e.linePos?.[0]?.line ?? '?'}: ${e.message.split('\n')[0]}`);
  }
  const parsed: unknown = doc.toJS() ?? {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new ConfigError('', 'the top level must be a mapping of keys');
  const substituted = substitute(parsed, [], opts.env ?? process.env, opts.baseDir ?? process.cwd());
  return validate(substituted);
}

/** Fills defaults and checks the schema; throws the first error, phrased for a person. */
export function validate(value: unknown): RawConfig {
  const withDefaults = Value.Default(ConfigSchema, structuredClone(value));
  // A misspelt key also shows up as a missing required one; the misspelling is the useful report.
  const errors = [...checker.Errors(withDefaults)];
  const first = errors.find((e) => e.message === 'Unexpected property') ?? errors[0];
  if (first) throw new ConfigError(pointerToPath(first.path), describe(first));
  return withDefaults as RawConfig;
}

function substitute(node: unknown, path: string[], env: NodeJS.ProcessEnv, baseDir: string): unknown {
  if (typeof node === 'string') {
    return node.replace(SUBSTITUTION, (_all, kind: string, arg: string) => {
      if (kind === 'env') {
        const [name, fallback] = splitDefault(arg);
        const v = env[name];
        if (v !== undefined && v !== '') return v;
        if (fallback !== undefined) return fallback;
        throw new ConfigError(path.join('.'), `environment variable ${name} is not set`);
      }
      try {
        return readFileSync(resolve(baseDir, arg), 'utf8').replace(/\r?\n$/, '');
      } catch (err) {
        throw new ConfigError(path.join('.'), `cannot read secret file ${arg}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      }
    });
  }
  if (Array.isArray(node)) return node.map((v, i) => substitute(v, [...path, String(i)], env, baseDir));
  if (node && typeof node === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node)) out[k] = substitute(v, [...path, k], env, baseDir);
    return out;
  }
  return node;
}

function splitDefault(arg: string): [string, string | undefined] {
  const i = arg.indexOf(':-');
  return i < 0 ? [arg, undefined] : [arg.slice(0, i), arg.slice(i + 2)];
}

function pointerToPath(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .join('.');
}

function describe(e: ValueError): string {
  const literals = literalChoices(e.schema);
  if (literals) return `must be one of ${literals.join(', ')} (got ${JSON.stringify(e.value)})`;
  if (e.message === 'Unexpected property') return 'unknown key (check the spelling against docs/configuration.md)';
  if (e.value === undefined) return 'is required';
  // A schema that says in words what it accepts (a union of shapes) is described by that.
  const described = (e.schema as { description?: string }).description;
  if (described) return `must be ${described} (got ${JSON.stringify(e.value)})`;
  return `${e.message.replace(/^Expected/, 'expected')} (got ${JSON.stringify(e.value)})`;
}

function literalChoices(schema: unknown): string[] | undefined {
  const anyOf = (schema as { anyOf?: { const?: unknown }[] }).anyOf;
  if (!anyOf || !anyOf.every((s) => typeof s.const === 'string')) return undefined;
  return anyOf.map((s) => String(s.const));
}
