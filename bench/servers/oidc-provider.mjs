// The peer for the token endpoint: panva's oidc-provider (OpenID Certified), doing the same grant —
// client_credentials, the client authenticated by private_key_jwt with the key in AGENT_JWKS — and
// issuing the same kind of token: a JWT access token (RFC 9068) signed with an Ed25519 key, for a
// resource indicator. Its development in-memory adapter keeps the assertion jti replay cache, as
// Portcullis's memory state store does.
import { readFileSync } from 'node:fs';
import { createPrivateKey } from 'node:crypto';
import Provider from 'oidc-provider';

const env = process.env;
const issuer = `http://127.0.0.1:${env.PORT}`;
const signing = { ...createPrivateKey(readFileSync(env.SIGNING_KEY)).export({ format: 'jwk' }), kid: 'bench', alg: 'EdDSA', use: 'sig' };
const agentKeys = JSON.parse(readFileSync(env.AGENT_JWKS, 'utf8'));
const RESOURCE = 'https://portcullis.bench';
const provider = new Provider(issuer, {
  jwks: { keys: [signing] },
  clients: [
    {
      client_id: 'bench-agent',
      token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: 'EdDSA',
      id_token_signed_response_alg: 'EdDSA',
      jwks: agentKeys,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      scope: 'crm:read crm:write',
    },
  ],
  scopes: ['crm:read', 'crm:write'],
  ttl: { ClientCredentials: 300 },
  features: {
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => RESOURCE,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({ scope: 'crm:read crm:write', audience: 'portcullis', accessTokenFormat: 'jwt', accessTokenTTL: 300, jwt: { sign: { alg: 'EdDSA' } } }),
    },
  },
  enabledJWA: { clientAuthSigningAlgValues: ['EdDSA', 'ES256'] },
});
const server = provider.listen(Number(env.PORT));
server.once('listening', () => process.send?.({ ready: Number(env.PORT), issuer }));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
