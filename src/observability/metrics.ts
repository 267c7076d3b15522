/**
 * One prom-client Registry per gateway (tests build many in one process). Label values are bounded:
 * tool and operation names come from the config (never from the request), and outcome/reason from
 * the closed registry in errors.ts.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { HotCounter, HotHistogram } from './hot-metrics.js';

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export interface Metrics {
  readonly registry: Registry;
  // Updated on every call: hot-metrics.ts (children made once, updates are additions).
  readonly calls: HotCounter;
  readonly callDuration: HotHistogram;
  readonly upstreamDuration: HotHistogram;
  readonly tokenCache: HotCounter;
  readonly policyDecisions: HotCounter;
  readonly policyCache: HotCounter;
  readonly adminRequests: Counter<'route' | 'status'>;
  readonly breakGlass: Counter<'route' | 'status'>;
  readonly credentialEcho: Counter<'tool'>;
  readonly tokensIssued: Counter<'grant' | 'auth_method' | 'token_type'>;
  readonly tokenRefusals: Counter<'error' | 'reason'>;
  readonly oauthAuthorizations: Counter<'result' | 'reason'>;
  readonly dpopProofs: Counter<'result'>;
  readonly registryChanges: Counter<'kind' | 'change'>;
  readonly scimRequests: Counter<'resource' | 'method' | 'status'>;
  readonly mcpToolsListed: Counter<'tool' | 'result'>;
  readonly mcpPinChanges: Counter<'tool' | 'action'>;
  readonly mcpServerRequests: Counter<'tool' | 'method' | 'result'>;
  readonly trustSignals: Counter<'kind' | 'result'>;
  readonly trustLevelChanges: Counter<'from' | 'to'>;
  readonly anomalies: Counter<'name'>;
  readonly attestations: Counter<'result'>;
  readonly rateLimitFallback: Counter;
  readonly accessLogDropped: Counter;
  readonly policyEval: Histogram;
  readonly policyBundle: Gauge<'revision'>;
  readonly policyReloads: Counter<'result' | 'trigger'>;
  readonly policyLastReload: Gauge<'result'>;
  readonly auditEvents: Counter<'stage'>;
  readonly auditFlush: Histogram;
  readonly auditHealthy: Gauge;
  readonly auditSinkShipped: Counter<'sink'>;
  readonly auditSinkFailures: Counter<'sink'>;
  readonly auditSinkLag: Gauge<'sink'>;
}

export function createMetrics(opts: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'portcullis_' });
  const registers = [registry];
  return {
    registry,
    calls: new HotCounter(
      'portcullis_calls_total',
      'Tool calls by tool, operation, outcome (ok or the error code) and reason code.',
      ['tool', 'operation', 'outcome', 'reason'],
      registers,
    ),
    callDuration: new HotHistogram(
      'portcullis_call_duration_seconds',
      'Whole-call latency as the gateway saw it, from arrival to response headers.',
      ['tool', 'outcome'],
      LATENCY_BUCKETS,
      registers,
    ),
    upstreamDuration: new HotHistogram(
      'portcullis_upstream_duration_seconds',
      'Time from sending the call upstream to its response headers.',
      ['tool'],
      LATENCY_BUCKETS,
      registers,
    ),
    tokenCache: new HotCounter('portcullis_token_cache_total', 'Verified-token cache lookups by result (hit or miss).', ['result'], registers),
    policyDecisions: new HotCounter(
      'portcullis_policy_decisions_total',
      'Policy decisions by result: allow, deny, approval, or error (a deny: policy_unavailable).',
      ['result'],
      registers,
    ),
    policyCache: new HotCounter(
      'portcullis_policy_cache_total',
      'Policy decisions looked up in the decision cache, by result: hit (no evaluation) or miss (evaluated, then kept).',
      ['result'],
      registers,
    ),
    policyEval: new Histogram({
      name: 'portcullis_policy_eval_seconds',
      help: 'In-process policy evaluation time (input serialisation, wasm evaluation, output parsing).',
      buckets: [0.000005, 0.00001, 0.00002, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.005, 0.025],
      registers,
    }),
    policyBundle: new Gauge({
      name: 'portcullis_policy_bundle_info',
      help: 'The active policy bundle (value 1, revision as a label).',
      labelNames: ['revision'],
      registers,
    }),
    policyReloads: new Counter({
      name: 'portcullis_policy_reloads_total',
      help: 'Policy bundle loads by result (success or failure) and trigger (start, watch, poll, admin, signal).',
      labelNames: ['result', 'trigger'],
      registers,
    }),
    policyLastReload: new Gauge({
      name: 'portcullis_policy_last_reload_timestamp_seconds',
      help: 'When the last policy load attempt ended, by result.',
      labelNames: ['result'],
      registers,
    }),
    auditEvents: new Counter({
      name: 'portcullis_audit_events_total',
      help: 'Audit events by stage: sealed (chained), written (on disk), shipped is per sink.',
      labelNames: ['stage'],
      registers,
    }),
    auditFlush: new Histogram({
      name: 'portcullis_audit_flush_seconds',
      help: 'One group commit: write and fdatasync of a batch of audit events.',
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1],
      registers,
    }),
    auditHealthy: new Gauge({
      name: 'portcullis_audit_log_writable',
      help: '1 while the local audit log accepts writes; 0 while calls are refused with audit_unavailable.',
      registers,
    }),
    auditSinkShipped: new Counter({
      name: 'portcullis_audit_sink_shipped_total',
      help: 'Audit events delivered to each shipping sink.',
      labelNames: ['sink'],
      registers,
    }),
    auditSinkFailures: new Counter({
      name: 'portcullis_audit_sink_failures_total',
      help: 'Failed delivery attempts per shipping sink (each is retried).',
      labelNames: ['sink'],
      registers,
    }),
    auditSinkLag: new Gauge({
      name: 'portcullis_audit_sink_lag_events',
      help: 'Events on disk that a sink has not acknowledged yet.',
      labelNames: ['sink'],
      registers,
    }),
    adminRequests: new Counter({
      name: 'portcullis_admin_requests_total',
      help: 'Admin API requests by route and status.',
      labelNames: ['route', 'status'],
      registers,
    }),
    breakGlass: new Counter({
      name: 'portcullis_admin_break_glass_total',
      help: 'Admin API requests authenticated by the break-glass token, by route and status (each is also an audit event).',
      labelNames: ['route', 'status'],
      registers,
    }),
    credentialEcho: new Counter({
      name: 'portcullis_credential_echo_total',
      help: "Upstream answers (or stream chunks) that echoed the tool's injected credential, which was replaced before relaying.",
      labelNames: ['tool'],
      registers,
    }),
    registryChanges: new Counter({
      name: 'portcullis_registry_changes_total',
      help: 'Registry records written, by kind (Agent, User, Group) and change (created, updated, deleted).',
      labelNames: ['kind', 'change'],
      registers: [registry],
    }),
    scimRequests: new Counter({
      name: 'portcullis_scim_requests_total',
      help: 'SCIM requests by resource type, method and status.',
      labelNames: ['resource', 'method', 'status'],
      registers: [registry],
    }),
    tokensIssued: new Counter({
      name: 'portcullis_tokens_issued_total',
      help: 'Capability tokens minted by the token service, by grant, client authentication and token type.',
      labelNames: ['grant', 'auth_method', 'token_type'],
      registers,
    }),
    tokenRefusals: new Counter({
      name: 'portcullis_token_refusals_total',
      help: 'Token requests refused, by OAuth error and reason (each is also a token_refused audit event).',
      labelNames: ['error', 'reason'],
      registers,
    }),
    oauthAuthorizations: new Counter({
      name: 'portcullis_oauth_authorizations_total',
      help: 'Authorization requests of oauth_clients by result (consented, denied, refused) and reason.',
      labelNames: ['result', 'reason'],
      registers,
    }),
    dpopProofs: new Counter({
      name: 'portcullis_dpop_proofs_total',
      help: 'DPoP proofs checked on proxied calls, by result (ok or the reason code).',
      labelNames: ['result'],
      registers,
    }),
    mcpToolsListed: new Counter({
      name: 'portcullis_mcp_tools_listed_total',
      help: 'MCP tools in tools/list results: shown, or hidden and why (not_configured, scope, policy, definition_changed, malformed).',
      labelNames: ['tool', 'result'],
      registers,
    }),
    mcpPinChanges: new Counter({
      name: 'portcullis_mcp_tool_pins_total',
      help: 'MCP tool definition pins: first_seen, changed (hidden and refused until approved), approved.',
      labelNames: ['tool', 'action'],
      registers,
    }),
    mcpServerRequests: new Counter({
      name: 'portcullis_mcp_server_requests_total',
      help: 'Requests an MCP server sent its client (sampling, elicitation, roots), by method and result: allowed or refused (tools.<name>.mcp.server_requests).',
      labelNames: ['tool', 'method', 'result'],
      registers,
    }),
    trustSignals: new Counter({
      name: 'portcullis_trust_signals_total',
      help: 'Behaviour signals about agents by kind: recorded, or coalesced (past 20 per agent and kind per second).',
      labelNames: ['kind', 'result'],
      registers,
    }),
    trustLevelChanges: new Counter({
      name: 'portcullis_trust_level_changes_total',
      help: 'Agents whose trust level changed, seen by this replica.',
      labelNames: ['from', 'to'],
      registers,
    }),
    anomalies: new Counter({
      name: 'portcullis_anomalies_total',
      help: "Anomalies against an agent's own baseline: export_spike, record_spike, refusal_surge, unusual_tool.",
      labelNames: ['name'],
      registers,
    }),
    attestations: new Counter({
      name: 'portcullis_attestations_total',
      help: 'Attestations posted: accepted, or the reason they were refused.',
      labelNames: ['result'],
      registers,
    }),
    rateLimitFallback: new Counter({
      name: 'portcullis_rate_limit_local_fallback_total',
      help: 'Calls whose shared rate limit was decided by the local limiter because Redis did not answer in time.',
      registers,
    }),
    accessLogDropped: new Counter({
      name: 'portcullis_access_log_dropped_total',
      help: 'Access log lines dropped because stdout did not keep up and the buffer was full (the audit trail is never dropped).',
      registers,
    }),
  };
}
