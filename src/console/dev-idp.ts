/**
 * `dev.sso: true`: a development OpenID Provider (oidc-provider, in-process, on loopback) with demo
 * people, so that `npm start` and a browser show the whole console loop. Its sign-in page asks only
 * who you are and whether to claim MFA: never use it for anything real. Tests reuse it as "the
 * company IdP" with their own people.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export interface DevPerson {
  readonly groups: readonly string[];
  /** RFC 8693 §4.4 `may_act`, put into the person's tokens (token-exchange tests). */
  readonly mayAct?: unknown;
}

/** The demo people of `dev.sso` (their groups are the shipped gateway.yaml's role_map). */
export const DEMO_PEOPLE: Readonly<Record<string, DevPerson>> = {
  'ann@example.com': { groups: ['approvers'] },
  'otto@example.com': { groups: ['sec-ops'] },
  'sam@example.com': { groups: ['soc'] },
  'ada@example.com': { groups: ['platform'] },
};

export interface DevIdpOptions {
  readonly port: number;
  readonly host?: string;
  readonly clients: readonly { client_id: string; client_secret: string; redirect_uris: readonly string[] }[];
  readonly people: Readonly<Record<string, DevPerson>>;
  /** RFC 8707 resource → JWT access tokens for it (token-exchange tests). */
  readonly resource?: { readonly indicator: string; readonly audience: string };
}

export interface DevIdp {
  readonly issuer: string;
  close(): Promise<void>;
}

interface ProviderApi {
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
  interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<{ prompt: { name: string; details: Record<string, any> }; params: Record<string, any>; session?: { accountId: string } }>;
  interactionFinished(req: IncomingMessage, res: ServerResponse, result: Record<string, unknown>, opts: { mergeWithLastSubmission: boolean }): Promise<void>;
  Grant: new (o: { accountId: string; clientId: string }) => { addOIDCScope(s: string): void; addOIDCClaims(c: string[]): void; addResourceScope(r: string, s: string): void; save(): Promise<string> };
}

export async function startDevIdp(o: DevIdpOptions): Promise<DevIdp> {
  // A development dependency: only loaded when dev.sso (or a test) asks for it.
  const { default: Provider } = (await import('oidc-provider')) as unknown as { default: new (issuer: string, config: Record<string, unknown>) => ProviderApi };
  const host = o.host ?? '127.0.0.1';
  const issuer = `http://${host}:${o.port}`;
  const claimsOf = (id: string) => {
    const p = o.people[id];
    return p ? { groups: [...p.groups], ...(p.mayAct ? { may_act: p.mayAct } : {}) } : undefined;
  };
  const provider = new Provider(issuer, {
    clients: o.clients.map((c) => ({ ...c, redirect_uris: [...c.redirect_uris], grant_types: ['authorization_code'], response_types: ['code'], require_auth_time: true })),
    findAccount: (_ctx: unknown, id: string) => (o.people[id] ? { accountId: id, claims: () => ({ sub: id, email: id, ...claimsOf(id) }) } : undefined),
    claims: { openid: ['sub', 'amr'], email: ['email'], groups: ['groups', 'may_act'] },
    conformIdTokenClaims: false,
    features: {
      devInteractions: { enabled: false },
      ...(o.resource
        ? {
            resourceIndicators: {
              enabled: true,
              defaultResource: () => o.resource!.indicator,
              getResourceServerInfo: () => ({ scope: '', audience: o.resource!.audience, accessTokenFormat: 'jwt', accessTokenTTL: 300 }),
              useGrantedResource: () => true,
            },
          }
        : {}),
    },
    extraTokenClaims: async (_ctx: unknown, token: { accountId?: string }) => (token.accountId ? claimsOf(token.accountId) : undefined),
    pkce: { required: () => true },
    ttl: { IdToken: 300, AccessToken: 300, Grant: 300, Session: 3600, Interaction: 600 },
  });
  const handle = provider.callback();
  const server: Server = createServer((req, res) => {
    if (!req.url?.startsWith('/interaction/')) return void handle(req, res);
    void interact(provider, o.people, req, res).catch((err: Error) => {
      res.statusCode = 500;
      res.end(err.message);
    });
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(o.port, host, () => resolve()));
  return { issuer, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** The sign-in and consent pages, answered the way a person would (MFA only when claimed). */
async function interact(p: ProviderApi, people: Readonly<Record<string, DevPerson>>, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const details = await p.interactionDetails(req, res);
  if (req.method === 'GET') {
    const options = Object.keys(people).map((id) => `<option>${id.replace(/[<>&"]/g, '')}</option>`).join('');
    const login = details.prompt.name === 'login' ? `<p>Development sign-in (dev.sso): never for real use.</p><input name="login" list="people" placeholder="email"><datalist id="people">${options}</datalist> <label><input type="checkbox" name="mfa" value="1"> MFA</label> ` : '<p>Let the console read your groups?</p>';
    res.setHeader('content-type', 'text/html; charset=utf-8');
    return void res.end(`<!doctype html><title>Development IdP</title><form method="post"><input type="hidden" name="prompt" value="${details.prompt.name}">${login}<button>Continue</button></form>`);
  }
  let body = '';
  for await (const chunk of req) body += chunk;
  const form = new URLSearchParams(body);
  if (details.prompt.name === 'login') {
    const amr = form.get('mfa') ? ['pwd', 'mfa'] : ['pwd'];
    return p.interactionFinished(req, res, { login: { accountId: form.get('login') ?? '', amr } }, { mergeWithLastSubmission: false });
  }
  const grant = new p.Grant({ accountId: details.session!.accountId, clientId: details.params.client_id });
  const d = details.prompt.details;
  if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
  if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries((d.missingResourceScopes ?? {}) as Record<string, string[]>)) grant.addResourceScope(indicator, scopes.join(' '));
  return p.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
}
