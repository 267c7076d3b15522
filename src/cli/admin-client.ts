/** The thin admin-API client behind `kill`, `revive`, `revoke`, `approvals`, `agents`: --url and --token (or PORTCULLIS_ADMIN_TOKEN). */
import { request } from 'undici';
import { UsageError } from './args.js';
import { renderTable, type TableView } from './table.js';

export const ADMIN_OPTIONS = {
  url: { type: 'string', default: 'http://127.0.0.1:8081' },
  token: { type: 'string' },
  // The admin API's answer unchanged (for scripts); without it, lists are tables and timestamps RFC 3339.
  json: { type: 'boolean' },
} as const;

export async function adminCall(values: { url?: string; token?: string; json?: boolean }, method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown, view?: TableView): Promise<number> {
  const token = values.token ?? process.env.PORTCULLIS_ADMIN_TOKEN;
  if (!token) throw new UsageError('needs an admin token: --token or PORTCULLIS_ADMIN_TOKEN');
  let res;
  try {
    res = await request(new URL(path, values.url ?? 'http://127.0.0.1:8081'), {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    process.stderr.write(`cannot reach the admin API at ${values.url}: ${(err as Error).message}\n`);
    return 1;
  }
  const text = await res.body.text();
  if (res.statusCode >= 300) {
    let message = text;
    try {
      const e = JSON.parse(text) as { error?: string; message?: string };
      message = `${e.error}: ${e.message}`;
    } catch {
      // not JSON: print as is
    }
    process.stderr.write(`the gateway refused (${res.statusCode}) ${message}\n`);
    return 1;
  }
  process.stdout.write(values.json ? (text.endsWith('\n') ? text : `${text}\n`) : forPeople(text, view));
  return 0;
}

/** A list as a table, any other answer as indented JSON with RFC 3339 timestamps. */
function forPeople(text: string, view: TableView | undefined): string {
  let answer: unknown;
  try {
    answer = JSON.parse(text);
  } catch {
    return text.endsWith('\n') ? text : `${text}\n`;
  }
  const table = view && typeof answer === 'object' && answer !== null ? renderTable(answer as Record<string, unknown>, view) : undefined;
  return table ?? `${JSON.stringify(answer, (k, v) => (typeof v === 'number' && v > 1e12 && /(_at|^at|expires)$/.test(k) ? new Date(v).toISOString() : v), 2)}\n`;
}
