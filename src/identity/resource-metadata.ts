/**
 * RFC 9728 protected resource metadata for MCP tools: how an MCP host that got a 401 finds the
 * authorization server where its person signs in (MCP authorization; the 401's
 * `WWW-Authenticate: Bearer resource_metadata="…"` points here, src/pipeline/finish.ts).
 */
import type { FastifyInstance } from 'fastify';
import type { RuntimeConfig } from '../config/compile.js';
import type { TokenServiceConfig } from '../config/compile-identity.js';

/**
 * RFC 9728 §3: `/.well-known/oauth-protected-resource/tools/<tool>` for each MCP tool, naming this
 * token service as its authorization server and the scopes its operations use.
 */
export function registerResourceMetadata(app: FastifyInstance, config: RuntimeConfig, ts: TokenServiceConfig): void {
  for (const tool of config.tools.values()) {
    if (tool.protocol !== 'mcp') continue;
    const body = JSON.stringify({
      resource: `${ts.issuer}/tools/${tool.name}`,
      authorization_servers: [ts.issuer],
      scopes_supported: [...new Set(tool.operations.map((o) => o.scope))].sort(),
      bearer_methods_supported: ['header'],
      resource_name: tool.name,
    });
    app.get(resourceMetadataPath(tool.name), (_request, reply) => reply.header('content-type', 'application/json; charset=utf-8').header('cache-control', 'public, max-age=300').send(body));
  }
}

export function resourceMetadataPath(tool: string): string {
  return `/.well-known/oauth-protected-resource/tools/${tool}`;
}
