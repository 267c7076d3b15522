/**
 * Example MCP server: an issue tracker built with the official SDK (@modelcontextprotocol/server
 * 2.x). One endpoint serves both revisions in use: 2026-07-28 (stateless, per-request envelope)
 * and, through the SDK's stateless fallback, 2025-11-25 (`initialize`).
 */
import { createMcpHandler, McpServer } from '@modelcontextprotocol/server';
import * as z from 'zod';
import type { ExampleServer } from './example-api.js';
import { hostMcpHandler, type McpHostOptions } from './mcp-host.js';
import { trackerTools, type TrackerTool } from './tracker-tools.js';

/** An MCP server (2.x SDK) over these tools; the list is read per request, so a test may change it. */
export function createMcpToolServer(tools: readonly TrackerTool[], opts: McpHostOptions = {}): ExampleServer {
  const handler = createMcpHandler(() => {
    const server = new McpServer({ name: 'tracker', version: '1.0.0' });
    for (const t of tools) {
      server.registerTool(t.name, { description: t.description, inputSchema: z.object(t.shape), ...(t.meta ? { _meta: t.meta } : {}) }, (args, ctx) =>
        t.handler(args as Record<string, unknown>, {
          async progress(done, total, message) {
            const token = ctx.mcpReq._meta?.progressToken;
            if (token !== undefined) await ctx.mcpReq.notify({ method: 'notifications/progress', params: { progressToken: token, progress: done, total, message } });
            else await ctx.mcpReq.notify({ method: 'notifications/message', params: { level: 'info', data: message } });
          },
          signal: ctx.mcpReq.signal,
        }),
      );
    }
    return server;
  });
  return hostMcpHandler(handler.fetch, { ...opts, onClose: () => handler.close() });
}

export function createTracker(opts: McpHostOptions): ExampleServer {
  return createMcpToolServer(trackerTools(), opts);
}
