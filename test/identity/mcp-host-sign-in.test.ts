/**
 * An MCP host connects through Portcullis by having its person sign in — no token pasted: the
 * official SDK's OAuth client (1.x) gets a 401 naming the RFC 9728 metadata, discovers this token
 * service, sends the person to /oauth2/authorize (the company IdP, then a consent page), and
 * redeems the code with PKCE. Then the attacks: exact redirect URIs, PKCE, single-use codes and
 * refresh tokens (a replay revokes the family), another client's code, forged consent.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEvents, type RunningGateway } from '../helpers/gateway.js';
import { createTestIssuer } from '../helpers/issuer.js';
import { CREDENTIAL, startV2Upstream, type McpUpstream } from '../helpers/mcp.js';
import { startIdp, type TestIdp } from '../helpers/oidc-idp.js';
import { freePort } from '../helpers/cli.js';
import { pollUntil } from '../helpers/policy.js';
import { startTokenService } from '../helpers/token-service.js';
import { TRACKER_OPERATIONS } from '../e2e/mcp-fixtures.js';

const REDIRECT = 'http://127.0.0.1:33418/oauth/callback';
const MCP_REMOTE = join(dirname(createRequire(import.meta.url).resolve('mcp-remote/package.json')), 'dist', 'proxy.js');
let remotePort: number;
let docs: Server;
let docsUrl: string;
/** Client ID metadata documents served by the test, by path. */
const documents = new Map<string, unknown>();
let idp: TestIdp;
let up: McpUpstream;
let gw: RunningGateway & { issuerUrl: string };
let mcpUrl: string;

beforeAll(async () => {
  const port = await freePort();
  remotePort = await freePort();
  docs = createServer((req, res) => {
    const doc = documents.get(req.url ?? '');
    if (doc === undefined) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/json' }).end(typeof doc === 'string' ? doc : JSON.stringify(doc));
  });
  await new Promise<void>((r) => docs.listen(0, '127.0.0.1', r));
  docsUrl = `http://127.0.0.1:${(docs.address() as AddressInfo).port}`;
  const issuerUrl = `http://127.0.0.1:${port}`;
  idp = await startIdp({ 'pat@example.com': { groups: ['support-team'] } }, { redirectUris: [`${issuerUrl}/oauth2/callback`] });
  up = await startV2Upstream();
  gw = await startTokenService(await createTestIssuer(), {
    port,
    tools: { tracker: { upstream: up.url, protocol: 'mcp', classification: 'internal', credentials: CREDENTIAL, operations: TRACKER_OPERATIONS } },
    // remote-host's tokens live 1 s (+5 s clock tolerance): the mcp-remote test outlives one.
    agents: { 'desktop-host': { scopes: ['tracker:read'] }, 'remote-host': { scopes: ['tracker:read'], max_token_ttl: '1s' } },
    tokenService: {
      authorization_code: { client_metadata_documents: { agent: 'desktop-host', allow: [`${docsUrl}/clients/*`], cache_ttl: '0s' } },
      subject_issuers: [{ issuer: idp.issuer, jwks_uri: idp.jwksUri, audiences: [idp.clientId], roles_claim: 'groups', role_map: { 'support-team': 'support' } }] },
    extra: {
      oauth_clients: {
        desktop: { name: 'Desktop Host', agent: 'desktop-host', redirect_uris: [REDIRECT] },
        other: { agent: 'desktop-host', redirect_uris: ['http://127.0.0.1:9/cb'] },
        remote: { name: 'mcp-remote', agent: 'remote-host', redirect_uris: [`http://localhost:${remotePort}/oauth/callback`] },
      },
      admin: { sso: { issuer: idp.issuer, client_id: idp.clientId, client_secret: 'console-secret' } },
    },
  });
  mcpUrl = `${gw.proxyUrl}/tools/tracker`;
});
afterAll(async () => {
  await gw?.close();
  await up?.close();
  await idp?.close();
  docs?.close();
});

/** What an MCP host keeps: the SDK's provider interface, with the browser step left to the test. */
class Host implements OAuthClientProvider {
  authorizationUrl?: URL;
  saved?: OAuthTokens;
  verifier = '';
  constructor(readonly clientId = 'desktop') {}
  get redirectUrl() {
    return REDIRECT;
  }
  get clientMetadata(): OAuthClientMetadata {
    return { redirect_uris: [REDIRECT], client_name: 'Desktop Host', token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'] };
  }
  clientInformation(): OAuthClientInformationMixed {
    return { client_id: this.clientId };
  }
  tokens() {
    return this.saved;
  }
  saveTokens(t: OAuthTokens) {
    this.saved = t;
  }
  redirectToAuthorization(url: URL) {
    this.authorizationUrl = url;
  }
  saveCodeVerifier(v: string) {
    this.verifier = v;
  }
  codeVerifier() {
    return this.verifier;
  }
}

/** A browser: a cookie jar for the gateway, the IdP's sign-in through the test IdP. */
class Browser {
  readonly jar = new Map<string, string>();
  async go(url: string, init: RequestInit = {}): Promise<Response> {
    const res = await fetch(url, { ...init, redirect: 'manual', headers: { ...(init.headers as Record<string, string>), cookie: [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ') } });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = pair!.indexOf('=');
      this.jar.set(pair!.slice(0, eq), pair!.slice(eq + 1));
    }
    return res;
  }
  /** Authorize → IdP sign-in → the consent page (its HTML and form fields). */
  async consentPage(authorizationUrl: string, person = 'pat@example.com') {
    const start = await this.go(authorizationUrl);
    expect(start.status).toBe(302);
    const back = await idp.follow(start.headers.get('location')!, person, false, (u) => u.pathname === '/oauth2/callback');
    const page = await this.go(back.href);
    const html = await page.text();
    const field = (name: string) => new RegExp(`name="${name}" value="([^"]+)"`).exec(html)?.[1] ?? '';
    return { page, html, txn: field('txn'), csrf: field('csrf') };
  }
  async consent(txn: string, csrf: string, decision: 'approve' | 'deny'): Promise<URL> {
    const res = await this.go(`${gw.proxyUrl}/oauth2/consent`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ txn, csrf, decision }).toString() });
    expect(res.status).toBe(303);
    return new URL(res.headers.get('location')!);
  }
}

const pkce = () => {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
};
const authorizeUrl = (params: Record<string, string>) => `${gw.proxyUrl}/oauth2/authorize?${new URLSearchParams({ response_type: 'code', client_id: 'desktop', redirect_uri: REDIRECT, code_challenge_method: 'S256', ...params })}`;
const token = async (form: Record<string, string>) => {
  const res = await fetch(`${gw.proxyUrl}/oauth2/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form).toString() });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
};
/** A fresh code for the test person, through the whole browser flow. */
async function freshCode(): Promise<{ code: string; verifier: string }> {
  const { verifier, challenge } = pkce();
  const b = new Browser();
  const { txn, csrf } = await b.consentPage(authorizeUrl({ code_challenge: challenge, state: 's1' }));
  return { code: (await b.consent(txn, csrf, 'approve')).searchParams.get('code')!, verifier };
}

describe('an MCP host signs its person in (official SDK OAuth client)', () => {
  it('401 names the resource metadata, which names this token service', async () => {
    const res = await fetch(mcpUrl, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{}' });
    expect(res.status).toBe(401);
    const metadataUrl = `${gw.issuerUrl}/.well-known/oauth-protected-resource/tools/tracker`;
    expect(res.headers.get('www-authenticate')).toBe(`Bearer realm="portcullis", resource_metadata="${metadataUrl}"`);
    const prm = (await (await fetch(metadataUrl)).json()) as Record<string, unknown>;
    expect(prm).toEqual({ resource: `${gw.issuerUrl}/tools/tracker`, authorization_servers: [gw.issuerUrl], scopes_supported: ['tracker:read', 'tracker:write'], bearer_methods_supported: ['header'], resource_name: 'tracker' });
    const as = (await (await fetch(`${gw.issuerUrl}/.well-known/oauth-authorization-server`)).json()) as Record<string, any>;
    expect(as).toMatchObject({ authorization_endpoint: `${gw.issuerUrl}/oauth2/authorize`, code_challenge_methods_supported: ['S256'], response_types_supported: ['code'] });
    expect(as.grant_types_supported).toEqual(expect.arrayContaining(['authorization_code', 'refresh_token']));
  });

  it('connects after the person signs in and consents: sub is the person, act the host’s agent', async () => {
    const host = new Host();
    await expect(new Client({ name: 'host', version: '1' }).connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: host }))).rejects.toThrow(/Unauthorized/);
    const auth = host.authorizationUrl!;
    expect(auth.origin + auth.pathname).toBe(`${gw.issuerUrl}/oauth2/authorize`);
    expect(auth.searchParams.get('resource')).toBe(`${gw.issuerUrl}/tools/tracker`);
    expect(auth.searchParams.get('code_challenge_method')).toBe('S256');

    const b = new Browser();
    const { page, html, txn, csrf } = await b.consentPage(auth.href);
    expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(html).toContain('Desktop Host');
    expect(html).toContain('desktop-host');
    expect(html).toContain('pat@example.com');
    expect(html).toContain('tracker:read');
    expect(html).not.toContain('tracker:write'); // asked for, but beyond the agent's scopes
    const back = await b.consent(txn, csrf, 'approve');
    expect(back.origin + back.pathname).toBe(REDIRECT);
    expect(back.searchParams.get('iss')).toBe(gw.issuerUrl);

    const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: host });
    await transport.finishAuth(back.searchParams.get('code')!);
    const claims = decodeJwt(host.saved!.access_token);
    expect(claims).toMatchObject({ sub: 'pat@example.com', act: { sub: 'desktop-host' }, client_id: 'desktop', roles: ['support'], scope: 'tracker:read' });
    expect(host.saved!.refresh_token).toBeTruthy();

    const client = new Client({ name: 'host', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: host }));
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toContain('search_issues');
    expect(names).not.toContain('create_issue');
    const res = (await client.callTool({ name: 'search_issues', arguments: { query: 'vpn' } })) as { content: { text: string }[] };
    expect(res.content[0]!.text).toContain('ISS-');
    await client.close();

    const events = await auditEvents(gw);
    expect(events.find((e) => e.type === 'oauth_authorization' && e.outcome.result === 'consented')).toMatchObject({ oauth_client: 'desktop', agent: 'desktop-host', user: { id: 'pat@example.com', roles: ['support'] }, scope: ['tracker:read'] });
    expect(events.find((e) => e.type === 'token_issued' && e.grant === 'authorization_code')).toMatchObject({ client: { id: 'desktop' }, agent: { id: 'desktop-host' }, user: { id: 'pat@example.com' } });
    const call = events.find((e) => e.type === 'tool_call' && e.mcp?.tool === 'search_issues' && e.outcome.result === 'ok');
    expect(call).toMatchObject({ agent: { id: 'desktop-host' }, user: { id: 'pat@example.com' } });
    expect(JSON.stringify(events)).not.toContain(host.saved!.refresh_token!);
  });
});

describe('attacks on the authorization code flow', () => {
  it('never redirects to an unregistered redirect URI, nor for an unknown client', async () => {
    for (const url of [authorizeUrl({ code_challenge: pkce().challenge, redirect_uri: 'https://evil.test/cb' }), authorizeUrl({ code_challenge: pkce().challenge, redirect_uri: `${REDIRECT}/x` }), authorizeUrl({ code_challenge: pkce().challenge, client_id: 'nobody' })]) {
      const res = await fetch(url, { redirect: 'manual' });
      expect(res.status).toBe(400);
      expect(res.headers.get('location')).toBeNull();
    }
  });

  it('sends a request without PKCE S256 back to the client with an error', async () => {
    for (const params of [{}, { code_challenge: pkce().challenge, code_challenge_method: 'plain' }]) {
      const res = await fetch(authorizeUrl({ state: 'st', ...params } as Record<string, string>), { redirect: 'manual' });
      const back = new URL(res.headers.get('location')!);
      expect(back.origin + back.pathname).toBe(REDIRECT);
      expect(back.searchParams.get('error')).toBe('invalid_request');
      expect(back.searchParams.get('state')).toBe('st');
    }
  });

  it('redeems a code once, with its verifier, by its client; a replayed code revokes what it issued', async () => {
    const { code, verifier } = await freshCode();
    const base = { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, client_id: 'desktop' };
    expect((await token({ ...base, code_verifier: pkce().verifier })).body.reasons).toEqual(['pkce_mismatch']);
    expect((await token({ ...base, client_id: 'other', code_verifier: verifier })).body.reasons).toEqual(['grant_client_mismatch']);
    expect((await token({ ...base, redirect_uri: 'http://127.0.0.1:9/cb', code_verifier: verifier })).body.reasons).toEqual(['redirect_uri_mismatch']);
    expect((await token({ ...base, code_verifier: verifier, client_secret: 'guess' })).body.reasons).toEqual(['client_method_not_allowed']);
    const ok = await token({ ...base, code_verifier: verifier });
    expect(ok.status).toBe(200);
    const replay = await token({ ...base, code_verifier: verifier });
    expect(replay).toMatchObject({ status: 400, body: { error: 'invalid_grant', reasons: ['grant_replayed'] } });
    const call = await fetch(mcpUrl, { method: 'POST', headers: { authorization: `Bearer ${ok.body.access_token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{"jsonrpc":"2.0","id":1,"method":"ping"}' });
    expect(call.status).toBe(401);
  });

  it('rotates refresh tokens; a reused one revokes the whole family', async () => {
    const { code, verifier } = await freshCode();
    const first = (await token({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, client_id: 'desktop', code_verifier: verifier })).body;
    const second = await token({ grant_type: 'refresh_token', refresh_token: first.refresh_token, client_id: 'desktop' });
    expect(second.status).toBe(200);
    expect(second.body.refresh_token).not.toBe(first.refresh_token);
    expect(decodeJwt(second.body.access_token)).toMatchObject({ sub: 'pat@example.com', act: { sub: 'desktop-host' } });
    expect((await token({ grant_type: 'refresh_token', refresh_token: first.refresh_token, client_id: 'desktop' })).body.reasons).toEqual(['grant_replayed']);
    expect((await token({ grant_type: 'refresh_token', refresh_token: second.body.refresh_token, client_id: 'desktop' })).body.reasons).toEqual(['grant_revoked']);
    // Neither is an access token.
    const asBearer = await fetch(mcpUrl, { method: 'POST', headers: { authorization: `Bearer ${second.body.refresh_token}`, 'content-type': 'application/json' }, body: '{}' });
    expect(asBearer.status).toBe(401);
  });

  it('refuses a consent from another browser, a forged CSRF token, and a second answer', async () => {
    const b = new Browser();
    const { txn, csrf } = await b.consentPage(authorizeUrl({ code_challenge: pkce().challenge }));
    const stranger = new Browser();
    const post = (who: Browser, form: Record<string, string>) => who.go(`${gw.proxyUrl}/oauth2/consent`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form).toString() });
    expect((await post(stranger, { txn, csrf, decision: 'approve' })).status).toBe(400);
    expect((await post(b, { txn, csrf: 'forged', decision: 'approve' })).status).toBe(400);
    const denied = await b.consent(txn, csrf, 'deny');
    expect(denied.searchParams.get('error')).toBe('access_denied');
    expect(denied.searchParams.get('code')).toBeNull();
    expect((await post(b, { txn, csrf, decision: 'approve' })).status).toBe(400);
  });
});

describe('mcp-remote, a stock stdio bridge for desktop hosts', () => {
  it('signs its person in through the browser flow, then serves the gateway\'s tools over stdio', async () => {
    const configDir = mkdtempSync(join(tmpdir(), 'portcullis-mcp-remote-'));
    const child = spawn(process.execPath, [MCP_REMOTE, mcpUrl, String(remotePort), '--static-oauth-client-info', JSON.stringify({ client_id: 'remote' })], {
      env: { ...process.env, MCP_REMOTE_CONFIG_DIR: configDir, BROWSER: 'none', DISPLAY: '' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => void (stderr += c.toString()));
    const lines: Record<string, any>[] = [];
    let buffered = '';
    child.stdout.on('data', (c: Buffer) => {
      buffered += c.toString();
      for (let i = buffered.indexOf('\n'); i >= 0; i = buffered.indexOf('\n')) {
        const line = buffered.slice(0, i).trim();
        buffered = buffered.slice(i + 1);
        if (line) lines.push(JSON.parse(line));
      }
    });
    const rpc = async (id: number, method: string, params: Record<string, unknown> = {}) => {
      child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', id, method, params })}\n`);
      return (await pollUntil(async () => lines.find((l) => l.id === id), (l) => l !== undefined, 20_000))!;
    };
    try {
      const auth = await pollUntil(async () => /Please authorize this client by visiting:\s+(\S+)/.exec(stderr)?.[1], (u) => u !== undefined, 20_000);
      const b = new Browser();
      const { txn, csrf } = await b.consentPage(auth!);
      const back = await b.consent(txn, csrf, 'approve');
      expect(back.href.startsWith(`http://localhost:${remotePort}/oauth/callback?code=`)).toBe(true);
      expect((await fetch(back.href)).status).toBe(200); // mcp-remote's own callback page
      const init = await rpc(1, 'initialize', { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'desktop', version: '1' } });
      expect(init.result.serverInfo).toBeDefined();
      child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' })}\n`);
      const listed = await rpc(2, 'tools/list');
      expect(listed.result.tools.map((t: { name: string }) => t.name)).toContain('search_issues');
      const called = await rpc(3, 'tools/call', { name: 'search_issues', arguments: { query: 'vpn' } });
      expect(called.result.content[0].text).toContain('ISS-');
      // Past the access token's life: mcp-remote renews it with the refresh token instead of failing.
      await new Promise((r) => setTimeout(r, 7000));
      const again = await rpc(4, 'tools/call', { name: 'search_issues', arguments: { query: 'printer' } });
      expect(again.result.content[0].text).toBeDefined();
      const issued = (await auditEvents(gw)).filter((e) => e.type === 'token_issued' && e.client.id === 'remote');
      // (It renews ahead of expiry, so with a 1 s token it may renew several times.)
      expect(issued[0]!.grant).toBe('authorization_code');
      expect(issued.length).toBeGreaterThan(1);
      expect(issued.slice(1).every((e) => e.grant === 'refresh_token')).toBe(true);
      expect((await auditEvents(gw)).some((e) => e.type === 'token_refused' && e.client?.id === 'remote')).toBe(false);
      expect(issued[0]).toMatchObject({ agent: { id: 'remote-host' }, user: { id: 'pat@example.com' } });
    } finally {
      child.kill();
    }
  }, 60_000);
});

describe('a client named by its Client ID Metadata Document URL', () => {
  it('is fetched from an allowed URL, shown by its name and host, and signs its person in like a registered one', async () => {
    const id = `${docsUrl}/clients/desk.json`;
    documents.set('/clients/desk.json', { client_id: id, client_name: 'Doc Host', redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none' });
    const as = (await (await fetch(`${gw.issuerUrl}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
    expect(as.client_id_metadata_document_supported).toBe(true);
    const { verifier, challenge } = pkce();
    const b = new Browser();
    const { html, txn, csrf } = await b.consentPage(authorizeUrl({ client_id: id, code_challenge: challenge }));
    expect(html).toContain('Doc Host (127.0.0.1:');
    const code = (await b.consent(txn, csrf, 'approve')).searchParams.get('code')!;
    const t = await token({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, client_id: id, code_verifier: verifier });
    expect(t.status).toBe(200);
    expect(decodeJwt(t.body.access_token)).toMatchObject({ client_id: id, sub: 'pat@example.com', act: { sub: 'desktop-host' } });
  });

  it('refuses, with a page and no redirect, a URL not allowed and a document that is unusable', async () => {
    const cases: [string, unknown][] = [
      ['/elsewhere/desk.json', null], // not under an allowed URL: never fetched
      ['/clients/missing.json', undefined], // 404
      ['/clients/liar.json', { client_id: `${docsUrl}/clients/other.json`, redirect_uris: [REDIRECT] }],
      ['/clients/secret.json', { client_id: '', client_secret: 's', redirect_uris: [REDIRECT] }],
      ['/clients/bad-redirect.json', { client_id: '', redirect_uris: ['http://evil.test/cb'] }],
      ['/clients/not-json.json', 'not json'],
    ];
    for (const [path, doc] of cases) {
      const id = `${docsUrl}${path}`;
      if (doc !== undefined && doc !== null) documents.set(path, typeof doc === 'object' && (doc as { client_id?: string }).client_id === '' ? { ...(doc as object), client_id: id } : doc);
      const res = await fetch(authorizeUrl({ client_id: id, code_challenge: pkce().challenge }), { redirect: 'manual' });
      expect(res.status, path).toBe(400);
      expect(res.headers.get('location'), path).toBeNull();
    }
    const refusals = (await auditEvents(gw)).filter((e) => e.type === 'oauth_authorization' && e.outcome.result === 'refused').map((e) => e.outcome.reason);
    expect(refusals).toEqual(expect.arrayContaining(['client_unknown', 'client_metadata_invalid']));
  });
});
