/**
 * "The company IdP" for tests: the development OpenID Provider (src/console/dev-idp.ts, panva's
 * oidc-provider) on loopback with the test's people, and a signed-in user's ID token and JWT access
 * token from it, obtained through the real authorization code flow (openid-client as the RP).
 */
import * as oidc from 'openid-client';
import { startDevIdp, type DevPerson } from '../../src/console/dev-idp.js';
import { freePort } from './cli.js';

export type TestUser = Partial<DevPerson>;

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
  const people = Object.fromEntries(Object.entries(users).map(([id, u]) => [id, { groups: u.groups ?? [], mayAct: u.mayAct }]));
  const idp = await startDevIdp({
    port: await freePort(),
    people,
    clients: [
      { client_id: 'portcullis-console', client_secret: 'console-secret', redirect_uris: [REDIRECT, ...(opts.redirectUris ?? [])] },
      // Another application at the same IdP, with the same redirect URIs (mix-up and code-injection tests).
      { client_id: 'other-app', client_secret: 'other-secret', redirect_uris: [REDIRECT, ...(opts.redirectUris ?? [])] },
    ],
    resource: { indicator: RESOURCE, audience: 'portcullis' },
  });
  const issuer = idp.issuer;
  const rp = await oidc.discovery(new URL(issuer), 'portcullis-console', undefined, oidc.ClientSecretBasic('console-secret'), { execute: [oidc.allowInsecureRequests] });

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
    const verifier = oidc.randomPKCECodeVerifier();
    const start = oidc.buildAuthorizationUrl(rp, { redirect_uri: REDIRECT, scope: 'openid email groups', state, resource: RESOURCE, code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' });
    const back = await follow(start.href, user, false, (u) => u.href.startsWith(REDIRECT));
    const tokens = await oidc.authorizationCodeGrant(rp, back, { expectedState: state, pkceCodeVerifier: verifier }, { resource: RESOURCE });
    return { idToken: tokens.id_token!, accessToken: tokens.access_token };
  }

  return { issuer, jwksUri: `${issuer}/jwks`, clientId: 'portcullis-console', signIn, follow, close: idp.close };
}
