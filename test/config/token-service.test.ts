import { describe, expect, it } from 'vitest';
import { compileConfig } from '../../src/config/compile.js';
import { parseConfig } from '../../src/config/load.js';

const BASE = `
agents:
  support-bot: { owner: alice@example.com, roles: [support_agent], max_classification: confidential, scopes: ["crm:read"] }
tools:
  crm:
    upstream: http://127.0.0.1:9101
    classification: confidential
    operations:
      - { name: get-contact, method: GET, path: /contacts/:id, action: read }
`;
const TS = `token_service: { enabled: true, issuer: https://gw.example.com, signing_keys: [./k.pem] }\n`;
const compile = (yaml: string) => compileConfig(parseConfig(yaml), process.cwd());

describe('token_service config', () => {
  it('trusts its own issuer without listing it, at the token endpoint under the issuer', () => {
    const c = compile(BASE + TS);
    expect(c.tokenService).toMatchObject({ issuer: 'https://gw.example.com', tokenEndpoint: 'https://gw.example.com/oauth2/token', ttlSec: 300, audiences: ['portcullis'] });
    expect(c.auth.issuers).toEqual([{ issuer: 'https://gw.example.com', audiences: ['portcullis'], selfIssued: true }]);
    expect(c.auth.algorithms).toEqual(['EdDSA', 'Ed25519', 'ES256', 'RS256', 'PS256']);
  });

  it.each([
    ['token_service: { enabled: true, signing_keys: [./k.pem] }', 'token_service.issuer: is required'],
    ['token_service: { enabled: true, issuer: http://gw.example.com, signing_keys: [./k.pem] }', 'token_service.issuer: must use https://'],
    ['token_service: { enabled: true, issuer: https://gw.example.com }', 'token_service.signing_keys: needs at least one'],
    ['token_service: { enabled: true, issuer: https://gw.example.com, signing_keys: [./k.pem], ttl: 1h }', 'token_service.ttl: must not exceed auth.max_token_ttl'],
    [
      'token_service: { enabled: true, issuer: https://gw.example.com, signing_keys: [./k.pem], subject_issuers: [{ issuer: https://sso.example.com, audiences: [portcullis] }] }',
      'token_service.subject_issuers.0: needs exactly one of jwks_uri or jwks_file',
    ],
  ])('refuses %s', (yaml, message) => {
    expect(() => compile(BASE + yaml)).toThrow(message);
  });

  it("checks each agent's scope ceiling and credentials against the catalogue", () => {
    expect(() => compile(BASE.replace('scopes: ["crm:read"]', 'scopes: ["payroll:read"]'))).toThrow('agents.support-bot.scopes.0: names tool "payroll"');
    expect(() => compile(BASE.replace('scopes: ["crm:read"]', 'scopes: ["crm:read"], credentials: { secret_hashes: ["$scrypt$ln=15,r=8,p=1$bad$bad"] }'))).toThrow(
      'agents.support-bot.credentials.secret_hashes.0',
    );
    expect(() => compile(BASE.replace('scopes: ["crm:read"]', 'scopes: ["crm:read"], credentials: {}'))).toThrow('agents.support-bot.credentials: needs jwks_file, jwks_uri or secret_hashes');
    expect(() => compile(BASE.replace('scopes: ["crm:read"]', 'scopes: ["crm:read"], credentials: { jwks_uri: "http://keys.example.com/jwks" }'))).toThrow('must use https://');
  });

  it('generates the development key only with dev.issuer', () => {
    const c = compile(`${BASE}token_service: { enabled: true, issuer: http://127.0.0.1:8080 }\ndev: { issuer: true, keys_dir: /tmp/pc-dev }\n`);
    expect(c.tokenService).toMatchObject({ generateKey: true, signingKeys: ['/tmp/pc-dev/token-service.pem'] });
  });
});

describe('oauth_clients config', () => {
  const SSO = 'admin: { sso: { issuer: https://sso.example.com, client_id: console } }\n';
  const client = (c: string) => `oauth_clients: { desk: ${c} }\n`;
  it('compiles a client with exact redirect URIs, acting as a registered agent', () => {
    const c = compile(BASE + TS + SSO + client('{ agent: support-bot, redirect_uris: ["http://127.0.0.1:3334/oauth/callback", "com.example.desk:/cb"] }'));
    expect(c.authorizationCode!.clients.get('desk')).toMatchObject({ agent: 'support-bot', name: 'desk' });
  });
  it.each([
    [client('{ agent: support-bot, redirect_uris: ["https://a.example.com/cb"] }'), 'oauth_clients: needs token_service.enabled'],
    [TS + client('{ agent: support-bot, redirect_uris: ["https://a.example.com/cb"] }'), 'oauth_clients: needs admin.sso'],
    [TS + SSO + client('{ agent: nobody, redirect_uris: ["https://a.example.com/cb"] }'), 'oauth_clients.desk.agent: names "nobody"'],
    [TS + SSO + client('{ agent: support-bot, redirect_uris: ["http://evil.example.com/cb"] }'), 'oauth_clients.desk.redirect_uris.0: must use https://'],
    [TS + SSO + client('{ agent: support-bot, redirect_uris: ["https://a.example.com/cb#x"] }'), 'oauth_clients.desk.redirect_uris.0: must not carry a fragment'],
    [
      TS.replace('signing_keys: [./k.pem]', 'signing_keys: [./k.pem], authorization_code: { client_metadata_documents: { agent: support-bot, allow: ["https://*.example.com/clients/*"] } }') + SSO,
      'client_metadata_documents.allow.0: must name its host exactly',
    ],
  ])('refuses %s', (yaml, message) => {
    expect(() => compile(BASE + yaml)).toThrow(message);
  });
});
