/**
 * The token service on the proxy listener, where agents already are: RFC 8414 metadata, the JWKS
 * every minted token verifies against (all published keys, for rotation), and the token endpoint.
 * With oauth_clients, also the authorization endpoint (authorize.ts) and, for each MCP tool, its
 * RFC 9728 protected resource metadata naming this service, which is how an MCP host finds where
 * its person signs in.
 */
import type { FastifyInstance } from 'fastify';
import type { RuntimeConfig } from '../config/compile.js';
import type { TokenServiceConfig } from '../config/compile-identity.js';
import { GRANTS } from './grants.js';
import { createTokenEndpoint, type TokenEndpointDeps } from './token-endpoint.js';
import { registerAuthorize, type AuthorizeDeps } from './authorize.js';
import { createGrantTokens } from './grant-tokens.js';
import { createPersonGrants } from './person-grants.js';
import { createClientResolver } from './client-metadata.js';
import { registerResourceMetadata } from './resource-metadata.js';

export function registerTokenRoutes(app: FastifyInstance, config: RuntimeConfig, ts: TokenServiceConfig, deps: TokenEndpointDeps & Omit<AuthorizeDeps, 'tokens' | 'clients'>): void {
  const ac = config.authorizationCode;
  const sso = config.admin.sso;
  const people = ac !== undefined && sso !== undefined;
  const tokens = createGrantTokens(ts, deps.keys);
  const clients = ac ? createClientResolver(ac) : undefined;
  const person = people ? createPersonGrants(config, ts, ac, { state: deps.state, registry: deps.registry, tokens, clients: clients! }) : undefined;
  const metadata = JSON.stringify({
    issuer: ts.issuer,
    token_endpoint: ts.tokenEndpoint,
    jwks_uri: `${ts.issuer}/oauth2/jwks`,
    ...(people ? { authorization_endpoint: `${ts.issuer}/oauth2/authorize`, code_challenge_methods_supported: ['S256'], authorization_response_iss_parameter_supported: true } : {}),
    ...(people && ac.metadataDocuments ? { client_id_metadata_document_supported: true } : {}),
    grant_types_supported: [GRANTS.clientCredentials, GRANTS.tokenExchange, ...(people ? [GRANTS.authorizationCode, GRANTS.refreshToken] : [])],
    response_types_supported: people ? ['code'] : [],
    token_endpoint_auth_methods_supported: ['private_key_jwt', 'client_secret_basic', 'client_secret_post', ...(people ? ['none'] : [])],
    token_endpoint_auth_signing_alg_values_supported: config.auth.algorithms,
    dpop_signing_alg_values_supported: config.auth.algorithms,
    scopes_supported: [...config.tools.keys()].map((t) => `${t}:*`),
    service_documentation: 'https://github.com/portcullis/portcullis/blob/main/docs/identity.md',
  });
  const jwks = JSON.stringify(deps.keys.jwks);
  const json = 'application/json; charset=utf-8';

  // RFC 8414 §3: the well-known path, with the issuer's own path (if any) appended.
  const path = new URL(ts.issuer).pathname.replace(/\/$/, '');
  for (const url of new Set(['/.well-known/oauth-authorization-server', `/.well-known/oauth-authorization-server${path}`])) {
    app.get(url, (_request, reply) => reply.header('content-type', json).header('cache-control', 'public, max-age=300').send(metadata));
  }
  app.get('/oauth2/jwks', (_request, reply) => reply.header('content-type', json).header('cache-control', 'public, max-age=300').send(jwks));
  app.post('/oauth2/token', createTokenEndpoint(config, ts, { ...deps, person }));
  if (people) {
    registerAuthorize(app, config, ts, ac, sso, { ...deps, tokens, clients: clients! });
    registerResourceMetadata(app, config, ts);
  }
}
