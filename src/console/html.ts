/**
 * Server-rendered console pages: every value passes through `esc`, the pages load nothing but
 * /console/style.css, and the Content-Security-Policy allows nothing else (no script at all,
 * frames refused), so an agent id, comment or captured body full of markup renders as text.
 */

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function esc(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

export const CSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

export interface PageContext {
  readonly subject: string;
  readonly roles: readonly string[];
  readonly csrf: string;
  readonly mfaFresh: boolean;
}

export function page(title: string, who: PageContext, body: string, opts: { refreshSec?: number; notice?: string } = {}): string {
  const nav = [
    ['/console/', 'Approvals'],
    ['/console/kills', 'Kill switch'],
    ['/console/audit', 'Audit'],
    ['/console/agents', 'Agents'],
  ]
    .map(([href, label]) => `<a href="${href}">${label}</a>`)
    .join(' ');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)} · Portcullis</title>
<link rel="stylesheet" href="/console/style.css">${opts.refreshSec ? `<meta http-equiv="refresh" content="${opts.refreshSec}">` : ''}</head>
<body><header><strong>Portcullis</strong> <nav>${nav}</nav>
<span class="who">${esc(who.subject)} (${esc(who.roles.join(', ') || 'no role')})${who.mfaFresh ? '' : ' · <a href="/console/login?step_up=1">sign in with MFA to act</a>'}</span>
${form('/console/logout', who.csrf, '<button>Sign out</button>')}</header>
<main><h1>${esc(title)}</h1>${opts.notice ? `<p class="notice">${esc(opts.notice)}</p>` : ''}${body}</main></body></html>
`;
}

/** A POST form carrying the session's CSRF token. */
export function form(action: string, csrf: string, inner: string): string {
  return `<form method="post" action="${esc(action)}"><input type="hidden" name="csrf" value="${esc(csrf)}">${inner}</form>`;
}

export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  if (rows.length === 0) return '<p class="empty">Nothing here.</p>';
  return `<table><thead><tr>${headers.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
}

export function json(value: unknown): string {
  return `<pre>${esc(JSON.stringify(value, null, 2))}</pre>`;
}

export const STYLE = `body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1b1f24}header{display:flex;gap:1.5em;align-items:center;padding:.6em 1.2em;background:#1b1f24;color:#fff}
header a{color:#9cd;margin-right:1em}header form{margin-left:auto}.who{opacity:.85}main{padding:1em 1.5em}table{border-collapse:collapse;width:100%}
th,td{text-align:left;border-bottom:1px solid #ddd;padding:.35em .5em;vertical-align:top}pre{background:#f4f5f7;padding:.8em;overflow:auto;max-height:40em}
.notice{background:#fff4ce;padding:.5em}.empty{color:#777}button{cursor:pointer}textarea{width:30em;height:4em}.deny{background:#fdd}.approve{background:#dfd}`;
