/** `portcullis kill | revive | revoke` — the operator's stop buttons, as thin clients of the admin API. */
import { parse, UsageError, type Command } from './args.js';
import { ADMIN_OPTIONS, adminCall } from './admin-client.js';
import { VIEWS } from './table.js';
import { help } from './start.js';

const KILL = `portcullis kill (--agent ID | --user ID | --tool ID | --all) --reason TEXT [--url http://127.0.0.1:8081] [--token T]
       portcullis kill --list`;

export const kill: Command = {
  summary: 'stop an agent, a user, a tool or everything, on every replica',
  usage: KILL,
  async run(argv) {
    const { values } = parse(argv, { ...ADMIN_OPTIONS, agent: { type: 'string' }, user: { type: 'string' }, tool: { type: 'string' }, all: { type: 'boolean' }, reason: { type: 'string' }, list: { type: 'boolean' } });
    if (values.help) return help(KILL);
    if (values.list) return adminCall(values, 'GET', '/admin/kill', undefined, VIEWS.kills);
    const targets = [values.agent && { agent: values.agent }, values.user && { user: values.user }, values.tool && { tool: values.tool }, values.all && { all: true }].filter(Boolean);
    if (targets.length !== 1) throw new UsageError('name exactly one target: --agent, --user, --tool or --all');
    if (!values.reason) throw new UsageError('--reason is required: it goes into the audit trail');
    return adminCall(values, 'POST', '/admin/kill', { target: targets[0], reason: values.reason });
  },
};

const REVIVE = 'portcullis revive KILL_ID [--url …] [--token T]   (needs the admin role)';

export const revive: Command = {
  summary: 'lift a kill',
  usage: REVIVE,
  async run(argv) {
    const { values, positionals } = parse(argv, ADMIN_OPTIONS, true);
    if (values.help) return help(REVIVE);
    if (positionals.length !== 1) throw new UsageError('name the kill to lift: portcullis revive KILL_ID');
    return adminCall(values, 'DELETE', `/admin/kill/${encodeURIComponent(positionals[0]!)}`);
  },
};

const REVOKE = 'portcullis revoke (--jti JTI | --agent ID) [--reason TEXT] [--url …] [--token T]';

export const revoke: Command = {
  summary: 'revoke one token, or every token of an agent issued before now',
  usage: REVOKE,
  async run(argv) {
    const { values } = parse(argv, { ...ADMIN_OPTIONS, jti: { type: 'string' }, agent: { type: 'string' }, reason: { type: 'string' } });
    if (values.help) return help(REVOKE);
    if (Boolean(values.jti) === Boolean(values.agent)) throw new UsageError('name exactly one of --jti or --agent');
    return adminCall(values, 'POST', '/admin/revoke', { ...(values.jti ? { jti: values.jti } : { agent: values.agent }), ...(values.reason ? { reason: values.reason } : {}) });
  },
};
