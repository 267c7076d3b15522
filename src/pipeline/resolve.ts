/**
 * Stage 2 — what is being called: `/tools/<tool>/<path>` → tool → operation. Deny by default: a call
 * that matches none of the tool's declared operations never reaches the upstream. Runs after
 * authentication so that an anonymous caller cannot map which tools and operations exist.
 */
import type { RuntimeConfig } from '../config/compile.js';
import { matchTemplate } from '../config/route-template.js';
import { GatewayError } from '../errors.js';
import type { CallContext } from './context.js';
import { parseToolTarget, queryNames } from './request-path.js';

export function createResolve(config: RuntimeConfig) {
  const tools = config.tools;
  return function resolve(ctx: CallContext): void {
    const target = parseToolTarget(ctx.url);
    if (!target) throw new GatewayError('tool_unknown', 'Tool calls go to /tools/<tool>/<path>.');
    // Rails, Laravel and Express's method-override read `_method` as the real method: the operation
    // authorised would not be the one the upstream runs.
    if (target.query !== '' && queryNames(target.query).includes('_method')) {
      throw new GatewayError('method_override', 'A _method query parameter (a method override) is not allowed: send the real method.');
    }
    const tool = tools.get(target.tool);
    if (!tool) throw new GatewayError('tool_unknown', `No tool named ${JSON.stringify(target.tool)} is configured.`);
    ctx.tool = tool;
    if (tool.protocol === 'mcp') {
      // One endpoint per MCP server (Streamable HTTP); the operation comes from the JSON-RPC
      // message, which the next stage reads (mcp-message.ts).
      if (target.segments.length > 0) throw new GatewayError('operation_unknown', `The MCP tool ${tool.name} is served at /tools/${tool.name} only.`);
      if (ctx.method !== 'POST' && ctx.method !== 'GET' && ctx.method !== 'DELETE') {
        throw new GatewayError('operation_unknown', `MCP's Streamable HTTP transport uses POST, GET and DELETE, not ${ctx.method}.`);
      }
      ctx.segments = target.segments;
      ctx.query = target.query;
      const base = tool.basePath || '/';
      ctx.upstreamPath = target.query ? `${base}?${target.query}` : base;
      return;
    }
    const match = matchTemplate(tool.operations, ctx.method, target.segments);
    if (!match) throw new GatewayError('operation_unknown', `No operation of ${tool.name} matches ${ctx.method} ${target.encodedPath || '/'}.`);
    ctx.operation = match.op;
    ctx.params = match.params;
    ctx.segments = target.segments;
    ctx.query = target.query;
    const path = tool.basePath + (target.encodedPath || '/');
    ctx.upstreamPath = target.query ? `${path}?${target.query}` : path;
  };
}
