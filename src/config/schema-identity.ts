/**
 * The identity parts of gateway.yaml: the token service (SPEC Part 2 "Token service") and the
 * per-agent keys of the registry (how an agent authenticates to it, the most it may ask for).
 */
import { Type } from '@sinclair/typebox';

const Strict = { additionalProperties: false } as const;
const Duration = (dflt: string) => Type.Union([Type.String(), Type.Number()], { default: dflt });
const Size = (dflt: string) => Type.Union([Type.String(), Type.Number()], { default: dflt });
const RateLimit = (rate: string, burst: number) =>
  Type.Object(
    { rate: Type.Union([Type.String({ pattern: '^\\s*[0-9]+(\\.[0-9]+)?\\s*/\\s*(s|m|h)\\s*$' }), Type.Number({ exclusiveMinimum: 0 })], { default: rate }), burst: Type.Integer({ minimum: 1, default: burst }) },
    { ...Strict, default: {} },
  );
// `<tool>:<action>` or `<tool>:*`: what a token's `scope` lists.
const Scope = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*:([a-z]+|\\*)$', maxLength: 160 });

/** agents.<id>.credentials: keys (private_key_jwt, RFC 7523) or slow secret hashes, never a secret. */
export const AgentCredentials = Type.Object(
  {
    jwks_file: Type.Optional(Type.String({ minLength: 1 })),
    jwks_uri: Type.Optional(Type.String({ pattern: '^https?://' })),
    // PHC strings ($scrypt$ln=…,r=…,p=…$salt$hash); two while a secret is rotated.
    secret_hashes: Type.Optional(Type.Array(Type.String({ pattern: '^\\$scrypt\\$' }), { minItems: 1, maxItems: 2 })),
  },
  Strict,
);

export const AgentIdentity = {
  credentials: Type.Optional(AgentCredentials),
  // The most any token of this agent may carry (the token service's ceiling).
  scopes: Type.Array(Scope, { default: [] }),
  // Only sender-constrained (DPoP, RFC 9449) tokens for this agent.
  require_dpop: Type.Boolean({ default: false }),
  // The longest token the token service mints for this agent (SCIM `maxTokenTtl`).
  max_token_ttl: Type.Optional(Type.Union([Type.String(), Type.Number()])),
  // Read by the policy as agent.risk_profile (SCIM `riskProfile`).
  risk_profile: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
};

const SubjectIssuer = Type.Object(
  {
    issuer: Type.String({ minLength: 1 }),
    jwks_uri: Type.Optional(Type.String({ pattern: '^https?://' })),
    jwks_file: Type.Optional(Type.String({ minLength: 1 })),
    audiences: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
    roles_claim: Type.String({ minLength: 1, default: 'roles' }),
    // IdP group → the role name the policy knows; groups not listed give no role.
    role_map: Type.Optional(Type.Record(Type.String({ minLength: 1 }), Type.String({ minLength: 1 }))),
    // The user's id in minted tokens: `sub` by default, or e.g. `email`.
    subject_claim: Type.String({ minLength: 1, default: 'sub' }),
  },
  Strict,
);

export const TokenService = Type.Object(
  {
    enabled: Type.Boolean({ default: false }),
    issuer: Type.Optional(Type.String({ pattern: '^https?://[^?#]+$' })),
    // PKCS#8 PEM files, Ed25519 or P-256: the first signs, all are published. Empty with
    // dev.issuer: a development key generated on first start under dev.keys_dir.
    signing_keys: Type.Array(Type.String({ minLength: 1 }), { default: [] }),
    ttl: Duration('5m'),
    // The `aud` of minted tokens; a `resource` parameter (RFC 8707) must name one of them.
    audiences: Type.Array(Type.String({ minLength: 1 }), { minItems: 1, default: ['portcullis'] }),
    subject_issuers: Type.Array(SubjectIssuer, { default: [] }),
    // How long a client assertion (private_key_jwt) may live: exp - iat, and exp - now.
    assertion_max_age: Duration('5m'),
    max_body: Size('16kb'),
    rate_limits: Type.Object(
      { client: RateLimit('20/s', 40), address: RateLimit('50/s', 100) },
      { ...Strict, default: {} },
    ),
    // Verified client secrets remembered (by a SHA-256 of client and secret) so that a correct
    // secret pays the slow hash once per this long; a wrong one pays it every time, rate limited.
    secret_cache_ttl: Duration('5m'),
    // The authorization code flow for oauth_clients (MCP hosts acting for a person).
    authorization_code: Type.Object(
      {
        // How long a code may wait to be redeemed (RFC 6749 §4.1.2: short; 10 minutes at most).
        code_ttl: Duration('1m'),
        // How long a refresh token lives; each use rotates it (a reused one revokes its family).
        refresh_ttl: Duration('8h'),
        // Clients identified by a Client ID Metadata Document URL (their client_id), fetched from
        // URLs matching `allow` only; they act as `agent`.
        client_metadata_documents: Type.Optional(
          Type.Object(
            {
              agent: Type.String({ minLength: 1, maxLength: 128 }),
              allow: Type.Array(Type.String({ pattern: '^https?://' }), { minItems: 1 }),
              cache_ttl: Duration('5m'),
            },
            Strict,
          ),
        ),
      },
      { ...Strict, default: {} },
    ),
  },
  { ...Strict, default: {} },
);

/** oauth_clients.<id>: an application (an MCP host) that obtains tokens for a person who signs in and consents. */
export const OAuthClient = Type.Object(
  {
    // Shown on the consent page.
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    // The registered agent the client acts as: its tokens carry act.sub = this agent, sub = the person.
    agent: Type.String({ minLength: 1, maxLength: 128 }),
    // Compared exactly (RFC 6749 §3.1.2.3): https, or http on loopback.
    redirect_uris: Type.Array(Type.String({ minLength: 1, maxLength: 2048 }), { minItems: 1 }),
    // At most these scopes (within the agent's); absent: the agent's.
    scopes: Type.Optional(Type.Array(Scope)),
  },
  Strict,
);

/** admin.sso: people sign in to the console (and the admin API) with the company IdP. */
export const AdminSso = Type.Optional(
  Type.Object(
    {
      issuer: Type.String({ pattern: '^https?://' }),
      client_id: Type.String({ minLength: 1 }),
      client_secret: Type.Optional(Type.String({ minLength: 1 })),
      // Defaults to admin.auth.roles_claim; mapped through admin.auth.role_map.
      roles_claim: Type.Optional(Type.String({ minLength: 1 })),
      // These roles act only with a recent MFA sign-in (`amr`, `auth_time`); otherwise step-up.
      mfa_for: Type.Array(Type.Union([Type.Literal('operator'), Type.Literal('approver'), Type.Literal('auditor'), Type.Literal('admin')]), { default: [] }),
      mfa_max_age: Duration('15m'),
      session_ttl: Duration('8h'),
      // `<admin listener base URL>/console/callback` unless set (behind a proxy).
      redirect_uri: Type.Optional(Type.String({ pattern: '^https?://' })),
      scopes: Type.String({ default: 'openid email profile groups' }),
    },
    Strict,
  ),
);
