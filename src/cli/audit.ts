/** `portcullis audit verify FILE... [--key JWKS_OR_PEM]` and `portcullis audit tail`. */
import { request } from 'undici';
import { loadVerificationKeys, verifyAudit } from '../audit/verify.js';
import { parse, UsageError, type Command } from './args.js';
import { help } from './start.js';

const USAGE = `portcullis audit verify FILE... [--key audit-keys.json|key.pem] [--json]
       portcullis audit tail [--url http://127.0.0.1:8081] [--token TOKEN | env PORTCULLIS_ADMIN_TOKEN] [--from-seq N]`;

export const audit: Command = {
  summary: 'verify audit logs, or follow the live audit stream',
  usage: USAGE,
  async run(argv) {
    const { values, positionals } = parse(
      argv,
      {
        key: { type: 'string' },
        json: { type: 'boolean' },
        url: { type: 'string', default: 'http://127.0.0.1:8081' },
        token: { type: 'string' },
        'from-seq': { type: 'string' },
      },
      true,
    );
    if (values.help) return help(USAGE);
    const [sub, ...rest] = positionals;
    if (sub === 'verify') {
      if (rest.length === 0) throw new UsageError('verify needs at least one audit log file');
      return verify(rest, values.key, values.json === true);
    }
    if (sub === 'tail') {
      if (rest.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(rest[0])}`);
      const token = values.token ?? process.env.PORTCULLIS_ADMIN_TOKEN;
      if (!token) throw new UsageError('tail needs an admin token with the auditor role: --token or PORTCULLIS_ADMIN_TOKEN');
      return tail(values.url!, token, values['from-seq']);
    }
    throw new UsageError('expected `audit verify` or `audit tail`');
  },
};

function verify(files: string[], keyFile: string | undefined, json: boolean): number {
  const report = verifyAudit(files, keyFile ? loadVerificationKeys(keyFile) : undefined);
  if (json) {
    process.stdout.write(JSON.stringify(report, null, 2) + '\n');
    return report.ok ? 0 : 1;
  }
  for (const w of report.warnings) process.stdout.write(`warning: ${w}\n`);
  if (!report.ok) {
    const e = report.error!;
    process.stdout.write(`FAILED: ${e.file}:${e.line} seq ${e.seq ?? '?'}: ${e.problem}\n`);
    return 1;
  }
  for (const c of report.chains) {
    const anchor = c.lastCheckpoint === null ? 'no checkpoint yet' : `last checkpoint at seq ${c.lastCheckpoint}`;
    process.stdout.write(`chain ${c.chain}: seq ${c.first}..${c.last}, ${c.records} records in ${c.files} file(s), intact; ${anchor}; ${c.unanchored} event(s) not yet anchored\n`);
  }
  process.stdout.write(report.signaturesChecked ? 'checkpoint signatures verified\n' : 'checkpoint signatures NOT checked (give --key with the keys from /.well-known/portcullis-audit-keys.json)\n');
  return 0;
}

async function tail(base: string, token: string, fromSeq: string | undefined): Promise<number> {
  const url = new URL('/admin/audit/stream', base);
  if (fromSeq !== undefined) url.searchParams.set('from_seq', fromSeq);
  const res = await request(url, { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' }, bodyTimeout: 0 });
  if (res.statusCode !== 200) {
    process.stderr.write(`portcullis audit: the gateway answered ${res.statusCode}: ${await res.body.text()}\n`);
    return 1;
  }
  let buf = '';
  for await (const chunk of res.body) {
    buf += chunk.toString();
    let end;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const event = buf.slice(0, end);
      buf = buf.slice(end + 2);
      for (const line of event.split('\n')) if (line.startsWith('data: ')) process.stdout.write(line.slice(6) + '\n');
    }
  }
  return 0;
}
