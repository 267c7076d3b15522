/**
 * Admin routes for the policy: `POST /admin/reload` (load the configured bundle now; a bad bundle
 * keeps the old one and the answer says why) and `GET /admin/policy` (what is serving).
 */
import type { FastifyInstance } from 'fastify';
import type { PolicyEngine } from '../policy/engine.js';
import { requireRole, type AdminAuthenticator } from './admin-auth.js';

export function registerPolicyRoutes(app: FastifyInstance, authenticate: AdminAuthenticator, policy: PolicyEngine): void {
  app.post('/admin/reload', { preHandler: requireRole(authenticate, 'operator', 'admin') }, async (request, reply) => {
    const result = await policy.reload('admin');
    request.log.info({ by: request.admin!.subject, ok: result.ok, revision: result.revision }, 'policy reload requested');
    const body = { reloaded: result.ok, changed: result.changed, revision: result.revision, previous_revision: result.previous, duration_ms: Math.round(result.durationMs) };
    if (result.ok) return body;
    return reply.code(422).send({ ...body, error: 'reload_failed', message: result.error });
  });
  app.get('/admin/policy', { preHandler: requireRole(authenticate, 'operator', 'auditor', 'admin') }, async () => {
    const s = policy.status();
    return {
      active: s.active,
      revision: s.revision,
      loaded_at: s.loadedAt,
      last_error: s.lastError,
      decision_cache: { enabled: s.cache.enabled, entries: s.cache.entries, first_level: s.cache.firstLevel, ...(s.cache.why ? { why_off: s.cache.why } : {}) },
    };
  });
}
