/** `portcullis token mint …` — print a capability token signed by the development issuer. */
import { mintDevToken, DEV_ADMIN_AUDIENCE } from '../auth/dev-issuer.js';
import { parseDuration } from '../config/units.js';
import { parse, UsageError, type Command } from './args.js';
import { loadRuntimeConfig } from './config-file.js';
import { help } from './start.js';

const USAGE = `portcullis token mint --agent ID [--user ID] [--roles "r1 r2"] [--via ID,...] [--scope "crm:read tickets:write"]
       [--ttl 5m] [--task ID] [--agent-version V] [--config gateway.yaml] [--verbose]
       portcullis token mint --admin --subject ID --groups "sec-ops approvers" [--ttl 15m]`;

export const token: Command = {
  summary: 'mint a development token (dev.issuer: true only)',
  usage: USAGE,
  async run(argv) {
    const { values, positionals } = parse(
      argv,
      {
        config: { type: 'string', short: 'c' },
        agent: { type: 'string' },
        user: { type: 'string' },
        roles: { type: 'string' },
        via: { type: 'string' },
        scope: { type: 'string' },
        ttl: { type: 'string', default: '5m' },
        task: { type: 'string' },
        'agent-version': { type: 'string' },
        admin: { type: 'boolean' },
        subject: { type: 'string' },
        groups: { type: 'string' },
        verbose: { type: 'boolean', short: 'v' },
      },
      true,
    );
    if (values.help) return help(USAGE);
    if (positionals[0] !== 'mint' || positionals.length !== 1) throw new UsageError('expected `portcullis token mint`');
    const ttlMs = parseDuration(values.ttl ?? '5m');
    if (ttlMs === undefined || ttlMs <= 0) throw new UsageError(`--ttl: not a duration: ${values.ttl}`);
    const config = loadRuntimeConfig(values.config);
    if (!config.dev.issuer) throw new UsageError('token mint needs dev.issuer: true in the config (it signs with the development key)');
    const list = (s: string | undefined) => (s ?? '').split(/[\s,]+/).filter(Boolean);

    let jwt: string;
    if (values.admin) {
      if (!values.subject) throw new UsageError('--admin needs --subject');
      jwt = await mintDevToken(config.dev.keysDir, {
        agent: values.subject,
        ttlSec: ttlMs / 1000,
        audience: DEV_ADMIN_AUDIENCE,
        claims: { [config.admin.rolesClaim]: list(values.groups), amr: ['pwd', 'mfa'], auth_time: Math.floor(Date.now() / 1000) },
      });
    } else {
      if (!values.agent) throw new UsageError('--agent is required');
      if (ttlMs / 1000 > config.auth.maxTokenTtlSec) {
        process.stderr.write(`warning: --ttl ${values.ttl} exceeds auth.max_token_ttl; the gateway will refuse this token\n`);
      }
      // A token the gateway would refuse, or that covers nothing, is worth a word before it is used.
      for (const id of [values.agent, ...list(values.via)]) {
        if (!config.agents.has(id)) process.stderr.write(`warning: agent ${JSON.stringify(id)} is not in the registry of this config; its calls will be refused (agent_unknown)\n`);
      }
      for (const scope of list(values.scope)) {
        const tool = scope.slice(0, scope.indexOf(':'));
        if (!scope.includes(':') || !config.tools.has(tool)) process.stderr.write(`warning: scope ${JSON.stringify(scope)} names no tool of this config (scopes are <tool>:<action> or <tool>:*)\n`);
      }
      jwt = await mintDevToken(config.dev.keysDir, {
        agent: values.agent,
        user: values.user,
        userRoles: values.roles === undefined ? undefined : list(values.roles),
        via: list(values.via),
        scope: values.scope,
        ttlSec: ttlMs / 1000,
        taskId: values.task,
        claims: values['agent-version'] === undefined ? undefined : { agent_version: values['agent-version'] },
      });
    }
    process.stdout.write(`${jwt}\n`);
    if (values.verbose) {
      const claims = JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8')) as { jti?: string; exp?: number };
      process.stderr.write(`jti ${claims.jti} (revoke: portcullis revoke --jti ${claims.jti}), expires ${new Date((claims.exp ?? 0) * 1000).toISOString()}\n`);
    }
    return 0;
  },
};
