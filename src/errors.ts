/**
 * The one registry of refusals. An error code (SPEC "Errors the agent sees") fixes the HTTP status
 * and the agent-facing summary; a reason code says precisely why, and the same reason string is
 * used by the response body, the log line, the metric label and (later) the audit event.
 * Reasons are a closed set so that metric label cardinality stays bounded.
 * test/errors.test.ts keeps README's error table in sync with ERROR_CODES.
 */

export const ERROR_CODES = {
  invalid_request: { status: 400, message: 'The request is malformed or ambiguous and was not forwarded.' },
  invalid_token: { status: 401, message: 'The capability token is missing, malformed, expired or not trusted.' },
  insufficient_scope: { status: 403, message: "The token's scopes do not cover this tool and action." },
  forbidden: { status: 403, message: 'The call is not permitted.' },
  killed: { status: 403, message: 'The kill switch stops calls for this agent, user or tool.' },
  approval_pending: { status: 202, message: 'The call waits for a human approver.' },
  approval_denied: { status: 403, message: 'A human approver refused the call.' },
  unknown_route: { status: 404, message: 'No tool operation matches this method and path.' },
  request_timeout: { status: 408, message: 'The request did not arrive in time; nothing was forwarded.' },
  conflict: { status: 409, message: 'The resource changed state before this request could apply.' },
  request_header_fields_too_large: { status: 431, message: 'The request headers are too large; nothing was forwarded.' },
  payload_too_large: { status: 413, message: "The request body exceeds the tool's limit." },
  rate_limited: { status: 429, message: 'Too many calls; retry later.' },
  internal_error: { status: 500, message: 'The gateway failed to handle the call; nothing was forwarded.' },
  upstream_error: { status: 502, message: "The tool's upstream failed or could not be reached." },
  policy_unavailable: { status: 503, message: 'The policy could not be evaluated, so the call is refused.' },
  audit_unavailable: { status: 503, message: 'The audit log cannot be written, so the call is refused.' },
  unavailable: { status: 503, message: 'The gateway is shutting down or not ready.' },
  upstream_timeout: { status: 504, message: "The tool's upstream did not answer in time." },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Reason code → the error code it produces. */
export const REASONS = {
  // authenticate
  token_missing: 'invalid_token',
  token_in_query: 'invalid_token',
  token_too_large: 'invalid_token',
  token_malformed: 'invalid_token',
  token_type_refused: 'invalid_token',
  token_issuer_unknown: 'invalid_token',
  token_algorithm_refused: 'invalid_token',
  token_key_unknown: 'invalid_token',
  token_signature_invalid: 'invalid_token',
  token_expired: 'invalid_token',
  token_not_yet_valid: 'invalid_token',
  token_issued_in_future: 'invalid_token',
  token_claim_missing: 'invalid_token',
  token_claim_invalid: 'invalid_token',
  token_lifetime_too_long: 'invalid_token',
  token_keys_unavailable: 'invalid_token',
  token_revoked: 'invalid_token',
  dpop_proof_missing: 'invalid_token',
  dpop_proof_invalid: 'invalid_token',
  dpop_key_mismatch: 'invalid_token',
  dpop_proof_replayed: 'invalid_token',
  dpop_scheme_mismatch: 'invalid_token',
  dpop_required: 'invalid_token',
  // resolve
  path_malformed: 'invalid_request',
  path_traversal: 'invalid_request',
  path_encoded_separator: 'invalid_request',
  path_double_encoding: 'invalid_request',
  path_nul: 'invalid_request',
  path_parameters: 'invalid_request',
  path_empty_segment: 'invalid_request',
  header_invalid: 'invalid_request',
  method_override: 'invalid_request',
  tool_unknown: 'unknown_route',
  operation_unknown: 'unknown_route',
  // MCP (src/mcp, src/pipeline/mcp-message.ts)
  mcp_parse_error: 'invalid_request',
  mcp_batch: 'invalid_request',
  mcp_invalid_message: 'invalid_request',
  mcp_header_mismatch: 'invalid_request',
  mcp_origin_refused: 'forbidden',
  mcp_method_unknown: 'unknown_route',
  mcp_method_refused: 'unknown_route',
  mcp_discovery_refused: 'unknown_route',
  mcp_tool_unknown: 'unknown_route',
  mcp_resource_unknown: 'unknown_route',
  mcp_prompt_unknown: 'unknown_route',
  mcp_tool_changed: 'forbidden',
  mcp_session_unknown: 'unknown_route',
  mcp_session_foreign: 'forbidden',
  mcp_server_request_refused: 'forbidden',
  // guard
  agent_unknown: 'forbidden',
  agent_suspended: 'forbidden',
  agent_retired: 'forbidden',
  killed_all: 'killed',
  killed_agent: 'killed',
  killed_user: 'killed',
  killed_tool: 'killed',
  state_stale: 'unavailable',
  trust_too_low: 'forbidden',
  rate_limited_agent: 'rate_limited',
  rate_limited_tool: 'rate_limited',
  rate_limited_operation: 'rate_limited',
  rate_limited_user: 'rate_limited',
  // admin API
  session_invalid: 'invalid_token',
  csrf_invalid: 'forbidden',
  mfa_required: 'forbidden',
  body_invalid: 'invalid_request',
  admin_role_missing: 'forbidden',
  not_found: 'unknown_route',
  attestation_invalid: 'invalid_request',
  attestation_superseded: 'conflict',
  registry_conflict: 'conflict',
  owner_inactive: 'invalid_request',
  // decide
  scope_missing: 'insufficient_scope',
  policy_denied: 'forbidden',
  policy_error: 'policy_unavailable',
  // hold
  approval_required: 'approval_pending',
  approval_rejected: 'approval_denied',
  approval_unknown: 'approval_denied',
  approval_used: 'approval_denied',
  approval_expired: 'approval_denied',
  approval_mismatch: 'approval_denied',
  approver_conflict: 'forbidden',
  approver_mfa_required: 'forbidden',
  approval_decided: 'conflict',
  // audit
  audit_log_unwritable: 'audit_unavailable',
  audit_write_failed: 'audit_unavailable',
  // body
  body_too_large: 'payload_too_large',
  body_timeout: 'request_timeout',
  body_not_allowed: 'invalid_request',
  json_too_deep: 'invalid_request',
  headers_timeout: 'request_timeout',
  headers_too_large: 'request_header_fields_too_large',
  request_malformed: 'invalid_request',
  // forward
  upstream_timeout: 'upstream_timeout',
  upstream_unreachable: 'upstream_error',
  upstream_reset: 'upstream_error',
  upstream_5xx: 'upstream_error',
  upstream_tls: 'upstream_error',
  upstream_unscannable: 'upstream_error',
  client_aborted: 'invalid_request',
  // lifecycle
  shutting_down: 'unavailable',
  internal: 'internal_error',
} as const satisfies Record<string, ErrorCode>;

export type Reason = keyof typeof REASONS;

/** A refusal: carries the reason code; the error code and HTTP status follow from the registry. */
export class GatewayError extends Error {
  override readonly name = 'GatewayError';
  readonly code: ErrorCode;
  readonly status: number;
  constructor(
    readonly reason: Reason,
    /** Agent-facing detail; must never contain a secret. */
    detail?: string,
    readonly extra: { reasons?: readonly string[]; policyRevision?: string; approvalId?: string; approvalUrl?: string; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    const code = REASONS[reason];
    super(detail ?? ERROR_CODES[code].message, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.code = code;
    this.status = ERROR_CODES[code].status;
  }

  /** The SPEC's JSON error body. `reasons` leads with the reason code, then any policy reasons. */
  body(requestId: string): ErrorBody {
    const body: ErrorBody = { error: this.code, message: this.message, request_id: requestId, reasons: [this.reason, ...(this.extra.reasons ?? [])] };
    if (this.extra.policyRevision !== undefined) body.policy_revision = this.extra.policyRevision;
    if (this.extra.approvalId !== undefined) body.approval_id = this.extra.approvalId;
    if (this.extra.approvalUrl !== undefined) body.approval_url = this.extra.approvalUrl;
    return body;
  }
}

export interface ErrorBody {
  error: ErrorCode;
  message: string;
  request_id: string;
  reasons: string[];
  /** The policy bundle revision that decided, when a policy decision caused the refusal. */
  policy_revision?: string;
  /** The approval a held call waits for (approval_pending) or was refused on. */
  approval_id?: string;
  /** Where the agent polls that approval (GET, same token): absolute when the request named its host. */
  approval_url?: string;
}
