/**
 * SCIM refusals (RFC 7644 §3.12): one registry of reason → HTTP status and `scimType`, so the
 * response body, the audit event and the metric label share the reason. The body is the SCIM
 * Error message, with our reason beside it (an extension member SCIM clients ignore).
 */
export const ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';

export const SCIM_REASONS = {
  scim_unauthorized: { status: 401 },
  scim_role_missing: { status: 403 },
  scim_not_found: { status: 404 },
  scim_uniqueness: { status: 409, scimType: 'uniqueness' },
  scim_version_mismatch: { status: 412 },
  scim_payload_too_large: { status: 413 },
  scim_filter_invalid: { status: 400, scimType: 'invalidFilter' },
  scim_too_many: { status: 400, scimType: 'tooMany' },
  scim_syntax_invalid: { status: 400, scimType: 'invalidSyntax' },
  scim_value_invalid: { status: 400, scimType: 'invalidValue' },
  scim_path_invalid: { status: 400, scimType: 'invalidPath' },
  scim_no_target: { status: 400, scimType: 'noTarget' },
  scim_mutability: { status: 400, scimType: 'mutability' },
  owner_inactive: { status: 400, scimType: 'invalidValue' },
  scim_unavailable: { status: 503 },
  scim_internal: { status: 500 },
} as const satisfies Record<string, { status: number; scimType?: string }>;

export type ScimReason = keyof typeof SCIM_REASONS;

/** A refusal of a registry change or a SCIM request; nothing was changed. */
export class ScimError extends Error {
  override readonly name = 'ScimError';
  readonly status: number;
  readonly scimType: string | undefined;
  constructor(readonly reason: ScimReason, detail: string, opts: { cause?: unknown } = {}) {
    super(detail, opts.cause === undefined ? undefined : { cause: opts.cause });
    const r = SCIM_REASONS[reason] as { status: number; scimType?: string };
    this.status = r.status;
    this.scimType = r.scimType;
  }

  body(requestId: string): Record<string, unknown> {
    // RFC 7644 §3.12: `status` is a string in the JSON body.
    return { schemas: [ERROR_SCHEMA], status: String(this.status), ...(this.scimType ? { scimType: this.scimType } : {}), detail: this.message, reason: this.reason, request_id: requestId };
  }
}
