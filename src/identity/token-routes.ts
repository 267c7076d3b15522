/**
 * The token service on the proxy listener, where agents already are: RFC 8414 metadata, the JWKS
 * every minted token verifies against (all published keys, for rotation), and the token endpoint.
 */
import type { FastifyInstance } from 'fastify';
import type { RuntimeConfig } from '../config/compile.js';
import type { TokenServiceConfig } from '../config/compile-identity.js';
import { GRANTS } from './grants.js';
import { createTokenEndpoint, type TokenEndpointDeps } from './token-endpoint.js';

export function registerTokenRoutes(app: FastifyInstance, config: RuntimeConfig, ts: TokenServiceConfig, deps: TokenEndpointDeps): void {
  const metadata = JSON.stringify({
    issuer: ts.issuer,
    token_endpoint: ts.tokenEndpoint,
    jwks_uri: `${ts.issuer}/oauth2/jwks`,
    grant_types_supported: [GRANTS.clientCredentials, GRANTS.tokenExchange],
    response_types_supported: [],
    token_endpoint_auth_methods_supported: ['private_key_jwt', 'client_secret_basic', 'client_secret_post'],
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
  app.post('/oauth2/token', createTokenEndpoint(config, ts, deps));
}
