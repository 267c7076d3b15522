/**
 * One resource type's endpoints (RFC 7644 §3.2–3.6): create, read (ETag, If-None-Match), list and
 * search, replace, PATCH and delete. A write that names a version (`If-Match`) is refused with 412
 * when the resource has moved on; every write replaces exactly the version it was computed from,
 * so two provisioners racing never lose an update silently.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { canonical } from '../../audit/chain.js';
import type { DirectoryRecord } from '../records.js';
import { ScimError } from './errors.js';
import { list, projection, type ListQuery, type UniqueLookup } from './list.js';
import { agentKey, userKey } from '../lifecycle.js';
import { applyPatch } from './patch.js';
import { etag, render, toAttributes, type Catalogue } from './resource.js';
import { send, SCIM_CONTENT_TYPE, type ScimDeps } from './http.js';
import type { ResourceType } from './schemas.js';

type Base = (request: FastifyRequest) => string;
type ById = { Params: { id: string }; Querystring: ListQuery };

export function registerScimResources(scim: FastifyInstance, type: ResourceType, deps: ScimDeps & { base: Base }): void {
  const dir = () => deps.state.directory();
  const catalogue: Catalogue = { tools: deps.tools, isUser: (id) => dir().get('User', id) !== undefined };
  const groupsOf = (userId: string) => {
    const out: { value: string; display: string }[] = [];
    for (const g of dir().ofKind('Group')) {
      if (((g.attributes.members as { value: string }[] | undefined) ?? []).some((m) => m.value === userId)) out.push({ value: g.id, display: String(g.attributes.displayName) });
    }
    return out;
  };
  // undefined: not a unique attribute of this type (scan); null: nobody holds the value.
  const unique: UniqueLookup = (attribute, value) => {
    const key = type.kind === 'Agent' && attribute === 'agentId' ? agentKey(value) : type.kind === 'User' && attribute.toLowerCase() === 'username' ? userKey(value) : undefined;
    return key === undefined ? undefined : dir().holder(key) ?? null;
  };
  const show = (request: FastifyRequest) => (r: DirectoryRecord) => render(type, r, deps.base(request), groupsOf);
  const path = type.endpoint;

  function existing(id: string): DirectoryRecord {
    const r = dir().get(type.kind, id);
    if (!r) throw new ScimError('scim_not_found', `No ${type.name} ${JSON.stringify(id)}.`);
    return r;
  }

  /** If-Match (RFC 7644 §3.14): the write applies only to the version the client read. */
  function matches(request: FastifyRequest, r: DirectoryRecord): void {
    const want = request.headers['if-match'];
    if (want === undefined) return;
    const tags = want.split(',').map((t) => t.trim());
    if (tags.includes('*') || tags.includes(etag(r)) || tags.includes(etag(r).slice(2))) return;
    throw new ScimError('scim_version_mismatch', `The ${type.name} is at version ${etag(r)}, not ${want}: it changed since it was read.`);
  }

  async function write(request: FastifyRequest, base: DirectoryRecord | undefined, id: string, attributes: Record<string, unknown> | null) {
    const [record] = await deps.writer.write([{ kind: type.kind, id, base, attributes }], request.admin!.subject, { requestId: request.id });
    return record;
  }

  function one(reply: FastifyReply, request: FastifyRequest, r: DirectoryRecord, status = 200) {
    reply.header('etag', etag(r));
    const q = request.query as ListQuery;
    return send(reply, projection(q.attributes, q.excludedAttributes)(show(request)(r)), status);
  }

  scim.get<{ Querystring: ListQuery }>(path, async (request, reply) => send(reply, list(type, dir().ofKind(type.kind), request.query, show(request), unique)));
  scim.post<{ Body: ListQuery }>(`${path}/.search`, async (request, reply) => {
    const body = (request.body ?? {}) as ListQuery & { schemas?: unknown };
    if (!Array.isArray(body.schemas) || !body.schemas.includes('urn:ietf:params:scim:api:messages:2.0:SearchRequest')) {
      throw new ScimError('scim_syntax_invalid', '"schemas" must be ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"].');
    }
    return send(reply, list(type, dir().ofKind(type.kind), body, show(request), unique));
  });

  scim.get<ById>(`${path}/:id`, async (request, reply) => {
    const r = existing(request.params.id);
    const none = request.headers['if-none-match'];
    if (none !== undefined && none.split(',').map((t) => t.trim()).includes(etag(r))) return reply.code(304).header('etag', etag(r)).send();
    return one(reply, request, r);
  });

  scim.post(path, async (request, reply) => {
    const attributes = toAttributes(type, request.body, undefined, catalogue);
    const record = (await write(request, undefined, randomUUID(), attributes))!;
    reply.header('location', `${deps.base(request)}${path}/${record.id}`);
    return one(reply, request, record, 201);
  });

  scim.put<ById>(`${path}/:id`, async (request, reply) => {
    const base = existing(request.params.id);
    matches(request, base);
    const attributes = toAttributes(type, request.body, base, catalogue);
    if (canonical(attributes) === canonical(base.attributes)) return one(reply, request, base);
    return one(reply, request, (await write(request, base, base.id, attributes))!);
  });

  scim.patch<ById>(`${path}/:id`, async (request, reply) => {
    const base = existing(request.params.id);
    matches(request, base);
    const patched = applyPatch(type, { ...base.attributes }, request.body);
    const attributes = toAttributes(type, { ...patched, schemas: [type.schema] }, base, catalogue);
    if (canonical(attributes) === canonical(base.attributes)) return one(reply, request, base);
    return one(reply, request, (await write(request, base, base.id, attributes))!);
  });

  scim.delete<ById>(`${path}/:id`, async (request, reply) => {
    const base = existing(request.params.id);
    matches(request, base);
    await write(request, base, base.id, null);
    return reply.code(204).type(SCIM_CONTENT_TYPE).send();
  });
}
