/**
 * The registry through the admin API (what `portcullis agents add|suspend|resume|retire|show`
 * call): the same records, rules, audit events and revocations as SCIM, in the admin API's own
 * JSON and error shapes. Suspending and retiring take effect on every replica within the state
 * store's propagation time; a retired agent stays retired.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { GatewayError, type Reason } from '../errors.js';
import type { AgentAttributes, Registry } from '../directory/registry.js';
import type { DirectoryWriter } from '../directory/writer.js';
import { ScimError } from '../directory/scim/errors.js';
import { etag, toAttributes } from '../directory/scim/resource.js';
import { AGENT_SCHEMA, RESOURCE_TYPES } from '../directory/scim/schemas.js';
import { requireRole, type AdminAuthenticator } from './admin-auth.js';

const AGENT_TYPE = RESOURCE_TYPES.find((t) => t.kind === 'Agent')!;
const ACTIONS = { suspend: 'suspended', resume: 'active', retire: 'retired' } as const;
// The admin API's names (gateway.yaml's) for the registry's attributes.
const FIELDS: Record<string, string> = { id: 'agentId', owner: 'owner', purpose: 'purpose', roles: 'roles', max_classification: 'maxClassification', status: 'status', trust_level: 'trustLevel', version: 'version', scopes: 'scopes', max_token_ttl: 'maxTokenTtl', risk_profile: 'riskProfile', credentials: 'credentials' };

export interface AgentRouteDeps {
  readonly registry: Registry;
  readonly directory: DirectoryWriter;
  readonly tools: ReadonlySet<string>;
}

export function registerAgentRoutes(app: FastifyInstance, authenticate: AdminAuthenticator, deps: AgentRouteDeps): void {
  const catalogue = { tools: deps.tools, isUser: () => false };

  function shown(id: string) {
    const entry = deps.registry.get(id);
    const record = deps.registry.record(id);
    if (!entry || !record) throw new GatewayError('not_found', `No agent ${JSON.stringify(id)} in the registry.`);
    const a = record.attributes as unknown as AgentAttributes;
    return {
      id: entry.id, owner: entry.owner, purpose: entry.purpose ?? null, roles: entry.roles, max_classification: entry.maxClassification,
      status: entry.status, suspended_for: a.suspendedFor ?? null, trust_level: entry.trustLevel, version: entry.version ?? null, scopes: entry.scopes,
      max_token_ttl: entry.maxTokenTtlSec ?? null, risk_profile: entry.riskProfile, keys: (a.credentials?.keys ?? []).map((k) => k.kid ?? null),
      scim_id: record.id, etag: etag(record), created: record.created, last_modified: record.lastModified, by: record.by,
    };
  }

  async function write(run: () => Promise<unknown>): Promise<void> {
    try {
      await run();
    } catch (err) {
      if (!(err instanceof ScimError)) throw err;
      // The store's and the audit log's own refusals are GatewayErrors already and pass as they are.
      const reason: Reason = err.reason === 'owner_inactive' ? 'owner_inactive' : err.status === 409 || err.status === 412 ? 'registry_conflict' : 'body_invalid';
      throw new GatewayError(reason, err.message, { cause: err });
    }
  }

  app.get<{ Params: { id: string } }>('/admin/agents/:id', { preHandler: requireRole(authenticate, 'operator', 'auditor', 'admin') }, async (request) => shown(request.params.id));

  app.post('/admin/agents', { preHandler: requireRole(authenticate, 'admin') }, async (request, reply) => {
    const body = request.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new GatewayError('body_invalid', 'Send the agent as a JSON object: {"id", "owner", "max_classification", …}.');
    const input: Record<string, unknown> = { schemas: [AGENT_SCHEMA] };
    for (const [k, v] of Object.entries(body)) {
      const name = FIELDS[k];
      if (!name || k === 'status') throw new GatewayError('body_invalid', `Unknown field ${JSON.stringify(k)}; fields: ${Object.keys(FIELDS).filter((f) => f !== 'status').join(', ')}.`);
      input[name] = v;
    }
    await write(async () => {
      const attributes = toAttributes(AGENT_TYPE, input, undefined, catalogue);
      await deps.directory.write([{ kind: 'Agent', id: randomUUID(), base: undefined, attributes }], request.admin!.subject, { requestId: request.id });
    });
    return reply.code(201).send(shown(String(input.agentId)));
  });

  for (const [action, status] of Object.entries(ACTIONS)) {
    const roles = action === 'suspend' ? (['operator', 'admin'] as const) : (['admin'] as const);
    app.post<{ Params: { id: string } }>(`/admin/agents/:id/${action}`, { preHandler: requireRole(authenticate, ...roles) }, async (request) => {
      const record = deps.registry.record(request.params.id);
      if (!record) throw new GatewayError('not_found', `No agent ${JSON.stringify(request.params.id)} in the registry.`);
      const a = record.attributes as unknown as AgentAttributes;
      const reason = (request.body as { reason?: unknown } | undefined)?.reason;
      if (reason !== undefined && (typeof reason !== 'string' || reason.length > 1024)) throw new GatewayError('body_invalid', 'reason is text of at most 1024 characters.');
      if (a.status === 'retired' && action !== 'retire') throw new GatewayError('registry_conflict', `Agent ${JSON.stringify(a.agentId)} is retired; a retired agent cannot come back (add a new one).`);
      if (a.status !== status) {
        const { suspendedFor: _, ...rest } = a;
        await write(() => deps.directory.write([{ kind: 'Agent', id: record.id, base: record, attributes: { ...rest, status } }], request.admin!.subject, { requestId: request.id, reason }));
      }
      return shown(request.params.id);
    });
  }
}
