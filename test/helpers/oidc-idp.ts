/**
 * A real OpenID Provider (panva's oidc-provider) on loopback as "the company IdP", and a signed-in
 * user's ID token and JWT access token from it, obtained through the real authorization code flow:
 * openid-client as the relying party, the provider's own development login and consent pages.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import * as oidc from 'openid-client';
import Provider from 'oidc-provider';
import { freePort } from './cli.js';

export interface TestUser {
  readonly groups?: readonly string[];
  /** RFC 8693 §4.4 `may_act`, put into the user's tokens. */
  readonly mayAct?: unknown;
}

export interface TestIdp {
  readonly issuer: string;
  readonly jwksUri: string;
  readonly clientId: string;
  /** Signs `user` in and returns the provider's tokens for them. */
  signIn(user: string): Promise<{ idToken: string; accessToken: string }>;
  /** From an authorization request another RP made, signs `user` in and returns the redirect back (to the URL `done` recognises). */
  follow(url: string, user: string, mfa: boolean, done: (u: URL) => boolean): Promise<URL>;
  close(): Promise<void>;
}

const REDIRECT = 'http://127.0.0.1/callback';
const RESOURCE = 'https://portcullis.test';

export async function startIdp(users: Record<string, TestUser>, opts: { redirectUris?: string[] } = {}): Promise<TestIdp> {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: [{ client_id: 'portcullis-console', client_secret: 'console-secret', redirect_uris: [REDIRECT, ...(opts.redirectUris ?? [])], grant_types: ['authorization_code'], response_types: ['code'], require_auth_time: true }],
    findAccount: (_ctx: unknown, id: string) =>
      users[id] ? { accountId: id, claims: () => ({ sub: id, email: id, groups: [...(users[id]!.groups ?? [])], ...(users[id]!.mayAct ? { may_act: users[id]!.mayAct } : {}) }) } : undefined,
    claims: { openid: ['sub', 'amr'], email: ['email'], groups: ['groups', 'may_act'] },
    conformIdTokenClaims: false,
    features: {
      devInteractions: { enabled: false },
      // JWT access tokens (RFC 9068) for the resource the exchange tests name.
      resourceIndicators: {
        enabled: true,
        defaultResource: () => RESOURCE,
        getResourceServerInfo: () => ({ scope: 'crm:read tickets:read', audience: 'portcullis', accessTokenFormat: 'jwt', accessTokenTTL: 300 }),
        useGrantedResource: () => true,
      },
    },
    extraTokenClaims: async (_ctx: unknown, token: { accountId?: string }) => {
      const u = token.accountId ? users[token.accountId] : undefined;
      return u ? { groups: [...(u.groups ?? [])], ...(u.mayAct ? { may_act: u.mayAct } : {}) } : undefined;
    },
    pkce: { required: () => false },
    ttl: { IdToken: 300, AccessToken: 300, Grant: 300, Session: 300, Interaction: 300 },
  } as never);
  // The login and consent pages: a person signs in as `login`, with MFA when `mfa` is sent.
  const p = provider as unknown as ProviderApi;
  const handle = p.callback();
  const server = createServer((req, res) => {
    if (!req.url?.startsWith('/interaction/')) return void handle(req, res);
    void interact(p, req, res).catch((err: Error) => {
      res.statusCode = 500;
      res.end(err.message);
    });
  }).listen(port, '127.0.0.1');
  await new Promise<void>((r) => server.once('listening', () => r()));
  const rp = await oidc.discovery(new URL(issuer), 'portcullis-console', undefined, oidc.ClientSecretBasic('console-secret'), { execute: [oidc.allowInsecureRequests] });

  /** Follows the provider's pages from `url` (an authorization request) until a redirect to `done`. */
  async function follow(url: string, user: string, mfa: boolean, done: (u: URL) => boolean): Promise<URL> {
    const jar = new Map<string, string>();
    const go = async (to: string, init: RequestInit = {}): Promise<Response> => {
      const res = await fetch(to, { ...init, redirect: 'manual', headers: { ...(init.headers as Record<string, string>), cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') } });
      for (const c of res.headers.getSetCookie()) {
        const [pair] = c.split(';');
        const eq = pair!.indexOf('=');
        jar.set(pair!.slice(0, eq), pair!.slice(eq + 1));
      }
      return res;
    };
    let res = await go(url);
    for (let step = 0; step < 8; step++) {
      const location = new URL(res.headers.get('location')!, issuer);
      if (done(location)) return location;
      if (location.pathname.startsWith('/interaction/')) {
        const page = await go(location.href);
        const prompt = /name="prompt" value="(\w+)"/.exec(await page.text())?.[1] ?? 'login';
        const body = new URLSearchParams(prompt === 'login' ? { prompt, login: user, ...(mfa ? { mfa: '1' } : {}) } : { prompt });
        res = await go(location.href, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: body.toString() });
      } else {
        res = await go(location.href);
      }
    }
    throw new Error('the sign-in did not come back');
  }

  async function signIn(user: string) {
    const state = oidc.randomState();
    const start = oidc.buildAuthorizationUrl(rp, { redirect_uri: REDIRECT, scope: 'openid email groups', state, resource: RESOURCE });
    const back = await follow(start.href, user, false, (u) => u.href.startsWith(REDIRECT));
    const tokens = await oidc.authorizationCodeGrant(rp, back, { expectedState: state }, { resource: RESOURCE });
    return { idToken: tokens.id_token!, accessToken: tokens.access_token };
  }

  return {
    issuer,
    jwksUri: `${issuer}/jwks`,
    clientId: 'portcullis-console',
    signIn,
    follow,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

interface ProviderApi {
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
  interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<{ prompt: { name: string; details: Record<string, any> }; params: Record<string, any>; session?: { accountId: string }; grantId?: string }>;
  interactionFinished(req: IncomingMessage, res: ServerResponse, result: Record<string, unknown>, opts: { mergeWithLastSubmission: boolean }): Promise<void>;
  Grant: new (o: { accountId: string; clientId: string }) => { addOIDCScope(s: string): void; addOIDCClaims(c: string[]): void; addResourceScope(r: string, s: string): void; save(): Promise<string> };
}

/** The provider's login and consent interactions, answered the way a person would. */
async function interact(p: ProviderApi, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const details = await p.interactionDetails(req, res);
  if (req.method === 'GET') {
    res.setHeader('content-type', 'text/html');
    const login = details.prompt.name === 'login' ? '<input name="login" placeholder="email"> <label><input type="checkbox" name="mfa" value="1"> MFA</label> ' : '';
    return void res.end(`<!doctype html><title>Company IdP</title><form method="post"><input type="hidden" name="prompt" value="${details.prompt.name}">${login}<button>Continue</button></form>`);
  }
  let body = '';
  for await (const chunk of req) body += chunk;
  const form = new URLSearchParams(body);
  if (details.prompt.name === 'login') {
    const amr = form.get('mfa') ? ['pwd', 'mfa'] : ['pwd'];
    return p.interactionFinished(req, res, { login: { accountId: form.get('login'), amr } }, { mergeWithLastSubmission: false });
  }
  const grant = new p.Grant({ accountId: details.session!.accountId, clientId: details.params.client_id });
  const d = details.prompt.details;
  if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
  if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries((d.missingResourceScopes ?? {}) as Record<string, string[]>)) grant.addResourceScope(indicator, scopes.join(' '));
  return p.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
}
