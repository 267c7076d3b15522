/**
 * A real OpenID Provider (panva's oidc-provider) on loopback as "the company IdP", and a signed-in
 * user's ID token and JWT access token from it, obtained through the real authorization code flow:
 * openid-client as the relying party, the provider's own development login and consent pages.
 */
import type { Server } from 'node:http';
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
  close(): Promise<void>;
}

const REDIRECT = 'http://127.0.0.1/callback';
const RESOURCE = 'https://portcullis.test';

export async function startIdp(users: Record<string, TestUser>): Promise<TestIdp> {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: [{ client_id: 'portcullis-console', client_secret: 'console-secret', redirect_uris: [REDIRECT], grant_types: ['authorization_code'], response_types: ['code'] }],
    findAccount: (_ctx: unknown, id: string) =>
      users[id] ? { accountId: id, claims: () => ({ sub: id, email: id, groups: [...(users[id]!.groups ?? [])], ...(users[id]!.mayAct ? { may_act: users[id]!.mayAct } : {}) }) } : undefined,
    claims: { openid: ['sub'], email: ['email'], groups: ['groups', 'may_act'] },
    conformIdTokenClaims: false,
    features: {
      devInteractions: { enabled: true },
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
  const server = (provider as unknown as { listen(port: number): Server }).listen(port);
  await new Promise<void>((r) => server.once('listening', () => r()));
  const rp = await oidc.discovery(new URL(issuer), 'portcullis-console', undefined, oidc.ClientSecretBasic('console-secret'), { execute: [oidc.allowInsecureRequests] });

  async function signIn(user: string) {
    const jar = new Map<string, string>();
    const go = async (url: string, init: RequestInit = {}): Promise<Response> => {
      const res = await fetch(url, { ...init, redirect: 'manual', headers: { ...(init.headers as Record<string, string>), cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') } });
      for (const c of res.headers.getSetCookie()) {
        const [pair] = c.split(';');
        const eq = pair!.indexOf('=');
        jar.set(pair!.slice(0, eq), pair!.slice(eq + 1));
      }
      return res;
    };
    const state = oidc.randomState();
    let res = await go(oidc.buildAuthorizationUrl(rp, { redirect_uri: REDIRECT, scope: 'openid email groups', state, resource: RESOURCE }).href);
    // login, then consent: each an interaction page the development pages would post back.
    for (let step = 0; step < 6; step++) {
      const location = new URL(res.headers.get('location')!, issuer);
      if (location.href.startsWith(REDIRECT)) {
        const tokens = await oidc.authorizationCodeGrant(rp, location, { expectedState: state }, { resource: RESOURCE });
        return { idToken: tokens.id_token!, accessToken: tokens.access_token };
      }
      if (location.pathname.startsWith('/interaction/')) {
        const page = await go(location.href);
        const prompt = /name="prompt" value="(\w+)"/.exec(await page.text())?.[1] ?? 'login';
        const body = new URLSearchParams(prompt === 'login' ? { prompt, login: user, password: 'any' } : { prompt });
        res = await go(location.href, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: body.toString() });
      } else {
        res = await go(location.href);
      }
    }
    throw new Error('the sign-in did not reach the callback');
  }

  return {
    issuer,
    jwksUri: `${issuer}/jwks`,
    clientId: 'portcullis-console',
    signIn,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
