/**
 * The token endpoint's refusals. The error code is the standard's (RFC 6749 §5.2, RFC 8693 §2.2.2,
 * RFC 8707 §2, RFC 9449 §5); the reason says precisely why, and the same reason string is used by
 * the response (`reasons`), the `token_refused` audit event and the metric label.
 * docs/errors.md lists every reason (test/errors.test.ts keeps it in sync).
 */

export const OAUTH_ERRORS = {
  invalid_request: 400,
  invalid_client: 401,
  invalid_grant: 400,
  unauthorized_client: 400,
  unsupported_grant_type: 400,
  invalid_scope: 400,
  invalid_target: 400,
  invalid_dpop_proof: 400,
  rate_limited: 429,
  temporarily_unavailable: 503,
  server_error: 500,
} as const;

export type OAuthErrorCode = keyof typeof OAUTH_ERRORS;

export const TOKEN_REASONS = {
  form_malformed: 'invalid_request',
  form_too_large: 'invalid_request',
  parameter_missing: 'invalid_request',
  parameter_repeated: 'invalid_request',
  parameter_invalid: 'invalid_request',
  client_auth_multiple: 'invalid_request',
  client_auth_missing: 'invalid_client',
  client_unknown: 'invalid_client',
  client_inactive: 'invalid_client',
  client_killed: 'invalid_client',
  client_assertion_invalid: 'invalid_client',
  client_assertion_expired: 'invalid_client',
  client_assertion_audience: 'invalid_client',
  client_assertion_replayed: 'invalid_client',
  client_keys_unavailable: 'invalid_client',
  client_secret_invalid: 'invalid_client',
  client_method_not_allowed: 'invalid_client',
  grant_unsupported: 'unsupported_grant_type',
  grant_invalid: 'invalid_grant',
  grant_expired: 'invalid_grant',
  grant_replayed: 'invalid_grant',
  grant_revoked: 'invalid_grant',
  grant_client_mismatch: 'invalid_grant',
  redirect_uri_mismatch: 'invalid_grant',
  pkce_mismatch: 'invalid_grant',
  scope_invalid: 'invalid_scope',
  scope_beyond_ceiling: 'invalid_scope',
  scope_widened: 'invalid_scope',
  resource_unknown: 'invalid_target',
  subject_token_invalid: 'invalid_request',
  subject_token_expired: 'invalid_request',
  subject_issuer_untrusted: 'invalid_request',
  subject_token_revoked: 'invalid_request',
  subject_type_mismatch: 'invalid_request',
  may_act_refused: 'invalid_request',
  subject_killed: 'invalid_request',
  delegation_too_deep: 'invalid_request',
  dpop_required: 'invalid_dpop_proof',
  dpop_proof_invalid: 'invalid_dpop_proof',
  dpop_proof_replayed: 'invalid_dpop_proof',
  rate_limited_client: 'rate_limited',
  rate_limited_address: 'rate_limited',
  state_unavailable: 'temporarily_unavailable',
  audit_unavailable: 'temporarily_unavailable',
  internal: 'server_error',
} as const satisfies Record<string, OAuthErrorCode>;

export type TokenReason = keyof typeof TOKEN_REASONS;

export class OAuthError extends Error {
  override readonly name = 'OAuthError';
  readonly code: OAuthErrorCode;
  readonly status: number;
  constructor(
    readonly reason: TokenReason,
    /** error_description: names what is wrong, never a secret or a token. */
    description: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(description);
    this.code = TOKEN_REASONS[reason];
    this.status = OAUTH_ERRORS[this.code];
  }

  body(requestId: string): Record<string, unknown> {
    return { error: this.code, error_description: this.message, reasons: [this.reason], request_id: requestId };
  }
}
