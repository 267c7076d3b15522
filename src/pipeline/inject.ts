/**
 * Stage 5 — what the upstream receives. The agent's own credentials (Authorization, cookies) and
 * every identity or forwarding header a client could forge are dropped; hop-by-hop headers are
 * dropped (RFC 9110 §7.6.1), and so is any header that is one of those under another spelling (`_` or
 * `.` for `-`), including those the client's `Connection` header names — that list is
 * applied to the client's headers only, so it can never remove what the gateway adds afterwards.
 * Then the tool's real credential and the gateway's identity headers are set.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { CallContext } from './context.js';
import { headerSafeId } from '../auth/identifiers.js';

const DROP = new Set([
  'host', 'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  'authorization', 'proxy-authorization', 'cookie', 'forwarded', 'x-real-ip', 'x-client-ip', 'true-client-ip',
  'x-original-url', 'x-rewrite-url', 'x-http-method-override', 'x-http-method', 'x-method-override',
]);
const DROP_PREFIXES = ['x-forwarded-', 'portcullis-'];
// Compared only under another spelling: the real ones are framing, which Node and undici own.
const FRAMING = new Set(['content-length', 'content-type']);

export function createInject(publicUrl: { readonly proto: string; readonly host: string } | undefined) {
  return function inject(ctx: CallContext): void {
    const incoming = ctx.raw.headers;
    const tool = ctx.tool!;
    const connectionListed = listedInConnection(incoming.connection);
    const out: Record<string, string | string[]> = {};
    for (const name in incoming) {
      if (DROP.has(name) || connectionListed?.has(name) || name === tool.credential?.header) continue;
      if (DROP_PREFIXES.some((p) => name.startsWith(p))) continue;
      if ((name.includes('_') || name.includes('.')) && smuggled(name, tool.credential?.header)) continue;
      const v = incoming[name];
      if (v !== undefined) out[name] = v;
    }
    if (tool.credential) out[tool.credential.header] = tool.credential.value;
    // MCP tools/list answers are filtered, and a tool's answers are searched for its echoed
    // credential (scrub.ts), so they must arrive uncompressed.
    if (tool.mcp || tool.credential) out['accept-encoding'] = 'identity';
    const p = ctx.principal!;
    out['portcullis-agent'] = headerSafeId(p.agentId);
    if (p.userId !== null) out['portcullis-user'] = headerSafeId(p.userId);
    out['portcullis-request-id'] = ctx.requestId;
    out['x-forwarded-for'] = ctx.clientIp;
    // The client's Host is its own word (`user@host`, another tenant's name): only the configured public URL is vouched for.
    out['x-forwarded-proto'] = publicUrl?.proto ?? 'http';
    if (publicUrl) out['x-forwarded-host'] = publicUrl.host;
    ctx.upstreamHeaders = out;
  };
}

/**
 * A header that reads as one the gateway strips or sets once `_` and `.` are read as `-`: CGI-style
 * stacks (WSGI, Rack, PHP) turn `Portcullis_Agent` and `Portcullis-Agent` into the same variable, so
 * the look-alike would be read as the real one.
 */
function smuggled(name: string, credentialHeader: string | undefined): boolean {
  const n = name.replace(/[_.]/g, '-');
  return DROP.has(n) || FRAMING.has(n) || n === credentialHeader || DROP_PREFIXES.some((p) => n.startsWith(p));
}

function listedInConnection(value: string | undefined): Set<string> | undefined {
  if (value === undefined || value === 'keep-alive' || value === 'close') return undefined;
  return new Set(value.toLowerCase().split(',').map((s) => s.trim()).filter(Boolean));
}

/** Response headers that must not be relayed to the agent (hop-by-hop, RFC 9110 §7.6.1). */
export function relayableResponseHeaders(headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const conn = headers.connection;
  const listed = typeof conn === 'string' ? listedInConnection(conn) : undefined;
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    if (name === 'connection' || name === 'keep-alive' || name === 'proxy-connection' || name === 'transfer-encoding' ||
        name === 'upgrade' || name === 'te' || name === 'trailer' || listed?.has(name)) continue;
    const v = headers[name];
    if (v !== undefined) out[name] = v;
  }
  return out;
}
