import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestIssuer, type TestIssuer } from '../helpers/issuer.js';
import { startUpstream, type RecordingUpstream } from '../helpers/upstream.js';
import { auditEvents, startGateway, testConfig, type RunningGateway } from '../helpers/gateway.js';
import { freePort } from '../helpers/cli.js';
import { startIdp, type TestIdp } from '../helpers/oidc-idp.js';
import { crmTools } from '../e2e/fixtures.js';

// People sign in to the admin side with a real OpenID Provider (oidc-provider): code flow + PKCE,
// a server-side session, CSRF on every state-changing request, MFA freshness for some roles.
let agents: TestIssuer;
let idp: TestIdp;
let up: RecordingUpstream;
let gw: RunningGateway;
let admin: string;

beforeAll(async () => {
  agents = await createTestIssuer();
  up = await startUpstream();
  const port = await freePort();
  admin = `http://127.0.0.1:${port}`;
  idp = await startIdp(
    { 'otto@example.com': { groups: ['sec-ops'] }, 'ann@example.com': { groups: ['approvers'] }, 'nobody@example.com': { groups: ['chess-club'] } },
    { redirectUris: [`${admin}/console/callback`] },
  );
  gw = await startGateway(
    testConfig(agents, crmTools(up), {
      listen: { proxy: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port } },
      admin: {
        auth: { role_map: { 'sec-ops': 'operator', approvers: 'approver' } },
        sso: { issuer: idp.issuer, client_id: idp.clientId, client_secret: 'console-secret', mfa_for: ['operator', 'approver'], session_ttl: '1h' },
      },
    }),
  );
});
afterAll(async () => {
  await gw.close();
  await idp.close();
  await up.close();
});

/** A browser's cookie jar for the admin listener. */
class Browser {
  readonly jar = new Map<string, string>();
  async get(path: string, headers: Record<string, string> = {}) {
    return this.request('GET', path, headers);
  }
  async request(method: string, path: string, headers: Record<string, string> = {}, body?: string) {
    const res = await fetch(`${admin}${path}`, { method, redirect: 'manual', headers: { cookie: [...this.jar].map(([k, v]) => `${k}=${v}`).join('; '), ...headers }, body });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = pair!.indexOf('=');
      const value = pair!.slice(eq + 1);
      if (value === '') this.jar.delete(pair!.slice(0, eq));
      else this.jar.set(pair!.slice(0, eq), value);
    }
    return res;
  }
  /** Signs in through the IdP; returns the callback's response. */
  async signIn(user: string, mfa: boolean, query = '') {
    const start = await this.get(`/console/login${query}`);
    expect(start.status).toBe(302);
    const back = await idp.follow(start.headers.get('location')!, user, mfa, (u) => u.href.startsWith(`${admin}/console/callback`));
    return this.get(back.pathname + back.search);
  }
  async session() {
    return (await this.get('/console/session')).json() as Promise<{ subject: string; roles: string[]; csrf_token: string; mfa_fresh: boolean }>;
  }
}

describe('console sign-in (OIDC code flow with PKCE)', () => {
  it('sends the browser to the IdP with PKCE S256, state and nonce, and signs it in with a Strict, HttpOnly session cookie', async () => {
    const b = new Browser();
    const start = await b.get('/console/login');
    const auth = new URL(start.headers.get('location')!);
    expect(auth.origin).toBe(idp.issuer);
    expect(auth.searchParams.get('code_challenge_method')).toBe('S256');
    expect(auth.searchParams.get('redirect_uri')).toBe(`${admin}/console/callback`);
    for (const p of ['state', 'nonce', 'code_challenge']) expect(auth.searchParams.get(p)).toBeTruthy();
    const back = await idp.follow(auth.href, 'otto@example.com', true, (u) => u.href.startsWith(`${admin}/console/callback`));
    const res = await b.get(back.pathname + back.search);
    expect(res.status).toBe(200);
    const cookie = res.headers.getSetCookie().find((c) => c.startsWith('portcullis_session='))!;
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(await b.session()).toMatchObject({ subject: 'otto@example.com', roles: ['operator'], mfa_fresh: true });
    const event = (await auditEvents(gw)).filter((e) => e.type === 'console_sign_in').at(-1)!;
    expect(event).toMatchObject({ subject: 'otto@example.com', roles: ['operator'], mfa: true, outcome: { result: 'signed_in' } });
  });

  it('acts through the admin API on the session only with its CSRF token', async () => {
    const b = new Browser();
    await b.signIn('otto@example.com', true);
    const { csrf_token } = await b.session();
    const kill = (headers: Record<string, string>) => b.request('POST', '/admin/kill', { 'content-type': 'application/json', ...headers }, JSON.stringify({ target: { agent: 'support-bot' }, reason: 'console test' }));
    const without = await kill({});
    expect(without.status).toBe(403);
    expect(((await without.json()) as { reasons: string[] }).reasons).toEqual(['csrf_invalid']);
    expect((await kill({ 'x-csrf-token': 'x'.repeat(43) })).status).toBe(403);
    const ok = await kill({ 'x-csrf-token': csrf_token });
    expect(ok.status).toBeLessThan(300);
    const id = ((await ok.json()) as { id: string }).id;
    // Lifting a kill is the admin role's: the operator's session holds only what its groups map to.
    const lift = await b.request('DELETE', `/admin/kill/${id}`, { 'x-csrf-token': csrf_token });
    expect(lift.status).toBe(403);
    expect(((await lift.json()) as { reasons: string[] }).reasons).toEqual(['admin_role_missing']);
    const events = await auditEvents(gw);
    expect(events.find((e) => e.type === 'kill' && e.kill?.id === id)).toMatchObject({ kill: { by: 'otto@example.com' } });
  });

  it('lets a role in mfa_for read, but act only after a step-up sign-in with MFA', async () => {
    const b = new Browser();
    await b.signIn('ann@example.com', false);
    const s = await b.session();
    expect(s).toMatchObject({ roles: ['approver'], mfa_fresh: false });
    expect((await b.get('/admin/approvals')).status).toBe(200);
    const act = await b.request('POST', '/admin/approvals/apr-x/approve', { 'content-type': 'application/json', 'x-csrf-token': s.csrf_token }, '{}');
    expect(act.status).toBe(403);
    expect(((await act.json()) as { reasons: string[] }).reasons).toEqual(['mfa_required']);
    const step = await b.get('/console/login?step_up=1');
    const auth = new URL(step.headers.get('location')!);
    expect(auth.searchParams.get('prompt')).toBe('login');
    expect(auth.searchParams.get('max_age')).toBe('0');
    const before = b.jar.get('portcullis_session');
    await b.signIn('ann@example.com', true, '?step_up=1');
    expect(b.jar.get('portcullis_session')).not.toBe(before);
    expect((await b.session()).mfa_fresh).toBe(true);
  });

  it('signs in a person with no mapped role, who can then do nothing', async () => {
    const b = new Browser();
    await b.signIn('nobody@example.com', true);
    expect(await b.session()).toMatchObject({ subject: 'nobody@example.com', roles: [] });
    const res = await b.get('/admin/approvals');
    expect(res.status).toBe(403);
    expect(((await res.json()) as { reasons: string[] }).reasons).toEqual(['admin_role_missing']);
  });

  it('refuses a replayed callback, a forged state, and a callback from another browser, audited', async () => {
    const b = new Browser();
    const start = await b.get('/console/login');
    const back = await idp.follow(start.headers.get('location')!, 'otto@example.com', true, (u) => u.href.startsWith(`${admin}/console/callback`));
    const stranger = new Browser();
    expect((await stranger.get(back.pathname + back.search)).status).toBe(400);
    // The stranger's attempt used the state up: the real browser must start again too.
    expect((await b.get(back.pathname + back.search)).status).toBe(400);
    const b2 = new Browser();
    await b2.get('/console/login');
    const forged = await b2.get(`/console/callback?code=abc&state=${'A'.repeat(43)}`);
    expect(forged.status).toBe(400);
    const refused = (await auditEvents(gw)).filter((e) => e.type === 'console_sign_in' && e.outcome.result === 'refused');
    expect(refused.length).toBeGreaterThanOrEqual(3);
  });

  it('ends the session at sign-out: the cookie no longer works, and sign-out itself needs the CSRF token', async () => {
    const b = new Browser();
    await b.signIn('otto@example.com', true);
    const { csrf_token } = await b.session();
    const sid = b.jar.get('portcullis_session')!;
    expect((await b.request('POST', '/console/logout')).status).toBe(403);
    expect((await b.request('POST', '/console/logout', { 'x-csrf-token': csrf_token })).status).toBe(200);
    const replay = await fetch(`${admin}/admin/kill`, { headers: { cookie: `portcullis_session=${sid}` } });
    expect(replay.status).toBe(401);
    expect(((await replay.json()) as { reasons: string[] }).reasons).toEqual(['session_invalid']);
  });

  it('keeps bearer tokens working for the API, and never redirects the next page off the console', async () => {
    const b = new Browser();
    const start = await b.get('/console/login?next=https://evil.example/');
    const back = await idp.follow(start.headers.get('location')!, 'otto@example.com', true, (u) => u.href.startsWith(`${admin}/console/callback`));
    const page = await (await b.get(back.pathname + back.search)).text();
    expect(page).toContain('url=/console/"');
    expect(page).not.toContain('evil.example');
  });

  it('ends a session at session_ttl, whatever its use', async () => {
    const port = await freePort();
    const short = `http://127.0.0.1:${port}`;
    const idp2 = await startIdp({ 'otto@example.com': { groups: ['sec-ops'] } }, { redirectUris: [`${short}/console/callback`] });
    const gw2 = await startGateway(
      testConfig(agents, crmTools(up), {
        listen: { proxy: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port } },
        admin: { auth: { role_map: { 'sec-ops': 'operator' } }, sso: { issuer: idp2.issuer, client_id: idp2.clientId, client_secret: 'console-secret', session_ttl: '1s' } },
      }),
    );
    try {
      const start = await fetch(`${short}/console/login`, { redirect: 'manual' });
      const login = start.headers.getSetCookie()[0]!.split(';')[0]!;
      const back = await idp2.follow(start.headers.get('location')!, 'otto@example.com', true, (u) => u.href.startsWith(`${short}/console/callback`));
      const cb = await fetch(`${short}${back.pathname}${back.search}`, { headers: { cookie: login } });
      const session = cb.headers.getSetCookie().find((c) => c.startsWith('portcullis_session='))!.split(';')[0]!;
      expect((await fetch(`${short}/admin/kill`, { headers: { cookie: session } })).status).toBe(200);
      await new Promise((r) => setTimeout(r, 1200));
      const late = await fetch(`${short}/admin/kill`, { headers: { cookie: session } });
      expect(late.status).toBe(401);
      expect(((await late.json()) as { reasons: string[] }).reasons).toEqual(['session_invalid']);
    } finally {
      await gw2.close();
      await idp2.close();
    }
  });

  it('refuses a code issued to another client, or by another IdP, injected into a sign-in this browser started', async () => {
    const idp2 = await startIdp({ 'otto@example.com': { groups: ['sec-ops'] } }, { redirectUris: [`${admin}/console/callback`] });
    try {
      for (const [issuer, client, provider] of [[idp.issuer, 'other-app', idp], [idp2.issuer, 'portcullis-console', idp2]] as const) {
        const b = new Browser();
        const start = new URL((await b.get('/console/login')).headers.get('location')!);
        const state = start.searchParams.get('state')!;
        // The attacker's code: the same redirect URI and state, but another client or another IdP.
        const evil = new URL(`${issuer}/auth`);
        for (const [k, v] of Object.entries({ client_id: client, response_type: 'code', redirect_uri: `${admin}/console/callback`, scope: 'openid', state, nonce: 'n', code_challenge: start.searchParams.get('code_challenge')!, code_challenge_method: 'S256' })) evil.searchParams.set(k, v);
        const back = await provider.follow(evil.href, 'otto@example.com', true, (u) => u.href.startsWith(`${admin}/console/callback`));
        const res = await b.get(back.pathname + back.search);
        expect(res.status).toBe(400);
        expect(b.jar.has('portcullis_session')).toBe(false);
      }
      const refused = (await auditEvents(gw)).filter((e) => e.type === 'console_sign_in' && e.outcome.reason === 'sso_response_invalid');
      expect(refused.length).toBeGreaterThanOrEqual(2);
    } finally {
      await idp2.close();
    }
  });
});

// Last in this file: once a person is provisioned, every session's roles come from the directory.
describe('console sessions and the people directory', () => {
  it('takes a signed-in person\'s roles from their directory groups now, not from the sign-in', async () => {
    const b = new Browser();
    await b.signIn('ann@example.com', true);
    expect((await b.get('/admin/approvals')).status).toBe(200);
    const [ann] = await gw.gateway.directory.write([{ kind: 'User', id: 'ann-id', base: undefined, attributes: { userName: 'ann@example.com', active: true } }], 'test');
    const refused = await b.get('/admin/approvals');
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { reasons: string[] }).reasons).toEqual(['admin_role_missing']);
    expect((await b.session()).roles).toEqual([]);
    await gw.gateway.directory.write([{ kind: 'Group', id: 'approvers-id', base: undefined, attributes: { displayName: 'approvers', members: [{ value: ann!.id }] } }], 'test');
    expect((await b.get('/admin/approvals')).status).toBe(200);
    expect(await b.session()).toMatchObject({ subject: 'ann@example.com', roles: ['approver'] });
  });
});
