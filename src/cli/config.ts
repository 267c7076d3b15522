/** `portcullis config check | schema` — an operator's checks of gateway.yaml before it is deployed. */
import { readFileSync } from 'node:fs';
import { loadConfigFile } from '../config/load.js';
import { compileConfig, type RuntimeConfig } from '../config/compile.js';
import { policyWarnings } from '../config/policy-warnings.js';
import { configJsonSchema } from '../config/json-schema.js';
import { readTarGz } from '../policy/tar.js';
import { parse, UsageError, type Command } from './args.js';
import { DEFAULT_CONFIG } from './config-file.js';
import { help } from './start.js';

const USAGE = `portcullis config check  [--config gateway.yaml] [--json]   validate, compile and warn; exit 0 valid, 2 invalid
       portcullis config schema                                  the JSON Schema of gateway.yaml (schema/gateway.schema.json)`;

export const config: Command = {
  summary: 'check gateway.yaml, or print its JSON Schema',
  usage: USAGE,
  async run(argv) {
    const { values, positionals } = parse(argv, { config: { type: 'string', short: 'c' }, json: { type: 'boolean' } }, true);
    if (values.help) return help(USAGE);
    const [sub, ...extra] = positionals;
    if (extra.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}`);
    if (sub === 'schema') {
      process.stdout.write(`${JSON.stringify(configJsonSchema(), null, 2)}\n`);
      return 0;
    }
    if (sub !== 'check') throw new UsageError('expected check or schema (try --help)');
    const file = values.config ?? DEFAULT_CONFIG;
    const { raw, baseDir } = loadConfigFile(file);
    const runtime = compileConfig(raw, baseDir);
    const warnings = configWarnings(runtime);
    const summary = {
      file,
      valid: true,
      agents: runtime.agents.size,
      tools: runtime.tools.size,
      mcp_tools: [...runtime.tools.values()].filter((t) => t.protocol === 'mcp').length,
      policy: runtime.policy.bundle,
      warnings,
    };
    if (values.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    else {
      process.stdout.write(`${file}: valid — ${summary.agents} agents, ${summary.tools} tools (${summary.mcp_tools} MCP), policy ${summary.policy}\n`);
      for (const w of warnings) process.stdout.write(`warning: ${w}\n`);
    }
    return 0;
  },
};

/** The warnings a start logs and `config check` prints: what the policy's data says of this config. */
export function configWarnings(runtime: RuntimeConfig): string[] {
  if (runtime.policy.remote) return [];
  let data: unknown;
  try {
    const files = readTarGz(readFileSync(runtime.policy.bundle));
    data = JSON.parse(files.get('/data.json')?.toString('utf8') ?? '{}');
  } catch (err) {
    return [`policy.bundle: ${runtime.policy.bundle} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); every call will be refused until it can`];
  }
  return policyWarnings(runtime, data);
}
