/**
 * Stage 2 — what is being called: `/tools/<tool>/<path>` → tool → operation. Deny by default: a call
 * that matches none of the tool's declared operations never reaches the upstream. Runs after
 * authentication so that an anonymous caller cannot map which tools and operations exist.
 */
import type { RuntimeConfig } from '../config/compile.js';
import { matchTemplate } from '../config/route-template.js';
import { GatewayError } from '../errors.js';
import type { CallContext } from './context.js';
import { parseToolTarget } from './request-path.js';

export function createResolve(config: RuntimeConfig) {
  const tools = config.tools;
  return function resolve(ctx: CallContext): void {
    const target = parseToolTarget(ctx.url);
    if (!target) throw new GatewayError('tool_unknown', 'Tool calls go to /tools/<tool>/<path>.');
    const tool = tools.get(target.tool);
    if (!tool) throw new GatewayError('tool_unknown', `No tool named ${JSON.stringify(target.tool)} is configured.`);
    ctx.tool = tool;
    if (tool.protocol === 'mcp') {
      // MCP tools are authorised per JSON-RPC tools/call (issue #6); until then nothing passes unexamined.
      throw new GatewayError('operation_unknown', 'MCP tools are not served by this version of the gateway.');
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
