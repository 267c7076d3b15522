/**
 * The MCP vocabulary the gateway relies on, for both revisions in use: 2025-11-25 (sessions,
 * `initialize`, GET streams) and 2026-07-28 (stateless; every request carries its protocol version
 * in `params._meta` and mirrors method and name into `Mcp-Method` / `Mcp-Name`, SEP-2243).
 * Every method has one rule here (docs/mcp.md, "Methods"): nothing passes by accident.
 */

export const MODERN_REVISION = '2026-07-28';
/** The `_meta` key a 2026-07-28 request names its revision with (the per-request envelope). */
export const PROTOCOL_VERSION_META_KEY = 'io.modelcontextprotocol/protocolVersion';

/** How the gateway treats a method. */
export type MethodRule =
  /** Carries no tool data: passes for any agent whose token names this tool at all. */
  | 'control'
  /** tools/list: passes, and its result is filtered to what this caller may call. */
  | 'list-tools'
  /** tools/call: an operation matched by `mcp_tool`, decided by the policy. */
  | 'call-tool'
  /** Reads or subscribes to the server's data: refused unless an operation names it in `mcp_method`. */
  | 'data';

export const METHOD_RULES: ReadonlyMap<string, MethodRule> = new Map<string, MethodRule>([
  ['initialize', 'control'],
  ['server/discover', 'control'],
  ['ping', 'control'],
  ['logging/setLevel', 'control'],
  // 2026-07-28's replacement for the GET stream: list-changed and resource-updated notifications only.
  ['subscriptions/listen', 'control'],
  ['notifications/initialized', 'control'],
  ['notifications/cancelled', 'control'],
  ['notifications/progress', 'control'],
  ['notifications/roots/list_changed', 'control'],
  ['tools/list', 'list-tools'],
  ['tools/call', 'call-tool'],
  ['resources/list', 'data'],
  ['resources/templates/list', 'data'],
  ['resources/read', 'data'],
  ['resources/subscribe', 'data'],
  ['resources/unsubscribe', 'data'],
  ['prompts/list', 'data'],
  ['prompts/get', 'data'],
  // Completions suggest argument values of prompts and resources: the server's data too.
  ['completion/complete', 'data'],
]);
// Not listed, so refused: tasks/* (a task's result would be fetched outside the call the policy
// decided), and any method a later revision adds until it has a rule here.

export const DATA_METHODS: readonly string[] = [...METHOD_RULES].filter(([, r]) => r === 'data').map(([m]) => m);

/** Which body field `Mcp-Name` mirrors, per method (SEP-2243). */
export const MCP_NAME_SOURCE: Readonly<Record<string, 'name' | 'uri' | 'taskId'>> = Object.freeze(Object.assign(Object.create(null) as Record<string, 'name' | 'uri' | 'taskId'>, {
  'tools/call': 'name',
  'prompts/get': 'name',
  'resources/read': 'uri',
  'tasks/get': 'taskId',
  'tasks/update': 'taskId',
  'tasks/cancel': 'taskId',
}));

/** JSON-RPC 2.0 and MCP error codes the gateway answers with (docs/mcp.md, "Errors"). */
export const RPC = {
  parseError: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internalError: -32603,
  /** SEP-2243: a standard header disagrees with the body. */
  headerMismatch: -32020,
} as const;

/** A client→gateway JSON-RPC message, as the policy sees it. */
export type RpcId = string | number;

export interface McpMessage {
  readonly kind: 'request' | 'notification' | 'response';
  /** The message as parsed; what is forwarded is exactly its re-serialisation. */
  readonly message: Record<string, unknown>;
  readonly method?: string;
  readonly id?: RpcId | null;
}

/** What the gateway established about one exchange with an MCP tool (CallContext.mcp). */
export interface McpCall {
  /** A POSTed message, a GET stream (2025-11-25) or a session's end (DELETE). */
  readonly transport: 'message' | 'stream' | 'session-end';
  readonly kind?: McpMessage['kind'];
  readonly method?: string;
  readonly id?: RpcId | null;
  /** tools/call: the tool's name and arguments exactly as authorised. */
  readonly tool?: string;
  readonly arguments?: Record<string, unknown> | null;
  /** A client response: the method of the server request it answers, when this replica relayed that request. */
  readonly answers?: string;
  /** resources/read, subscribe, unsubscribe: the URI as sent; completion/complete: its ref's URI. */
  readonly uri?: string;
  /** prompts/get: the prompt's name (its `arguments` are in `arguments`); completion/complete: its ref's name. */
  readonly prompt?: string;
  /** sha256 of the arguments' canonical JSON: what an approval is bound to and the audit event keeps. */
  readonly argumentsSha256?: string | null;
  /** The protocol revision the client speaks, from the body's envelope or the header. */
  readonly revision: string | null;
  /** 2026-07-28 or later: approvals answer `input_required` instead of holding the connection. */
  readonly modern: boolean;
  readonly session: string | null;
  /** An approval presented through the gateway's own requestState (2026-07-28 retries). */
  readonly approvalId?: string;
  /** Filled by the tools/list filter: what was shown and what was hidden, and why. */
  listing?: { shown: number; hidden: { name: string; why: string }[] };
}
