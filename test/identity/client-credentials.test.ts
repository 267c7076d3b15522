import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { createTestIssuer, type TestIssuer } from '../helpers/issuer.js';
import { startUpstream, type RecordingUpstream } from '../helpers/upstream.js';
import { auditEvents, type RunningGateway } from '../helpers/gateway.js';
import { send } from '../helpers/http.js';
import { agentKey, oauthError, startTokenService, testSecretHash, type AgentKey } from '../helpers/token-service.js';
import { crmTools } from '../e2e/fixtures.js';

// The agent side is openid-client (a certified OAuth client library), not hand-built requests.
let issuer: TestIssuer;
let up: RecordingUpstream;
let gw: RunningGateway & { issuerUrl: string };
let keyed: AgentKey;
const OLD_SECRET = 'old-secret-0123456789abcdef';
const NEW_SECRET = 'new-secret-0123456789abcdef';

beforeAll(async () => {
  issuer = await createTestIssuer();
  up = await startUpstream();
  keyed = await agentKey();
  gw = await startTokenService(issuer, {
    tools: crmTools(up),
    agents: {
      'support-bot': { credentials: { jwks_file: keyed.jwksFile }, scopes: ['crm:read', 'crm:write'] },
      'secret-bot': { credentials: { secret_hashes: [await testSecretHash(OLD_SECRET), await testSecretHash(NEW_SECRET)] }, scopes: ['crm:read'] },
    },
  });
});
afterAll(async () => {
  await gw.close();
  await up.close();
});

async function client(id: string, auth: oidc.ClientAuth): Promise<oidc.Configuration> {
  return oidc.discovery(new URL(gw.issuerUrl), id, undefined, auth, { execute: [oidc.allowInsecureRequests], algorithm: 'oauth2' });
}

describe('client_credentials through openid-client', () => {
  it('discovers the RFC 8414 metadata and gets a token by private_key_jwt that the proxy accepts', async () => {
    const config = await client('support-bot', oidc.PrivateKeyJwt(keyed.privateKey));
    expect(config.serverMetadata().token_endpoint).toBe(`${gw.issuerUrl}/oauth2/token`);
    const tokens = await oidc.clientCredentialsGrant(config, { scope: 'crm:read', task_id: 'task-42' });
    expect(tokens.token_type).toBe('bearer');
    expect(tokens.scope).toBe('crm:read');
    expect(tokens.expires_in).toBe(300);
    const claims = decodeJwt(tokens.access_token);
    expect(claims).toMatchObject({ iss: gw.issuerUrl, sub: 'support-bot', aud: 'portcullis', scope: 'crm:read', task_id: 'task-42', client_id: 'support-bot' });
    expect(claims.exp! - claims.iat!).toBe(300);
    expect(decodeProtectedHeader(tokens.access_token)).toMatchObject({ typ: 'at+jwt', alg: 'EdDSA' });

    const res = await send(gw.proxyUrl, { path: '/tools/crm/contacts/c-1', headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(res.status).toBe(200);
    const events = await auditEvents(gw);
    const issued = events.find((e) => e.type === 'token_issued' && e.token.jti === claims.jti)!;
    expect(issued).toMatchObject({ grant: 'client_credentials', auth_method: 'private_key_jwt', client: { id: 'support-bot' }, granted_scope: ['crm:read'], task_id: 'task-42', token: { type: 'Bearer', dpop_jkt: null } });
    const call = events.find((e) => e.type === 'tool_call' && e.token?.jti === claims.jti);
    expect(call ?? events.find((e) => e.type === 'tool_call')).toBeDefined();
    // Never the token, the assertion or a secret in the trail.
    const text = JSON.stringify(events);
    expect(text).not.toContain(tokens.access_token.split('.')[2]);
  });

  it('grants the whole ceiling when no scope is asked for, and refuses a scope beyond it', async () => {
    const config = await client('support-bot', oidc.PrivateKeyJwt(keyed.privateKey));
    expect((await oidc.clientCredentialsGrant(config)).scope).toBe('crm:read crm:write');
    const err = await oidc.clientCredentialsGrant(config, { scope: 'crm:export' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(oidc.ResponseBodyError);
    expect((err as oidc.ResponseBodyError).error).toBe('invalid_scope');
    expect((err as oidc.ResponseBodyError).cause).toMatchObject({ reasons: ['scope_beyond_ceiling'] });
  });

  it('accepts client_secret_basic and client_secret_post, with both secrets of a rotation', async () => {
    for (const secret of [OLD_SECRET, NEW_SECRET]) {
      const basic = await oidc.clientCredentialsGrant(await client('secret-bot', oidc.ClientSecretBasic(secret)), { scope: 'crm:read' });
      expect(decodeJwt(basic.access_token).sub).toBe('secret-bot');
      const post = await oidc.clientCredentialsGrant(await client('secret-bot', oidc.ClientSecretPost(secret)), { scope: 'crm:read' });
      expect(decodeJwt(post.access_token).sub).toBe('secret-bot');
    }
    const err = await oauthError(await oidc.clientCredentialsGrant(await client('secret-bot', oidc.ClientSecretBasic('wrong')), { scope: 'crm:read' }).catch((e: unknown) => e));
    expect(err).toMatchObject({ error: 'invalid_client', status: 401, reasons: ['client_secret_invalid'], challenge: 'Basic realm="portcullis"' });
  });

  it('refuses a secret for an agent registered with keys only', async () => {
    const err = await oauthError(await oidc.clientCredentialsGrant(await client('support-bot', oidc.ClientSecretBasic('anything')), { scope: 'crm:read' }).catch((e: unknown) => e));
    expect(err).toMatchObject({ error: 'invalid_client', status: 401, reasons: ['client_method_not_allowed'] });
  });

  it('publishes its signing key in the JWKS the metadata names', async () => {
    const meta = (await (await fetch(`${gw.issuerUrl}/.well-known/oauth-authorization-server`)).json()) as { jwks_uri: string };
    const jwks = (await (await fetch(meta.jwks_uri)).json()) as { keys: { kid: string; d?: string }[] };
    const tokens = await oidc.clientCredentialsGrant(await client('support-bot', oidc.PrivateKeyJwt(keyed.privateKey)), { scope: 'crm:read' });
    expect(jwks.keys.map((k) => k.kid)).toContain(decodeProtectedHeader(tokens.access_token).kid);
    expect(jwks.keys.every((k) => k.d === undefined)).toBe(true);
  });
});
