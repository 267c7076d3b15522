/**
 * The kill switch and revocation (SPEC "Admin API"). A kill takes effect on every replica through
 * the state store; calls in flight for its target are cut; lifting one needs the admin role.
 * Every kill, revive and revocation is an audit event naming who did it and why.
 */
import { presented } from '../pipeline/approval-capture.js';
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { RuntimeConfig } from '../config/compile.js';
import { GatewayError } from '../errors.js';
import type { AuditPort } from '../pipeline/context.js';
import { killCovers, stored, type Kill, type KillTarget, type StateStore } from '../state/store.js';
import { requireRole, type AdminAuthenticator } from './admin-auth.js';
import { isValidId, MAX_ID_LENGTH } from '../auth/identifiers.js';
const NOTHING_CHANGED = 'Nothing was changed';

export function registerStateRoutes(app: FastifyInstance, config: RuntimeConfig, authenticate: AdminAuthenticator, state: StateStore, audit: AuditPort): void {
  app.post('/admin/kill', { preHandler: requireRole(authenticate, 'operator', 'admin') }, async (request, reply) => {
    const { target, reason } = parseKill(request.body);
    const kill: Kill = { id: `kill-${randomUUID()}`, target, reason, by: request.admin!.subject, at: new Date().toISOString() };
    await stored(state.addKill(kill), NOTHING_CHANGED);
    audit.record('kill', { kill: { ...kill } });
    // The target's pending approvals are denied: nobody should approve what was just stopped.
    const KILLED_BUT = `The kill ${kill.id} is in force, but its target's pending approvals could not be denied`;
    for (const a of await stored(state.listApprovals(), KILLED_BUT)) {
      if (a.status !== 'pending' || !killCovers(target, a.fingerprint)) continue;
      const t = await stored(state.decideApproval(a.id, 'denied', 'kill-switch', `denied by ${kill.id}`), KILLED_BUT);
      if (t.ok) audit.record('approval', { action: 'denied', approval: presented(t.approval), by: 'kill-switch' });
    }
    request.log.warn({ kill: kill.id, target, by: kill.by }, 'kill switch engaged');
    return reply.code(201).send(kill);
  });

  app.get('/admin/kill', { preHandler: requireRole(authenticate, 'operator', 'auditor', 'admin') }, async () => ({ kills: state.kills() }));

  app.delete<{ Params: { id: string } }>('/admin/kill/:id', { preHandler: requireRole(authenticate, 'admin') }, async (request) => {
    const kill = await stored(state.removeKill(request.params.id), NOTHING_CHANGED);
    if (!kill) throw new GatewayError('not_found', `No kill ${JSON.stringify(request.params.id)} is in force.`);
    audit.record('revive', { kill: { ...kill }, by: request.admin!.subject });
    request.log.warn({ kill: kill.id, by: request.admin!.subject }, 'kill lifted');
    return { revived: kill };
  });

  app.post('/admin/revoke', { preHandler: requireRole(authenticate, 'operator', 'admin') }, async (request, reply) => {
    const body = (request.body ?? {}) as Record<string, unknown>;
    const reason = typeof body.reason === 'string' ? body.reason.slice(0, 1000) : '';
    // An entry lives as long as the longest token it can cover could still be accepted.
    const until = Date.now() + (config.auth.maxTokenTtlSec + config.auth.clockToleranceSec) * 1000;
    const by = request.admin!.subject;
    let revocation;
    if (isValidId(body.jti) && body.agent === undefined) {
      revocation = { kind: 'jti' as const, jti: body.jti, until, by, reason };
    } else if (isValidId(body.agent) && body.jti === undefined) {
      revocation = { kind: 'agent' as const, agent: body.agent, before: Math.floor(Date.now() / 1000), until, by, reason };
    } else {
      throw new GatewayError('body_invalid', `Send {"jti": "..."} or {"agent": "..."} (and optionally "reason"); an id is 1 to ${MAX_ID_LENGTH} characters without control characters.`);
    }
    await stored(state.addRevocation(revocation), NOTHING_CHANGED);
    audit.record('revoke', { revocation: { ...revocation } });
    return reply.code(201).send(revocation);
  });
}

function parseKill(body: unknown): { target: KillTarget; reason: string } {
  const b = (body ?? {}) as { target?: Record<string, unknown>; reason?: unknown };
  const t = b.target;
  if (typeof b.reason !== 'string' || b.reason.trim() === '') throw new GatewayError('body_invalid', 'A kill needs a "reason".');
  const reason = b.reason.slice(0, 1000);
  if (t && typeof t === 'object' && Object.keys(t).length === 1) {
    if (t.all === true) return { target: { all: true }, reason };
    for (const key of ['agent', 'user', 'tool'] as const) {
      const v = t[key];
      if (isValidId(v)) return { target: { [key]: v } as KillTarget, reason };
    }
  }
  throw new GatewayError('body_invalid', 'The kill "target" must be exactly one of {"agent": ID}, {"user": ID}, {"tool": ID} or {"all": true}.');
}
