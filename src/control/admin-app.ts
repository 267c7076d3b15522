/**
 * The admin listener: health, readiness and metrics (unauthenticated, for probes and scrapers;
 * bind the listener to a private address), and `/admin/*` behind the admin auth guard. Later
 * issues register kill, revoke, approvals, audit and reload routes through `registerAdminRoutes`.
 */
import { createPeopleDirectory } from '../directory/people.js';
import { registerScim } from '../directory/scim/routes.js';
import { registerAgentRoutes } from './agent-routes.js';
import type { Registry } from '../directory/registry.js';
import type { DirectoryWriter } from '../directory/writer.js';
import Fastify, { type FastifyInstance } from 'fastify';
import type { RuntimeConfig } from '../config/compile.js';
import { ERROR_CODES, GatewayError } from '../errors.js';
import { fastifyLogging, type Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { createAdminAuthenticator, requireRole, type AdminAuthenticator } from './admin-auth.js';
import { newRequestId } from '../pipeline/index.js';
import type { PolicyEngine } from '../policy/engine.js';
import { registerPolicyRoutes } from './policy-routes.js';
import { registerAuditRoutes } from './audit-routes.js';
import type { AuditTrail } from '../audit/trail.js';
import type { AuditPort } from '../pipeline/context.js';
import type { StateStore } from '../state/store.js';
import { registerStateRoutes } from './state-routes.js';
import { registerApprovalRoutes } from './approval-routes.js';
import { registerMcpRoutes } from './mcp-routes.js';
import { registerTrustRoutes } from './trust-routes.js';
import { createSso } from '../console/sso.js';
import { registerConsoleRoutes } from '../console/routes.js';
import { registerConsolePages } from '../console/pages.js';
import type { Trust } from '../trust/engine.js';

export interface Readiness {
  /** Named checks; the gateway is ready when every one is true. */
  checks(): Record<string, boolean>;
  /** Why a failing check fails, in words an operator can act on (the store's address, never a secret). */
  problems?(): string[];
}

export interface AdminAppDeps {
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly readiness: Readiness;
  readonly tokenCacheSize: () => number;
  /** Absent when a test injects its own decider. */
  readonly policy?: PolicyEngine;
  readonly audit: () => AuditTrail | undefined;
  readonly auditPort: AuditPort;
  readonly state: StateStore;
  readonly trust: Trust;
  readonly registry: Registry;
  readonly directory: DirectoryWriter;
}

export function createAdminApp(config: RuntimeConfig, deps: AdminAppDeps): { app: FastifyInstance; authenticate: AdminAuthenticator } {
  const app = Fastify({ ...fastifyLogging(deps.logger, 'admin'), genReqId: newRequestId });
  const sso = config.admin.sso ? createSso(config, config.admin.sso, { audit: deps.auditPort, logger: deps.logger, state: deps.state }) : undefined;
  const authenticate = createAdminAuthenticator(config, sso, createPeopleDirectory(config.admin.roleMap, deps.state));
  if (sso) {
    registerConsoleRoutes(app, sso, authenticate);
    registerConsolePages(app, sso, deps.audit);
  }

  app.setErrorHandler((err, request, reply) => {
    const gErr = err instanceof GatewayError ? err : fromFramework(err);
    if (gErr.reason === 'internal') request.log.error({ err }, 'admin request failed');
    if (gErr.code === 'invalid_token') reply.header('www-authenticate', 'Bearer realm="portcullis-admin", error="invalid_token"');
    return reply.code(gErr.status).type('application/json; charset=utf-8').send(gErr.body(request.id));
  });
  app.setNotFoundHandler((request, reply) => {
    const gErr = new GatewayError('not_found', `No admin endpoint ${request.method} ${request.url.split('?')[0]}.`);
    return reply.code(gErr.status).send(gErr.body(request.id));
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    deps.metrics.adminRequests.labels(route, String(reply.statusCode)).inc();
    // The break-glass token bypasses the IdP: every use is accounted for, whatever it did.
    if (request.admin?.breakGlass) {
      deps.metrics.breakGlass.labels(route, String(reply.statusCode)).inc();
      deps.auditPort.record('break_glass', { request_id: request.id, method: request.method, route, path: request.url.split('?')[0], status: reply.statusCode, client: { ip: request.ip } });
      request.log.warn({ route, status: reply.statusCode }, 'break-glass token used');
    }
  });

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const checks = deps.readiness.checks();
    const ready = Object.values(checks).every(Boolean);
    const problems = ready ? [] : deps.readiness.problems?.() ?? [];
    return reply.code(ready ? 200 : 503).send({ ready, checks, ...(problems.length > 0 ? { problems } : {}) });
  });
  app.get('/metrics', async (_request, reply) => {
    reply.type(deps.metrics.registry.contentType);
    return deps.metrics.registry.metrics();
  });
  app.get('/admin/whoami', { preHandler: requireRole(authenticate, 'operator', 'approver', 'auditor', 'admin') }, async (request) => ({
    subject: request.admin!.subject,
    roles: [...request.admin!.roles].sort(),
    break_glass: request.admin!.breakGlass,
  }));

  if (deps.policy) registerPolicyRoutes(app, authenticate, deps.policy);
  registerAuditRoutes(app, authenticate, deps.audit);
  registerStateRoutes(app, config, authenticate, deps.state, deps.auditPort);
  registerApprovalRoutes(app, config, authenticate, deps.state, deps.auditPort, deps.trust);
  registerTrustRoutes(app, config, authenticate, { state: deps.state, audit: deps.auditPort, metrics: deps.metrics, trust: deps.trust, registry: deps.registry });
  registerMcpRoutes(app, config, authenticate, { state: deps.state, audit: deps.auditPort, metrics: deps.metrics });
  const tools = new Set(config.tools.keys());
  registerAgentRoutes(app, authenticate, { registry: deps.registry, directory: deps.directory, tools });
  registerScim(app, authenticate, { state: deps.state, writer: deps.directory, audit: deps.auditPort, metrics: deps.metrics, tools });
  return { app, authenticate };
}

function fromFramework(err: unknown): GatewayError {
  const status = (err as { statusCode?: number }).statusCode ?? 500;
  if (status >= 400 && status < 500) return new GatewayError('header_invalid', (err as Error).message);
  return new GatewayError('internal', ERROR_CODES.internal_error.message, { cause: err });
}
