/**
 * The typed request context: the only way stages talk to each other. Each stage fills in what it
 * establishes (principal, route, decision…) and later stages read it; nothing else is shared.
 */
import type { IncomingMessage } from 'node:http';
import type { AgentEntry, OperationRoute, ToolRoute } from '../config/compile.js';
import type { Principal } from '../auth/principal.js';
import type { ErrorCode, Reason } from '../errors.js';
import type { McpCall } from '../mcp/protocol.js';
import type { TrustNow } from '../trust/score.js';
import type { CallAbort } from './call-abort.js';

/** What the decide stage concluded: the scope check and the policy engine. */
export interface Decision {
  readonly allow: boolean;
  readonly approvalRequired: boolean;
  readonly reasons: readonly string[];
  /** Which engine and revision decided ("scope" until the Rego engine is plugged in). */
  readonly revision: string;
}

export interface CallContext {
  readonly requestId: string;
  /** performance.now() at arrival. */
  readonly startedAt: number;
  readonly method: string;
  readonly url: string;
  readonly clientIp: string;
  readonly raw: IncomingMessage;
  /** Aborted when the call must stop: client gone, shutdown, and (later) the kill switch. */
  readonly abort: CallAbort;

  principal?: Principal;
  agent?: AgentEntry;
  /** The agent's live trust score and level when the guard admitted the call. */
  trust?: TrustNow;
  tool?: ToolRoute;
  operation?: OperationRoute;
  params?: Readonly<Record<string, string>>;
  /** Decoded path segments after `/tools/<tool>`. */
  segments?: readonly string[];
  /** Path (with base path and query) sent upstream: exactly what was authorised. */
  upstreamPath?: string;
  query?: string;
  decision?: Decision;
  upstreamHeaders?: Record<string, string | string[]>;
  /** The request body's digest and size, and (opt-in per tool) its redacted content. */
  body?: { sha256: string; bytes: number; captured?: unknown };

  /** MCP tools: the JSON-RPC exchange (src/pipeline/mcp-message.ts). */
  mcp?: McpCall;

  /** The human approval this call was released by. */
  approval?: { readonly id: string; readonly approver: string };
  /** The request body, read whole by the body stage (or the MCP stage's re-serialised message): what forward sends. */
  bufferedBody?: Buffer | null;
  /** Set once a streamed answer is being relayed: its final audit event is written when the response closes. */
  relayed?: boolean;
  /** A streamed answer as it went: bytes relayed, whether it ended whole, and why not. */
  relay?: { bytes: number; complete: boolean; error?: Reason };
  /** Set when the kill switch cut this call in flight: the kill's id. */
  killedBy?: string;

  /** Filled as the call ends. */
  outcome?: {
    status: number;
    code?: ErrorCode;
    reason?: Reason;
    upstreamStatus?: number;
    upstreamMs?: number;
    bytesIn?: number;
  };
}

/** What the request path needs of the audit trail (src/audit/trail.ts). */
export interface AuditPort {
  /** `written`: resolves once handed to the OS; `durable`: once on disk. Rejects when it cannot be. */
  record(type: string, fields: Record<string, unknown>, opts?: { durable?: boolean; written?: boolean }): Promise<void> | undefined;
  healthy(): boolean;
}
