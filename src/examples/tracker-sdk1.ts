/**
 * The example tracker's tools served by the official SDK 1.x (`McpServer`), progress included: the
 * sessionful 2025-11-25 shape, beside the bundled 2.x server (tracker.ts). Used by the compatibility
 * matrix, the stdio fixture and the tests.
 */
import { McpServer, type RegisteredTool } from '@modelcontextprotocol/sdk/server/mcp.js';
import { trackerTools, type TrackerTool } from './tracker-tools.js';

export function trackerServerV1(tools: readonly TrackerTool[] = trackerTools(), name = 'tracker'): McpServer {
  const server = new McpServer({ name, version: '1.0.0' });
  registerTrackerToolsV1(server, tools);
  return server;
}

/** Registers the tools on `server`; their handles by name (a test redefines one through its handle). */
export function registerTrackerToolsV1(server: McpServer, tools: readonly TrackerTool[]): Map<string, RegisteredTool> {
  const handles = new Map<string, RegisteredTool>();
  for (const t of tools) {
    const handle = server.registerTool(t.name, { description: t.description, inputSchema: t.shape }, (args: Record<string, unknown>, extra) =>
      t.handler(args, {
        async progress(done, total, message) {
          const progressToken = extra._meta?.progressToken;
          if (progressToken !== undefined) await extra.sendNotification({ method: 'notifications/progress', params: { progressToken, progress: done, total, message } });
        },
        signal: extra.signal,
      }) as never,
    );
    handles.set(t.name, handle);
  }
  return handles;
}
