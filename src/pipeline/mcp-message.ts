/**
 * Stage 2b — for an MCP tool, what the call is: the JSON-RPC message is read (within the tool's
 * body limit), parsed once, checked against the SEP-2243 headers, and matched to an operation by
 * the method's rule (src/mcp/protocol.ts): tools/call by `mcp_tool`, data methods by `mcp_method`,
 * control messages by rule. Nothing unknown passes: an unlisted method or tool is refused. After
 * this stage the forwarded body is the re-serialisation of exactly the object the policy sees.
 * HTTP tools skip it.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { McpToolRoute, OperationRoute } from '../config/compile.js';
import { unsafeUri } from '../mcp/resource-uri.js';
import { canonical, sha256Hex } from '../audit/chain.js';
import { GatewayError } from '../errors.js';
import { checkHeaders, envelopeVersion, isObject, parseMessage } from '../mcp/message.js';
import { pinVerdict } from '../mcp/pins.js';
import { METHOD_RULES, MODERN_REVISION, type McpCall } from '../mcp/protocol.js';
import { APPROVAL_STATE_PREFIX } from '../mcp/rpc-errors.js';
import type { StateStore } from '../state/store.js';
import type { CallContext } from './context.js';
import { readBody } from './body.js';
import { exceedsDepth, MAX_JSON_DEPTH } from '../mcp/json-depth.js';

export interface McpMessageHooks {
  /** The method of the server request a client response answers, if known. */
  readonly methodAnswered?: (ctx: CallContext) => string | undefined;
  /** The re-list of a tool's definitions in flight after the server announced a change, if any. */
  readonly relisting?: (tool: string) => Promise<void> | undefined;
}

export function createMcpMessage(state: StateStore, bodyTimeoutMs: number, hooks: McpMessageHooks = {}) {
  // Synchronous (nothing to do) for HTTP tools.
  return function mcpMessage(ctx: CallContext): Promise<void> | undefined {
    const route = ctx.tool!.mcp;
    if (!route) return undefined;
    const h = ctx.raw.headers;
    // MCP Streamable HTTP: servers must validate Origin (DNS rebinding); a client that sends none is not a browser.
    const origin = one(h.origin);
    if (origin !== undefined && !route.allowedOrigins.has(origin.toLowerCase())) {
      throw new GatewayError('mcp_origin_refused', `Origin ${JSON.stringify(origin)} may not call the MCP tool ${ctx.tool!.name}.`);
    }
    const version = one(h['mcp-protocol-version']);
    const session = one(h['mcp-session-id']) ?? null;
    if (ctx.method !== 'POST') {
      // A GET opens a stream and a DELETE ends a session: neither has content, and a body would be
      // bytes the upstream reads that nothing here authorised.
      const te = h['transfer-encoding'];
      if (te !== undefined || (h['content-length'] !== undefined && h['content-length'] !== '0')) {
        throw new GatewayError('body_not_allowed', `An MCP ${ctx.method} carries no body.`);
      }
      ctx.bufferedBody = null;
      ctx.mcp = { transport: ctx.method === 'GET' ? 'stream' : 'session-end', revision: version ?? null, modern: isModern(version), session };
      return undefined;
    }
    return message(ctx, route, h, version, session);
  };

  async function message(ctx: CallContext, route: McpToolRoute, h: IncomingHttpHeaders, version: string | undefined, session: string | null): Promise<void> {
    if (!/^application\/json\s*(?:;|$)/i.test(one(h['content-type']) ?? '')) {
      throw new GatewayError('mcp_invalid_message', 'An MCP message is sent as Content-Type: application/json.');
    }
    const body = await readBody(ctx, bodyTimeoutMs);
    if (body !== null && exceedsDepth(body, MAX_JSON_DEPTH)) throw new GatewayError('json_too_deep', `The JSON-RPC message is nested deeper than ${MAX_JSON_DEPTH} levels.`);
    const msg = parseMessage(body);
    // Known before the checks below, so that their refusals can answer the request's id.
    ctx.mcp = { transport: 'message', kind: msg.kind, method: msg.method, id: msg.id, revision: version ?? null, modern: isModern(version), session };
    checkHeaders(msg, { protocolVersion: version, method: one(h['mcp-method']), name: one(h['mcp-name']) });
    const params = isObject(msg.message.params) ? msg.message.params : undefined;
    const revision = envelopeVersion(params) ?? version ?? null;
    let call: McpCall = { ...ctx.mcp, revision, modern: isModern(revision ?? undefined) };

    if (msg.kind === 'response') {
      call = { ...call, answers: hooks.methodAnswered?.(ctx) };
    } else {
      const method = msg.method!;
      const rule = METHOD_RULES.get(method);
      const tool = ctx.tool!;
      if (rule === undefined) {
        throw new GatewayError('mcp_method_unknown', `The gateway has no rule for the MCP method ${JSON.stringify(method)}, so it is refused.`);
      } else if (rule === 'data') {
        const matched = dataOperation(route, tool.name, method, params);
        ctx.operation = matched.op;
        call = { ...call, ...matched.names };
      } else if (rule === 'call-tool') {
        const name = params?.name;
        if (typeof name !== 'string') throw new GatewayError('mcp_invalid_message', 'tools/call needs params.name, a string.');
        const args = params!.arguments;
        if (args !== undefined && !isObject(args)) throw new GatewayError('mcp_invalid_message', 'tools/call params.arguments must be an object.');
        // Exact names only: a look-alike (case, width, homoglyph, zero-width) is simply another, unknown tool.
        const op = route.tools.get(name);
        if (!op) throw new GatewayError('mcp_tool_unknown', `${JSON.stringify(name)} is not a tool of ${tool.name} this gateway knows.`);
        // The server announced a changed list: its definitions are checked again before any call passes.
        const relisting = hooks.relisting?.(tool.name);
        if (relisting) await relisting;
        if (pinVerdict(route.pins.get(name), state.toolPin(tool.name, name), undefined) === 'changed') {
          throw new GatewayError('mcp_tool_changed', `The definition of ${name} changed since it was approved; an admin must approve the new one.`);
        }
        ctx.operation = op;
        // The gateway declares no tasks capability, and a receiver without it runs a task-augmented
        // request as a plain one (MCP tasks): the result then comes back in this call, which the
        // policy decided, instead of through tasks/result, which nothing would govern.
        delete params!.task;
        const state_ = params!.requestState;
        let approvalId: string | undefined;
        if (typeof state_ === 'string' && state_.startsWith(APPROVAL_STATE_PREFIX)) {
          // Our own requestState (an approval we answered input_required for): never the server's to see.
          approvalId = state_.slice(APPROVAL_STATE_PREFIX.length);
          delete params!.requestState;
        }
        const a = (args ?? null) as Record<string, unknown> | null;
        call = { ...call, tool: name, arguments: a, argumentsSha256: sha256Hex(canonical(a)), approvalId };
      }
    }
    ctx.mcp = call;
    ctx.bufferedBody = Buffer.from(JSON.stringify(msg.message));
  }
}

const DISCOVERY = new Set(['resources/list', 'resources/templates/list', 'prompts/list']);
const BY_URI = new Set(['resources/read', 'resources/subscribe', 'resources/unsubscribe']);

type Named = Pick<McpCall, 'uri' | 'prompt' | 'arguments' | 'argumentsSha256'>;

/**
 * The operation a data method is: a resource by URI pattern (`mcp_resource`, first match), a prompt
 * by name (`mcp_prompt`), else an operation naming the whole method (`mcp_method`). What it names
 * (URI, prompt and its arguments) is what the policy sees, the audit event keeps and an approval binds.
 */
function dataOperation(route: McpToolRoute, tool: string, method: string, params: Record<string, unknown> | undefined): { op: OperationRoute; names: Named } {
  let op: OperationRoute | undefined;
  let names: Named = {};
  if (BY_URI.has(method)) {
    const uri = params?.uri;
    if (typeof uri !== 'string') throw new GatewayError('mcp_invalid_message', `${method} needs params.uri, a string.`);
    const unsafe = unsafeUri(uri);
    if (unsafe !== undefined) throw new GatewayError('mcp_resource_unknown', `The resource URI is refused: it ${unsafe}.`);
    op = route.resources.find((r) => r.matches.test(uri))?.operation;
    names = { uri, argumentsSha256: sha256Hex(canonical({ uri })) };
    if (!op && !route.methods.has(method) && route.resources.length > 0) {
      throw new GatewayError('mcp_resource_unknown', `${JSON.stringify(uri.slice(0, 256))} matches no resource operation of ${tool}.`);
    }
  } else if (method === 'prompts/get') {
    const name = params?.name;
    if (typeof name !== 'string') throw new GatewayError('mcp_invalid_message', 'prompts/get needs params.name, a string.');
    const args = params!.arguments;
    if (args !== undefined && !isObject(args)) throw new GatewayError('mcp_invalid_message', 'prompts/get params.arguments must be an object.');
    const a = (args ?? null) as Record<string, unknown> | null;
    op = route.prompts.get(name);
    names = { prompt: name, arguments: a, argumentsSha256: sha256Hex(canonical({ prompt: name, arguments: a })) };
    if (!op && !route.methods.has(method) && route.prompts.size > 0) {
      throw new GatewayError('mcp_prompt_unknown', `${JSON.stringify(name.slice(0, 128))} is not a prompt of ${tool} this gateway knows.`);
    }
  } else if (method === 'completion/complete' && isObject(params?.ref)) {
    const ref = params!.ref;
    if (typeof ref.uri === 'string') names = { uri: ref.uri };
    else if (typeof ref.name === 'string') names = { prompt: ref.name };
  }
  op ??= route.methods.get(method);
  // A host's discovery (listing resources or prompts it was not offered) is refused without
  // counting against the agent's trust; reading or fetching is a refusal like any other.
  if (!op) throw new GatewayError(DISCOVERY.has(method) ? 'mcp_discovery_refused' : 'mcp_method_refused', `${method} is not an operation of the MCP tool ${tool}.`);
  return { op, names };
}

function isModern(revision: string | undefined): boolean {
  return revision !== undefined && /^\d{4}-\d{2}-\d{2}$/.test(revision) && revision >= MODERN_REVISION;
}

/** A header's single value; repeated headers arrive joined (", ") and then compare unequal anyway. */
function one(v: string | string[] | undefined): string | undefined {
  const s = Array.isArray(v) ? v.join(', ') : v;
  return s === undefined ? undefined : s.trim();
}
