/**
 * MCP tool pins (docs/mcp.md, "Tool pinning"): what definition of each MCP tool is approved, and
 * which changed since. An admin re-approves a changed definition after reviewing it; until then the
 * tool stays hidden from tools/list and its calls are refused on every replica. Pins set in
 * gateway.yaml are changed there, not here. Every approval is an audit event.
 */
import type { FastifyInstance } from 'fastify';
import type { RuntimeConfig } from '../config/compile.js';
import { GatewayError } from '../errors.js';
import { pinKey, type ToolPin } from '../mcp/pins.js';
import type { Metrics } from '../observability/metrics.js';
import type { AuditPort } from '../pipeline/context.js';
import { stored, type StateStore } from '../state/store.js';
import { requireRole, type AdminAuthenticator } from './admin-auth.js';

export function registerMcpRoutes(app: FastifyInstance, config: RuntimeConfig, authenticate: AdminAuthenticator, deps: { state: StateStore; audit: AuditPort; metrics: Metrics }): void {
  const { state, audit } = deps;

  app.get('/admin/mcp/pins', { preHandler: requireRole(authenticate, 'operator', 'auditor', 'admin') }, async () => {
    const pins: (ToolPin & { source: 'store' | 'config' })[] = [];
    const fromConfig = new Set<string>();
    for (const tool of config.tools.values()) {
      for (const [name, digest] of tool.mcp?.pins ?? []) {
        fromConfig.add(pinKey(tool.name, name));
        const seen = state.toolPin(tool.name, name);
        pins.push({ tool: tool.name, name, status: 'approved', first_seen: '', approved_at: '', ...seen, digest, approved_by: 'gateway.yaml', source: 'config' });
      }
    }
    for (const p of state.toolPins()) if (!fromConfig.has(pinKey(p.tool, p.name))) pins.push({ ...p, source: 'store' });
    return { pins };
  });

  app.post<{ Params: { tool: string; name: string } }>('/admin/mcp/pins/:tool/:name/approve', { preHandler: requireRole(authenticate, 'admin') }, async (request) => {
    const { tool, name } = request.params;
    const route = config.tools.get(tool)?.mcp;
    if (!route) throw new GatewayError('not_found', `No MCP tool ${JSON.stringify(tool)} is configured.`);
    if (route.pins.has(name)) throw new GatewayError('body_invalid', `${tool}/${name} is pinned in gateway.yaml: change the pin there.`);
    const pin = state.toolPin(tool, name);
    if (!pin) throw new GatewayError('not_found', `No definition of ${tool}/${name} has been seen yet.`);
    const body = (request.body ?? {}) as Record<string, unknown>;
    // The admin names the digest they reviewed, so that a definition that changed again meanwhile is not approved blind.
    const digest = body.digest;
    if (pin.status !== 'changed' || pin.observed === undefined) throw new GatewayError('approval_decided', `${tool}/${name} has no changed definition waiting for approval.`);
    if (digest !== pin.observed) throw new GatewayError('body_invalid', `Send {"digest": "${pin.observed}"}: the digest of the definition you reviewed (GET /admin/mcp/pins).`);
    const by = request.admin!.subject;
    const now = new Date().toISOString();
    const next: ToolPin = { tool, name, digest: pin.observed, status: 'approved', first_seen: pin.first_seen, approved_by: by, approved_at: now, covers: 'definition' };
    await stored(state.setToolPin(next), 'Nothing was changed');
    deps.metrics.mcpPinChanges.inc({ tool, action: 'approved' });
    audit.record('mcp_tool_pin', { action: 'approved', by, comment: typeof body.comment === 'string' ? body.comment.slice(0, 1000) : '', name, observed: next.digest, pinned: pin.digest, source: 'store', tool });
    return { pin: next };
  });
}
