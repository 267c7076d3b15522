/**
 * One JSON-RPC message from a client, parsed once and checked before anything decides on it.
 * What the policy sees is what the server gets: the gateway forwards the re-serialisation of the
 * object it parsed, so duplicate keys (`{"name":"search","name":"delete"}`), odd whitespace or
 * escapes cannot make a server's parser read another tool than the one authorised.
 * Batches are refused whole (an array, even of one): a batch would let one authorised call carry
 * others past a per-message decision, and MCP 2025-06-18 dropped them from the protocol.
 */
import { GatewayError } from '../errors.js';
import { MCP_NAME_SOURCE, PROTOCOL_VERSION_META_KEY, type McpMessage, type RpcId } from './protocol.js';

export function parseMessage(body: Buffer | null): McpMessage {
  if (body === null || body.length === 0) throw new GatewayError('mcp_invalid_message', 'An MCP POST carries one JSON-RPC message; the body is empty.');
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    throw new GatewayError('mcp_parse_error', 'The body is not valid JSON.');
  }
  if (Array.isArray(value)) throw new GatewayError('mcp_batch', 'JSON-RPC batches are not accepted: send one message per request.');
  if (!isObject(value)) throw new GatewayError('mcp_invalid_message', 'A JSON-RPC message is a JSON object.');
  if (value.jsonrpc !== '2.0') throw new GatewayError('mcp_invalid_message', 'The message must carry "jsonrpc": "2.0".');
  if ('params' in value && !isObject(value.params)) throw new GatewayError('mcp_invalid_message', 'MCP params are a JSON object.');
  const hasId = 'id' in value;
  if ('method' in value) {
    if (typeof value.method !== 'string' || value.method === '') throw new GatewayError('mcp_invalid_message', 'The method must be a non-empty string.');
    if (!hasId) return { kind: 'notification', message: value, method: value.method };
    if (!isRpcId(value.id)) throw new GatewayError('mcp_invalid_message', 'A request id is a string or an integer (MCP: never null).');
    return { kind: 'request', message: value, method: value.method, id: value.id };
  }
  // A client's answer to a server-initiated request (2025-11-25: elicitation, sampling, roots).
  if (hasId && ('result' in value) !== ('error' in value) && (isRpcId(value.id) || value.id === null)) {
    return { kind: 'response', message: value, id: value.id as RpcId | null };
  }
  throw new GatewayError('mcp_invalid_message', 'The message is neither a request, a notification nor a response.');
}

export interface StandardHeaders {
  readonly protocolVersion?: string;
  readonly method?: string;
  readonly name?: string;
}

/**
 * SEP-2243: the `MCP-Protocol-Version`, `Mcp-Method` and `Mcp-Name` headers mirror the body, and
 * an intermediary that routes or decides on one must not let them disagree (-32020, HTTP 400).
 * A header that is absent is not checked here (the 2025-11-25 revision sends none of them; the
 * server enforces presence for its revision); one that is present must match exactly.
 */
export function checkHeaders(msg: McpMessage, h: StandardHeaders): void {
  const params = isObject(msg.message.params) ? msg.message.params : undefined;
  const claimed = envelopeVersion(params);
  if (h.protocolVersion !== undefined && claimed !== undefined && h.protocolVersion !== claimed) {
    throw mismatch(`the MCP-Protocol-Version header names ${h.protocolVersion} but the body's _meta names ${claimed}`);
  }
  if (h.method !== undefined && h.method !== msg.method) {
    throw mismatch(`the Mcp-Method header names ${JSON.stringify(h.method)} but the body's method is ${JSON.stringify(msg.method ?? null)}`);
  }
  if (h.name !== undefined) {
    const decoded = decodeSentinel(h.name);
    if (decoded === undefined) throw mismatch('the Mcp-Name header carries an invalid Base64 value');
    const field = msg.method !== undefined ? MCP_NAME_SOURCE[msg.method] : undefined;
    const raw = field !== undefined ? params?.[field] : typeof params?.name === 'string' ? params.name : params?.uri;
    if (decoded !== raw) throw mismatch(`the Mcp-Name header names ${JSON.stringify(decoded)} but the body names ${JSON.stringify(raw ?? null)}`);
  }
}

/** The revision a 2026-07-28-style request claims in its per-request envelope, if any. */
export function envelopeVersion(params: Record<string, unknown> | undefined): string | undefined {
  const meta = params?._meta;
  if (!isObject(meta)) return undefined;
  const v = meta[PROTOCOL_VERSION_META_KEY];
  return typeof v === 'string' ? v : undefined;
}

const SENTINEL_PREFIX = '=?base64?';
const SENTINEL_SUFFIX = '?=';
const CANONICAL_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** SEP-2243 header values: plain, or `=?base64?…?=` for values that are not plain ASCII. */
export function decodeSentinel(value: string): string | undefined {
  if (!value.startsWith(SENTINEL_PREFIX) || !value.endsWith(SENTINEL_SUFFIX) || value.length < SENTINEL_PREFIX.length + SENTINEL_SUFFIX.length) return value;
  const b64 = value.slice(SENTINEL_PREFIX.length, value.length - SENTINEL_SUFFIX.length);
  if (!CANONICAL_BASE64.test(b64)) return undefined;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(b64, 'base64'));
  } catch {
    return undefined;
  }
}

function mismatch(detail: string): GatewayError {
  return new GatewayError('mcp_header_mismatch', `Header mismatch: ${detail}.`);
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isRpcId(v: unknown): v is RpcId {
  return typeof v === 'string' || (typeof v === 'number' && Number.isInteger(v));
}
