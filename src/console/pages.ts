/**
 * The operator console at /console/ on the admin listener: approvals (with the captured call), the
 * kill switch, the audit trail, the agents and their trust. Every page reads, and every form acts,
 * through the admin API itself (an in-process request carrying the person's session and CSRF
 * token), so roles, separation of duties, MFA freshness and the audit events are exactly the API's.
 * A page without a session sends the browser to sign in; a form without the session's CSRF token is
 * refused before anything is asked of the API.
 */
import { execFile } from 'node:child_process';
import { open } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AuditTrail } from '../audit/trail.js';
import { GatewayError } from '../errors.js';
import { CSP, esc, form, json, page, STYLE, table, type PageContext } from './html.js';
import { cookieValue, sameSecret, SESSION_COOKIE } from './sessions.js';
import type { Sso } from './sso.js';

type Req = FastifyRequest<{ Params: Record<string, string>; Querystring: Record<string, string>; Body: Record<string, string> }>;

export function registerConsolePages(app: FastifyInstance, sso: Sso, audit: () => AuditTrail | undefined): void {
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 16_384 }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });
  app.get('/console/style.css', (_request, reply) => reply.type('text/css; charset=utf-8').header('cache-control', 'public, max-age=300').send(STYLE));

  async function who(request: FastifyRequest): Promise<(PageContext & { sid: string }) | undefined> {
    const sid = cookieValue(request.headers.cookie, SESSION_COOKIE);
    const s = await sso.sessions.get(sid);
    return s && sid ? { sid, subject: s.subject, roles: [...s.roles].sort(), csrf: s.csrf, mfaFresh: sso.mfaFresh(s) } : undefined;
  }

  /** The admin API, as this person. */
  async function api(p: { sid: string; csrf: string }, method: string, url: string, body?: unknown) {
    const res = await app.inject({ method: method as 'GET', url, headers: { cookie: `${SESSION_COOKIE}=${p.sid}`, 'x-csrf-token': p.csrf, ...(body ? { 'content-type': 'application/json' } : {}) }, payload: body ? JSON.stringify(body) : undefined });
    return { status: res.statusCode, body: res.json() as Record<string, any> };
  }

  const html = (reply: FastifyReply, body: string) =>
    reply.type('text/html; charset=utf-8').header('content-security-policy', CSP).header('x-frame-options', 'DENY').header('cache-control', 'no-store').header('referrer-policy', 'no-referrer').send(body);

  function view(path: string, render: (p: PageContext & { sid: string }, request: Req) => Promise<{ title: string; body: string; refreshSec?: number }>) {
    app.get(path, async (request: Req, reply) => {
      const p = await who(request);
      if (!p) return reply.redirect(`/console/login?next=${encodeURIComponent(request.url.split('?')[0]!)}`, 302);
      const { title, body, refreshSec } = await render(p, request);
      return html(reply, page(title, p, body, { refreshSec, notice: request.query.notice }));
    });
  }

  /** A form's action: CSRF first, then the API; back to `back` with the API's answer as the notice. */
  function action(path: string, call: (p: PageContext & { sid: string }, request: Req) => Promise<{ status: number; body: Record<string, any> }>, back: (request: Req) => string) {
    app.post(path, async (request: Req, reply) => {
      const p = await who(request);
      if (!p) throw new GatewayError('session_invalid', 'The session has ended: sign in again at /console/login.');
      if (typeof request.body?.csrf !== 'string' || !sameSecret(request.body.csrf, p.csrf)) throw new GatewayError('csrf_invalid', 'The form is not from this session.');
      const r = await call(p, request);
      const notice = r.status < 300 ? 'Done.' : `Refused: ${String(r.body.message ?? r.body.error)}`;
      return reply.redirect(`${back(request)}?notice=${encodeURIComponent(notice)}`, 303);
    });
  }

  view('/console/', async (p) => {
    const r = await api(p, 'GET', '/admin/approvals?status=pending');
    if (r.status !== 200) return { title: 'Approvals', body: `<p>${esc(r.body.message)}</p>` };
    const rows = (r.body.approvals as any[]).map((a) => [
      `<a href="/console/approvals/${esc(encodeURIComponent(a.id))}">${esc(a.id)}</a>`,
      esc(a.fingerprint.agent), esc(a.fingerprint.user ?? '—'), esc(`${a.fingerprint.tool} ${a.fingerprint.operation}`),
      esc(`${Math.max(0, Math.round((a.expires_at - Date.now()) / 1000))}s`), esc((a.reasons as string[]).join('; ')),
    ]);
    return { title: 'Approvals waiting', body: table(['approval', 'agent', 'for user', 'call', 'time left', 'why'], rows), refreshSec: 10 };
  });

  view('/console/approvals/:id', async (p, request) => {
    const r = await api(p, 'GET', `/admin/approvals/${encodeURIComponent(request.params.id!)}`);
    if (r.status !== 200) return { title: 'Approval', body: `<p>${esc(r.body.message)}</p>` };
    const a = r.body;
    const c = a.call ?? {};
    const base = `/console/approvals/${encodeURIComponent(a.id)}`;
    const decide = a.status === 'pending'
      ? form(`${base}/approve`, p.csrf, '<textarea name="comment" placeholder="comment"></textarea> <button class="approve">Approve</button>') + form(`${base}/deny`, p.csrf, '<textarea name="comment" placeholder="comment"></textarea> <button class="deny">Deny</button>')
      : `<p>Status: <strong>${esc(a.status)}</strong>${a.decided_by ? ` by ${esc(a.decided_by)}` : ''}${a.comment ? ` — ${esc(a.comment)}` : ''}</p>`;
    const facts = table(['', ''], [
      ['agent', esc(c.agent ?? a.fingerprint.agent)], ['for user', esc(c.user ?? '—')], ['delegation', esc((c.delegation ?? []).join(' → '))],
      ['call', esc(`${c.method ?? a.fingerprint.method} ${c.path ?? a.fingerprint.path}`)], ['tool · operation', esc(`${c.tool} · ${c.operation} (${c.action}, risk ${c.risk}, ${c.classification})`)],
      ['trust', esc(c.trust ? `${c.trust.score} (${c.trust.level})` : '—')], ['why', esc((a.reasons ?? []).join('; '))], ['task', esc(c.task_id ?? '—')],
    ]);
    return { title: `Approval ${a.id}`, body: `${facts}<h2>Query</h2>${json(c.query ?? {})}<h2>Content (${esc(c.content_note ?? 'not recorded')})</h2>${json(c.content ?? null)}${decide}` };
  });
  for (const verb of ['approve', 'deny'] as const) {
    action(`/console/approvals/:id/${verb}`, (p, request) => api(p, 'POST', `/admin/approvals/${encodeURIComponent(request.params.id!)}/${verb}`, { comment: request.body.comment ?? '' }), (request) => `/console/approvals/${encodeURIComponent(request.params.id!)}`);
  }

  view('/console/kills', async (p) => {
    const r = await api(p, 'GET', '/admin/kill');
    if (r.status !== 200) return { title: 'Kill switch', body: `<p>${esc(r.body.message)}</p>` };
    const rows = (r.body.kills as any[]).map((k) => [esc(k.id), esc(JSON.stringify(k.target)), esc(k.reason), esc(k.by), esc(k.at), form(`/console/kills/${encodeURIComponent(k.id)}/lift`, p.csrf, '<button>Lift</button>')]);
    const kill = form('/console/kills', p.csrf, '<select name="kind"><option>agent</option><option>user</option><option>tool</option></select> <input name="target" placeholder="id" required> <input name="reason" placeholder="reason" required> <button class="deny">Kill</button>');
    return { title: 'Kill switch', body: `${table(['kill', 'target', 'reason', 'by', 'at', ''], rows)}<h2>Stop an agent, a user or a tool</h2>${kill}` };
  });
  action('/console/kills', (p, request) => api(p, 'POST', '/admin/kill', { target: { [request.body.kind === 'user' || request.body.kind === 'tool' ? request.body.kind : 'agent']: request.body.target }, reason: request.body.reason ?? '' }), () => '/console/kills');
  action('/console/kills/:id/lift', (p, request) => api(p, 'DELETE', `/admin/kill/${encodeURIComponent(request.params.id!)}`), () => '/console/kills');

  view('/console/audit', async (p, request) => {
    const head = await api(p, 'GET', '/admin/audit/head');
    if (head.status !== 200) return { title: 'Audit', body: `<p>${esc(head.body.message)}</p>` };
    const f = request.query;
    const events = (await recentEvents(audit(), 500)).filter((e) => (!f.agent || e.agent?.id === f.agent) && (!f.tool || e.tool === f.tool) && (!f.outcome || e.outcome?.result === f.outcome)).slice(-100).reverse();
    const filters = `<form method="get" action="/console/audit"><input name="agent" placeholder="agent" value="${esc(f.agent)}"> <input name="tool" placeholder="tool" value="${esc(f.tool)}"> <input name="outcome" placeholder="outcome (ok, refused…)" value="${esc(f.outcome)}"> <button>Filter</button></form>`;
    const rows = events.map((e) => [esc(e.seq), esc(e.ts), esc(e.type), esc(e.agent?.id ?? e.client?.id ?? ''), esc(e.tool ?? ''), esc(e.outcome?.result ?? e.action ?? ''), esc(e.outcome?.reason ?? ''), `<details><summary>record</summary>${json(e)}</details>`]);
    const verified = f.verify === '1' ? await verifyLog(audit()) : undefined;
    const check = verified ?? '<p><a href="/console/audit?verify=1">Verify the chain now</a> (the local log, in a separate process)</p>';
    return { title: 'Audit trail', body: `<p>Chain ${esc(head.body.chain)} at seq ${esc(head.body.seq)}, head ${esc(String(head.body.hash).slice(0, 16))}…</p>${check}${filters}${table(['seq', 'time', 'type', 'agent', 'tool', 'outcome', 'reason', ''], rows)}`, refreshSec: verified ? undefined : 5 };
  });

  view('/console/agents', async (p) => {
    const r = await api(p, 'GET', '/admin/agents');
    if (r.status !== 200) return { title: 'Agents', body: `<p>${esc(r.body.message)}</p>` };
    const override = (id: string) =>
      form(`/console/agents/${encodeURIComponent(id)}/trust`, p.csrf, '<select name="kind"><option>cap</option><option>pin</option><option value="lift">lift</option></select> <input name="score" size="3" placeholder="0-100"> <input name="reason" placeholder="reason" required> <button>Set</button>');
    const rows = (r.body.agents as any[]).map((a) => [esc(a.id), esc(a.owner), esc(a.status), esc(`${a.trust?.score ?? '—'} (${a.trust?.level ?? '—'})`), `<details><summary>breakdown</summary>${json(a.trust ?? a)}</details>`, override(a.id)]);
    return { title: 'Agents', body: table(['agent', 'owner', 'status', 'trust', '', 'pin or cap the score'], rows) };
  });
  action('/console/agents/:id/trust', (p, request) => {
    const b = request.body;
    const body = b.kind === 'lift' ? { pin: null, cap: null, reason: b.reason } : { [b.kind === 'pin' ? 'pin' : 'cap']: Number(b.score), reason: b.reason };
    return api(p, 'PUT', `/admin/agents/${encodeURIComponent(request.params.id!)}/trust`, body);
  }, () => '/console/agents');
}

/**
 * `portcullis audit verify --json` on the local log, in a child process: a long log must not stall
 * the event loop the proxy shares. Rendered as one line: intact (with the record count) or the first
 * bad record.
 */
async function verifyLog(trail: AuditTrail | undefined): Promise<string> {
  if (!trail) return '<p>The audit trail is not open.</p>';
  const bin = fileURLToPath(new URL('../../bin/portcullis.js', import.meta.url));
  const out = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
    execFile(process.execPath, [bin, 'audit', 'verify', trail.path, '--json'], { timeout: 60_000, maxBuffer: 8 * 1024 * 1024 }, (err, stdout) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout }),
    );
  });
  let report: { ok?: boolean; chains?: { records: number; last: number }[]; error?: { line: number; seq: number | null; problem: string } } = {};
  try {
    report = JSON.parse(out.stdout) as typeof report;
  } catch {
    return `<p class="notice">The verification did not finish (exit ${esc(out.code)}).</p>`;
  }
  if (report.ok) return `<p>Verified: the chain is intact (${esc(report.chains?.reduce((n, c) => n + c.records, 0))} records, up to seq ${esc(report.chains?.at(-1)?.last)}).</p>`;
  return `<p class="notice">Verification FAILED at line ${esc(report.error?.line)} (seq ${esc(report.error?.seq)}): ${esc(report.error?.problem)}</p>`;
}

/** The last events of the local log (its tail, up to `max`). */
async function recentEvents(trail: AuditTrail | undefined, max: number): Promise<Record<string, any>[]> {
  if (!trail) return [];
  const fh = await open(trail.path, 'r');
  try {
    const { size } = await fh.stat();
    const length = Math.min(size, 512 * 1024);
    const buf = Buffer.alloc(length);
    await fh.read(buf, 0, length, size - length);
    const lines = buf.toString('utf8').split('\n').slice(size > length ? 1 : 0).filter(Boolean);
    return lines.slice(-max).flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, any>];
      } catch {
        return [];
      }
    });
  } finally {
    await fh.close();
  }
}
