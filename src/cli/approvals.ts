/** `portcullis approvals list | show | approve | deny` — the approver's loop, as a thin admin-API client. */
import { parse, UsageError, type Command } from './args.js';
import { ADMIN_OPTIONS, adminCall } from './admin-client.js';
import { VIEWS } from './table.js';
import { help } from './start.js';

const USAGE = `portcullis approvals list [--status pending|approved|denied|expired|used]
       portcullis approvals show ID
       portcullis approvals approve ID [--comment TEXT]
       portcullis approvals deny ID [--comment TEXT]
       (all: [--url http://127.0.0.1:8081] [--token T | env PORTCULLIS_ADMIN_TOKEN])`;

export const approvals: Command = {
  summary: 'list, approve and deny held calls',
  usage: USAGE,
  async run(argv) {
    const { values, positionals } = parse(argv, { ...ADMIN_OPTIONS, status: { type: 'string' }, comment: { type: 'string' } }, true);
    if (values.help) return help(USAGE);
    const [sub, id, ...rest] = positionals;
    if (rest.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(rest[0])}`);
    if (sub === 'list') {
      if (id !== undefined) throw new UsageError('list takes no id (use show)');
      return adminCall(values, 'GET', `/admin/approvals${values.status ? `?status=${encodeURIComponent(values.status)}` : ''}`, undefined, VIEWS.approvals);
    }
    if (sub !== 'show' && sub !== 'approve' && sub !== 'deny') throw new UsageError('expected `approvals list`, `show`, `approve` or `deny`');
    if (!id) throw new UsageError(`approvals ${sub} needs the approval id`);
    const path = `/admin/approvals/${encodeURIComponent(id)}`;
    if (sub === 'show') return adminCall(values, 'GET', path);
    return adminCall(values, 'POST', `${path}/${sub}`, { comment: values.comment ?? '' });
  },
};
