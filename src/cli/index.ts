/** `portcullis <command>` — dispatch. Exit codes: 0 success, 1 failure, 2 wrong usage or bad config. */
import { ConfigError } from '../config/load.js';
import { UsageError, type Command } from './args.js';
import { audit } from './audit.js';
import { kill, revive, revoke } from './kill.js';
import { approvals } from './approvals.js';
import { agents } from './agents.js';
import { policy } from './policy.js';
import { start } from './start.js';
import { token } from './token.js';
import { config } from './config.js';
import { version } from './version.js';

const COMMANDS: Record<string, Command> = { start, config, token, policy, audit, kill, revive, revoke, approvals, agents };

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(8)} ${c.summary}`);
  return `usage: portcullis <command> [options]\n       portcullis --version\n\ncommands:\n${lines.join('\n')}\n\nRun \`portcullis <command> --help\` for a command's options.\n`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-V' || name === 'version') {
    process.stdout.write(`portcullis ${version()} (Node.js ${process.version})\n`);
    return 0;
  }
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`portcullis: unknown command ${JSON.stringify(name)} (try --help)\n`);
    return 2;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`portcullis ${name}: ${err.message}\n`);
      return 2;
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`portcullis ${name}: ${err.message}\n`);
      return 2;
    }
    const e = err as NodeJS.ErrnoException;
    process.stderr.write(`portcullis ${name}: ${e.code === 'EADDRINUSE' ? `address in use: ${e.message}` : (e.message ?? String(err))}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`portcullis: ${String(err)}\n`);
    process.exit(1);
  },
);
