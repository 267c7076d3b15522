/**
 * The gateway.yaml schema. The TypeScript type is derived from it (never written twice), defaults
 * live here, and unknown keys are refused so that a typo fails at start, not at 3 a.m.
 * Keys are a public contract (SPEC.md): add freely, never rename.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { AdminSso, AgentIdentity, OAuthClient, TokenService } from './schema-identity.js';
import { McpSettings, StdioUpstream } from './schema-mcp.js';

const Strict = { additionalProperties: false } as const;
const Duration = (dflt: string) => Type.Union([Type.String(), Type.Number()], { default: dflt });
const Size = (dflt: string) => Type.Union([Type.String(), Type.Number()], { default: dflt });
const Id = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$', maxLength: 128 });
const Port = Type.Integer({ minimum: 0, maximum: 65535 });
// A rate: "50/s", "600/m", "1000/h", or a number per second; burst: calls allowed at once.
const RateLimit = Type.Object(
  { rate: Type.Union([Type.String({ pattern: '^\\s*[0-9]+(\\.[0-9]+)?\\s*/\\s*(s|m|h)\\s*$' }), Type.Number({ exclusiveMinimum: 0 })]), burst: Type.Optional(Type.Integer({ minimum: 1 })) },
  { additionalProperties: false },
);
const Signal = (weight: number, max: number) =>
  Type.Object({ weight: Type.Number({ minimum: 0, maximum: 100, default: weight }), max: Type.Number({ minimum: 0, maximum: 100, default: max }) }, { additionalProperties: false, default: {} });

export const CLASSIFICATIONS = ['public', 'internal', 'confidential', 'regulated'] as const;
export const ACTIONS = ['read', 'write', 'export', 'admin', 'approve'] as const;
export const TRUST_LEVELS = ['untrusted', 'provisional', 'standard', 'elevated', 'trusted'] as const;
const Classification = Type.Union(CLASSIFICATIONS.map((c) => Type.Literal(c)));
const Action = Type.Union(ACTIONS.map((a) => Type.Literal(a)));

const Listener = (port: number) =>
  Type.Object({ host: Type.String({ default: '127.0.0.1' }), port: Type.Optional(Port) }, { ...Strict, default: { port } });
// The proxy listener also bounds slow clients, and names the URL agents reach it by.
const ProxyListener = Type.Object(
  {
    host: Type.String({ default: '127.0.0.1' }),
    port: Type.Optional(Port),
    // What upstreams are told in X-Forwarded-Host/-Proto; without it no X-Forwarded-Host is sent.
    public_url: Type.Optional(Type.String({ pattern: '^https?://[^/?#@]+/?$' })),
    timeouts: Type.Object(
      { headers: Duration('10s'), body: Duration('30s'), idle: Duration('5s') },
      { ...Strict, default: {} },
    ),
  },
  { ...Strict, default: { port: 8080 } },
);

const Issuer = Type.Object(
  {
    issuer: Type.String({ minLength: 1 }),
    jwks_uri: Type.Optional(Type.String({ pattern: '^https?://' })),
    jwks_file: Type.Optional(Type.String({ minLength: 1 })),
    audiences: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
  },
  Strict,
);

const Operation = Type.Object(
  {
    name: Id,
    method: Type.Optional(Type.String({ pattern: '^(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS|\\*)$' })),
    path: Type.Optional(Type.String({ pattern: '^/' })),
    mcp_tool: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    // An MCP method other than tools/call that touches the server's data (resources/read, prompts/get…).
    mcp_method: Type.Optional(Type.String({ minLength: 1 })),
    // resources/read, subscribe and unsubscribe of URIs matching this pattern (`*`: any run of characters).
    mcp_resource: Type.Optional(Type.String({ minLength: 1, maxLength: 2048 })),
    // prompts/get of this prompt name, exactly.
    mcp_prompt: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    action: Action,
    risk: Type.Union([Type.Literal('low'), Type.Literal('medium'), Type.Literal('high')], { default: 'low' }),
    // Per agent × this operation (for an MCP tool: per MCP tool name), on top of the other limits.
    rate_limit: Type.Optional(RateLimit),
  },
  Strict,
);

const Tool = Type.Object(
  {
    // Required, except for a virtual MCP server (`servers`), which has neither upstream nor operations.
    upstream: Type.Optional(Type.Union([Type.String({ pattern: '^https?://' }), StdioUpstream], { description: 'an http:// or https:// URL, or { command, args, env } for an MCP server over stdio' })),
    // protocol: mcp only: one endpoint presenting these MCP tools' tools, named <server>__<tool>.
    servers: Type.Optional(Type.Array(Id, { minItems: 1, uniqueItems: true })),
    protocol: Type.Union([Type.Literal('http'), Type.Literal('mcp')], { default: 'http' }),
    classification: Classification,
    credentials: Type.Optional(Type.Object({ header: Type.String({ minLength: 1 }), value: Type.String() }, Strict)),
    timeout: Duration('10s'),
    max_body: Type.Optional(Type.Union([Type.String(), Type.Number()])),
    tls: Type.Optional(Type.Object({ ca_file: Type.Optional(Type.String()), servername: Type.Optional(Type.String()) }, Strict)),
    operations: Type.Optional(Type.Array(Operation, { minItems: 1 })),
    // protocol: mcp only (docs/mcp.md).
    mcp: Type.Optional(McpSettings),
    // Per agent × this tool, in place of rate_limits.agent_tool (docs/trust.md).
    rate_limit: Type.Optional(RateLimit),
    // What an approver sees of a held call's content (docs/configuration.md "capture").
    capture: Type.Optional(
      Type.Object(
        {
          // JSON pointers (RFC 6901) to show; absent: the whole body or MCP arguments.
          fields: Type.Optional(Type.Array(Type.String({ pattern: '^(/.*)?$' }), { maxItems: 64 })),
          // JSON pointers whose values are masked, besides every key that names a secret.
          mask: Type.Array(Type.String({ pattern: '^/.*$' }), { default: [], maxItems: 64 }),
          max_bytes: Size('16kb'),
        },
        Strict,
      ),
    ),
    audit: Type.Optional(
      Type.Object(
        {
          // Opt in to keeping the (JSON) request body in the audit event, with named fields redacted.
          capture_body: Type.Boolean({ default: false }),
          redact: Type.Array(Type.String({ minLength: 1 }), { default: [] }),
        },
        Strict,
      ),
    ),
  },
  // TypeBox's Value.Default only descends into Record values whose schema has a default of its own.
  { ...Strict, default: {} },
);

const Agent = Type.Object(
  {
    owner: Type.String({ minLength: 1 }),
    purpose: Type.Optional(Type.String()),
    version: Type.Optional(Type.String()),
    roles: Type.Array(Type.String({ minLength: 1 }), { default: [] }),
    max_classification: Classification,
    status: Type.Union([Type.Literal('active'), Type.Literal('suspended'), Type.Literal('retired')], { default: 'active' }),
    // The baseline of the live trust score: the middle of this level's band (docs/trust.md).
    trust_level: Type.Union(TRUST_LEVELS.map((l) => Type.Literal(l)), { default: 'standard' }),
    // This agent's own limit, in place of rate_limits.agent.
    rate_limit: Type.Optional(RateLimit),
    ...AgentIdentity,
  },
  { ...Strict, default: {} },
);

const Sink = Type.Object({ type: Type.String({ minLength: 1 }) }, { additionalProperties: true });

export const ConfigSchema = Type.Object(
  {
    listen: Type.Object({ proxy: ProxyListener, admin: Listener(8081) }, { ...Strict, default: {} }),
    auth: Type.Object(
      {
        issuers: Type.Array(Issuer, { default: [] }),
        algorithms: Type.Array(
          Type.Union(['EdDSA', 'Ed25519', 'ES256', 'ES384', 'RS256', 'PS256', 'RS384', 'PS384', 'RS512', 'PS512'].map((a) => Type.Literal(a))),
          { minItems: 1, default: ['EdDSA', 'ES256', 'RS256', 'PS256'] },
        ),
        clock_tolerance: Duration('5s'),
        max_token_ttl: Duration('15m'),
        max_token_bytes: Size('8kb'),
        // JWS `typ` values accepted besides none, JWT and at+jwt (RFC 8725 §3.11).
        token_types: Type.Array(Type.String({ minLength: 1 }), { default: [] }),
        jwks_cache_max_age: Duration('10m'),
        jwks_cooldown: Duration('30s'),
        token_cache: Type.Object(
          { enabled: Type.Boolean({ default: true }), max_entries: Type.Integer({ minimum: 1, default: 10_000 }) },
          { ...Strict, default: {} },
        ),
      },
      { ...Strict, default: {} },
    ),
    token_service: TokenService,
    oauth_clients: Type.Record(Id, OAuthClient, { default: {}, additionalProperties: false }),
    agents: Type.Record(Id, Agent, { default: {}, additionalProperties: false }),
    tools: Type.Record(Id, Tool, { default: {}, additionalProperties: false }),
    limits: Type.Object({ max_body: Size('1mb') }, { ...Strict, default: {} }),
    policy: Type.Object(
      {
        bundle: Type.String({ minLength: 1, default: './policies/build/bundle.tar.gz' }),
        entrypoint: Type.String({ minLength: 1, default: 'portcullis/decision' }),
        watch: Type.Boolean({ default: true }),
        poll_interval: Duration('30s'),
        // OPA bundle signing: required for a remote bundle unless set to false; for a local one when signing is set.
        require_signature: Type.Optional(Type.Boolean()),
        signing: Type.Optional(
          Type.Object(
            {
              public_key: Type.String({ minLength: 1 }),
              algorithm: Type.Union(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'].map((a) => Type.Literal(a)), { default: 'RS256' }),
              scope: Type.Optional(Type.String({ minLength: 1 })),
            },
            Strict,
          ),
        ),
        // A remote bundle's download: authenticated (bearer or mTLS), size-bounded, https unless allowed.
        download: Type.Object(
          {
            bearer_token: Type.Optional(Type.String({ minLength: 1 })),
            cert_file: Type.Optional(Type.String({ minLength: 1 })),
            key_file: Type.Optional(Type.String({ minLength: 1 })),
            ca_file: Type.Optional(Type.String({ minLength: 1 })),
            max_bytes: Size('64mb'),
            allow_http_hosts: Type.Array(Type.String({ minLength: 1 }), { default: [] }),
          },
          { ...Strict, default: {} },
        ),
        decision_cache: Type.Object(
          { enabled: Type.Boolean({ default: true }), max_entries: Type.Integer({ minimum: 1, default: 10_000 }) },
          { ...Strict, default: {} },
        ),
      },
      { ...Strict, default: {} },
    ),
    approvals: Type.Object(
      {
        hold: Duration('30s'),
        ttl: Duration('15m'),
        notify: Type.Object({ webhook: Type.Union([Type.String({ pattern: '^https?://' }), Type.Null()], { default: null }) }, { ...Strict, default: {} }),
        require_mfa: Type.Boolean({ default: false }),
        mfa_max_age: Duration('15m'),
        retry_after: Duration('5s'),
        // MCP 2026-07-28 clients: each input_required leg waits this long for a decision before answering.
        input_required_wait: Duration('3s'),
      },
      { ...Strict, default: {} },
    ),
    audit: Type.Object(
      {
        chain: Type.Optional(Id),
        sinks: Type.Array(Sink, { default: [{ type: 'file', path: './audit/audit.jsonl' }] }),
        checkpoint: Type.Object({ every: Type.Integer({ minimum: 1, default: 1000 }), interval: Duration('10s') }, { ...Strict, default: {} }),
        signing_key: Type.String({ minLength: 1, default: './.portcullis/audit-signing-key.pem' }),
        generate_signing_key: Type.Optional(Type.Boolean()),
        group_commit: Duration('2ms'),
        sync_interval: Duration('50ms'),
        rotate: Type.Object({ max_bytes: Size('64mb'), max_age: Duration('24h') }, { ...Strict, default: {} }),
      },
      { ...Strict, default: {} },
    ),
    state: Type.Object(
      {
        store: Type.Union([Type.Literal('memory'), Type.Literal('redis')], { default: 'memory' }),
        // The memory store persists kills and revocations here, so a restart forgets neither.
        file: Type.String({ minLength: 1, default: './.portcullis/state.json' }),
        max_staleness: Duration('5s'),
        redis: Type.Object(
          {
            url: Type.String({ default: 'redis://127.0.0.1:6379' }),
            prefix: Type.String({ default: 'portcullis:' }),
            // Sentinel: the sentinels and the monitored master's name (url then only lends its password/db).
            sentinels: Type.Optional(Type.Array(Type.Object({ host: Type.String({ minLength: 1 }), port: Port }, Strict), { minItems: 1 })),
            name: Type.Optional(Type.String({ minLength: 1 })),
            // Cluster: seed nodes as redis:// URLs.
            cluster: Type.Optional(Type.Array(Type.String({ pattern: '^rediss?://' }), { minItems: 1 })),
          },
          { ...Strict, default: {} },
        ),
      },
      { ...Strict, default: {} },
    ),
    admin: Type.Object(
      {
        auth: Type.Object(
          {
            issuers: Type.Array(Issuer, { default: [] }),
            roles_claim: Type.String({ default: 'groups' }),
            role_map: Type.Record(Type.String(), Type.String(), { default: {} }),
            // An admin token whose exp - iat is longer is refused.
            max_token_ttl: Duration('1h'),
          },
          { ...Strict, default: {} },
        ),
        break_glass: Type.Optional(Type.Object({ sha256: Type.String({ pattern: '^[0-9a-fA-F]{64}$' }) }, Strict)),
        sso: AdminSso,
      },
      { ...Strict, default: {} },
    ),
    trust: Type.Object(
      {
        // The lowest score of each level; below `provisional` an agent is untrusted.
        levels: Type.Object(
          {
            provisional: Type.Number({ minimum: 0, maximum: 100, default: 20 }),
            standard: Type.Number({ minimum: 0, maximum: 100, default: 40 }),
            elevated: Type.Number({ minimum: 0, maximum: 100, default: 60 }),
            trusted: Type.Number({ minimum: 0, maximum: 100, default: 80 }),
          },
          { ...Strict, default: {} },
        ),
        // Organisation-wide floor: an agent below this level gets no calls at all (trust_too_low).
        floor: Type.Union(TRUST_LEVELS.map((l) => Type.Literal(l)), { default: 'provisional' }),
        // A behaviour signal costs its weight at once and is forgotten linearly over this window.
        window: Duration('10m'),
        signals: Type.Object(
          {
            refusal: Signal(2, 30),
            policy_violation: Signal(5, 60),
            approval_denied: Signal(10, 40),
            rate_limited: Signal(1, 20),
            anomaly: Signal(10, 40),
          },
          { ...Strict, default: {} },
        ),
        // Points for the version in the token's agent_version claim against the registry's `version`.
        posture: Type.Object(
          {
            approved: Type.Number({ minimum: -100, maximum: 100, default: 5 }),
            unapproved: Type.Number({ minimum: -100, maximum: 100, default: -15 }),
            unknown: Type.Number({ minimum: -100, maximum: 100, default: -5 }),
          },
          { ...Strict, default: {} },
        ),
        attestations: Type.Object(
          {
            audience: Type.String({ minLength: 1, default: 'portcullis-attestation' }),
            max_ttl: Duration('30d'),
            roots: Type.Array(
              Type.Object(
                {
                  issuer: Type.String({ minLength: 1 }),
                  jwks_uri: Type.Optional(Type.String({ pattern: '^https?://' })),
                  jwks_file: Type.Optional(Type.String({ minLength: 1 })),
                  // The most (and, negated, the least) one attestation from this root can move a score.
                  max_weight: Type.Number({ minimum: 0, maximum: 100, default: 20 }),
                },
                Strict,
              ),
              { default: [] },
            ),
          },
          { ...Strict, default: {} },
        ),
        anomalies: Type.Object(
          {
            enabled: Type.Boolean({ default: true }),
            interval: Duration('1m'),
            // Intervals observed before the agent's own baseline is used (and its usual tools are known).
            warmup: Type.Integer({ minimum: 1, default: 5 }),
            // A count this many times the baseline (and at least `min`) in one interval is a spike.
            factor: Type.Number({ minimum: 1, default: 3 }),
            min: Type.Object(
              {
                exports: Type.Integer({ minimum: 1, default: 20 }),
                records: Type.Integer({ minimum: 1, default: 200 }),
                refusals: Type.Integer({ minimum: 1, default: 10 }),
              },
              { ...Strict, default: {} },
            ),
          },
          { ...Strict, default: {} },
        ),
        notify: Type.Object({ webhook: Type.Union([Type.String({ pattern: '^https?://' }), Type.Null()], { default: null }) }, { ...Strict, default: {} }),
      },
      { ...Strict, default: {} },
    ),
    rate_limits: Type.Object(
      {
        agent: Type.Optional(RateLimit),
        agent_tool: Type.Optional(RateLimit),
        user: Type.Optional(RateLimit),
        // How long a call waits for the shared (Redis) limiter before deciding on the local one.
        redis_timeout: Duration('50ms'),
      },
      { ...Strict, default: {} },
    ),
    logging: Type.Object({ level: Type.String({ default: 'info' }) }, { ...Strict, default: {} }),
    shutdown: Type.Object({ grace: Duration('10s') }, { ...Strict, default: {} }),
    dev: Type.Object(
      {
        issuer: Type.Boolean({ default: false }),
        example_tools: Type.Boolean({ default: false }),
        keys_dir: Type.String({ default: './.portcullis/dev' }),
        // A development OpenID Provider with demo people for the console (src/console/dev-idp.ts).
        sso: Type.Boolean({ default: false }),
        sso_port: Type.Integer({ minimum: 1, maximum: 65535, default: 8083 }),
      },
      { ...Strict, default: {} },
    ),
  },
  Strict,
);

export type RawConfig = Static<typeof ConfigSchema>;
export type Classification = (typeof CLASSIFICATIONS)[number];
export type ActionName = (typeof ACTIONS)[number];
export type TrustLevel = (typeof TRUST_LEVELS)[number];
export type { TSchema };
