/**
 * The page where a person decides what an application may do for them: the client, the agent it
 * runs as, where it will be sent back to, and each scope. Server-rendered, every value escaped, no
 * script, never framed (a consent button must not be clickjacked).
 */
import { esc } from '../console/html.js';

export const CONSENT_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'";

export interface ConsentView {
  readonly txn: string;
  readonly csrf: string;
  readonly client: { readonly id: string; readonly name: string };
  readonly agent: string;
  readonly redirectOrigin: string;
  readonly person: string;
  readonly scopes: readonly string[];
}

export function consentPage(v: ConsentView): string {
  const scopes = v.scopes.map((s) => `<li><code>${esc(s)}</code></li>`).join('');
  const hidden = `<input type="hidden" name="txn" value="${esc(v.txn)}"><input type="hidden" name="csrf" value="${esc(v.csrf)}">`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Allow ${esc(v.client.name)}? · Portcullis</title>
<style>body{font:16px system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem}button{font-size:1rem;padding:.4rem 1rem;margin-right:.5rem}</style></head>
<body><h1>Allow ${esc(v.client.name)} to act for you?</h1>
<p>Signed in as <strong>${esc(v.person)}</strong>.</p>
<p><strong>${esc(v.client.name)}</strong> (client <code>${esc(v.client.id)}</code>) runs as the agent <strong>${esc(v.agent)}</strong>
and will return to <code>${esc(v.redirectOrigin)}</code>. It asks to use, on your behalf:</p>
<ul>${scopes}</ul>
<p>Every call it makes is decided by policy for both you and the agent, and audited under both names.</p>
<form method="post" action="/oauth2/consent">${hidden}<button name="decision" value="approve">Allow</button><button name="decision" value="deny">Deny</button></form>
</body></html>
`;
}

/** A refusal that must not go back to the client (its identity or redirect URI is not established). */
export function errorPage(message: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Authorization refused · Portcullis</title></head>
<body><h1>Authorization refused</h1><p>${esc(message)}</p></body></html>
`;
}
