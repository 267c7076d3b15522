/**
 * Refusals of MCP calls, in the protocol's own shape: a JSON-RPC error object answering the
 * request's id, so that an MCP client surfaces it as a protocol error (the SDKs raise it from
 * callTool) rather than a transport failure. `error.data` is the gateway's usual error body, so the
 * reason code is the same one the audit event and the metric carry.
 *
 * HTTP status: a decision about a request the gateway understood (forbidden, killed, scope,
 * approval, unknown tool) is answered in-band with 200, as a server answers a request it processed.
 * Failures of the transport or of the gateway keep their HTTP status, as MCP's transport requires:
 * 401 (with WWW-Authenticate) for tokens, 400 for parse errors, batches and header mismatches
 * (-32020), 413, 429, and 5xx, where a client should retry elsewhere or later.
 */
import type { ErrorCode, ErrorBody, GatewayError, Reason } from '../errors.js';
import { RPC, type McpCall } from './protocol.js';

/** Portcullis's server-defined error codes (JSON-RPC reserves -32000…-32099 for these). */
const CODE_BY_ERROR: Partial<Record<ErrorCode, number>> = {
  forbidden: -32050,
  insufficient_scope: -32051,
  killed: -32052,
  approval_pending: -32053,
  approval_denied: -32054,
  rate_limited: -32055,
  invalid_token: -32056,
  policy_unavailable: -32057,
  audit_unavailable: -32057,
  unavailable: -32057,
  upstream_error: -32058,
  upstream_timeout: -32058,
  payload_too_large: RPC.invalidRequest,
  invalid_request: RPC.invalidRequest,
  conflict: -32050,
  internal_error: RPC.internalError,
};

const CODE_BY_REASON: Partial<Record<Reason, number>> = {
  mcp_parse_error: RPC.parseError,
  mcp_batch: RPC.invalidRequest,
  mcp_invalid_message: RPC.invalidRequest,
  mcp_header_mismatch: RPC.headerMismatch,
  mcp_method_unknown: RPC.methodNotFound,
  mcp_method_refused: RPC.methodNotFound,
  mcp_discovery_refused: RPC.methodNotFound,
  // MCP: "Unknown tools" are -32602.
  mcp_tool_unknown: RPC.invalidParams,
  // MCP: an invalid prompt name is -32602; a resource no operation covers is answered alike.
  mcp_prompt_unknown: RPC.invalidParams,
  mcp_resource_unknown: RPC.invalidParams,
  operation_unknown: RPC.methodNotFound,
};

/** Error codes answered in-band (HTTP 200) when the message was a request with an id. */
const IN_BAND = new Set<ErrorCode>(['forbidden', 'insufficient_scope', 'killed', 'approval_pending', 'approval_denied', 'unknown_route', 'conflict']);

export function rpcCode(err: GatewayError): number {
  return CODE_BY_REASON[err.reason] ?? CODE_BY_ERROR[err.code] ?? RPC.internalError;
}

export interface RpcRefusal {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

export function rpcRefusal(err: GatewayError, mcp: McpCall | undefined, requestId: string): RpcRefusal {
  const id = mcp?.kind === 'request' ? mcp.id! : null;
  const data: ErrorBody = err.body(requestId);
  // Hosts show error.message, not error.data: the first human-readable reason (the policy's) goes there too.
  const why = err.extra.reasons?.[0];
  const message = why === undefined ? err.message : `${err.message.replace(/\.$/, '')}: ${why}`;
  const body = { jsonrpc: '2.0', id, error: { code: rpcCode(err), message, data } };
  // MCP transport: an unknown session is HTTP 404, whatever the message, so the client re-initialises.
  const inBand = id !== null && IN_BAND.has(err.code) && err.reason !== 'mcp_session_unknown';
  // Any other 404 would read as "session gone" to a client; a refused notification (no id) is 400.
  const status = inBand ? 200 : err.status === 404 && err.reason !== 'mcp_session_unknown' && mcp?.kind === 'notification' ? 400 : err.status;
  return { status, body };
}

/** The gateway's own `requestState` prefix: a retry carrying it presents an approval. */
export const APPROVAL_STATE_PREFIX = 'portcullis.approval:';

/**
 * A held tools/call for a 2026-07-28 client: instead of holding the connection, answer
 * `input_required` with a requestState and an empty `inputRequests` (nothing for the client to
 * fulfil, only to retry): the SDKs retry the identical call with the requestState, and the gateway
 * releases it once a human approved. An SDK reads an empty `inputRequests` as "retry later" and
 * gives up with an error after a few rounds (the Go SDK after 3), never with a result. The same
 * answer is a failed tool result (`isError`, the reason as text) for a client that ignores
 * `resultType`, so no client can read it as success.
 */
export function inputRequiredResult(mcp: McpCall, approvalId: string, body: ErrorBody): Record<string, unknown> {
  return {
    jsonrpc: '2.0',
    id: mcp.id ?? null,
    result: {
      resultType: 'input_required',
      inputRequests: {},
      requestState: APPROVAL_STATE_PREFIX + approvalId,
      isError: true,
      content: [{ type: 'text', text: body.message }],
      _meta: { 'dev.portcullis/approval': { approval_id: approvalId, approval_url: body.approval_url, message: body.message, reasons: body.reasons, request_id: body.request_id } },
    },
  };
}
