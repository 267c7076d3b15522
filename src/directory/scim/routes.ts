/**
 * The SCIM 2.0 service provider (RFC 7643/7644) at /scim/v2/ on the admin listener: Users, Groups
 * and Agents over the live registry, and the discovery documents. Every request needs the
 * `provisioner` role (admin.auth.role_map); every refusal is a SCIM Error body, counted and
 * audited (`scim_refused`) with the same reason. Writes go through the directory writer, so they
 * are versioned, all or nothing, and audited with the provisioner's name.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError } from '../../errors.js';
import type { AdminAuthenticator } from '../../control/admin-auth.js';
import { send, SCIM_CONTENT_TYPE, type ScimDeps } from './http.js';
import { ScimError } from './errors.js';
import { registerScimResources } from './handlers.js';
import { describe, RESOURCE_TYPES, type ResourceType } from './schemas.js';
import { LIST_SCHEMA, MAX_RESULTS } from './list.js';

/** A group of 1,000 members fits with room to spare; anything larger is refused (413). */
export const SCIM_BODY_LIMIT = 256 * 1024;

declare module 'fastify' {
  interface FastifyRequest {
    scimResource?: string;
  }
}

export function registerScim(app: FastifyInstance, authenticate: AdminAuthenticator, deps: ScimDeps): void {
  void app.register(async (scim) => {
    for (const type of ['application/json', SCIM_CONTENT_TYPE]) {
      scim.addContentTypeParser(type, { parseAs: 'string', bodyLimit: SCIM_BODY_LIMIT }, (_request, body, done) => {
        try {
          done(null, body === '' ? undefined : JSON.parse(body as string));
        } catch {
          done(new ScimError('scim_syntax_invalid', 'The body is not valid JSON.'), undefined);
        }
      });
    }
    scim.addHook('onRequest', async (request) => {
      // Named first, so that a refused request is counted and audited under its resource type too.
      const segment = `/${request.url.slice('/scim/v2'.length).split(/[/?]/)[1] ?? ''}`;
      request.scimResource = RESOURCE_TYPES.find((t) => t.endpoint === segment)?.name;
      let principal;
      try {
        principal = await authenticate(request);
      } catch (err) {
        if (err instanceof GatewayError && (err.code === 'invalid_token' || err.status === 401)) throw new ScimError('scim_unauthorized', err.message);
        throw err;
      }
      request.admin = principal;
      if (!principal.roles.has('provisioner')) throw new ScimError('scim_role_missing', 'SCIM needs the provisioner role (admin.auth.role_map).');
    });
    scim.setErrorHandler(async (err, request, reply) => {
      const e = toScim(err);
      if (e.reason === 'scim_internal') request.log.error({ err }, 'SCIM request failed');
      return refuse(request, reply, e);
    });
    scim.setNotFoundHandler(async (request, reply) => refuse(request, reply, new ScimError('scim_not_found', `No SCIM endpoint ${request.method} ${request.url.split('?')[0]}.`)));
    scim.addHook('onResponse', async (request, reply) => {
      deps.metrics.scimRequests.labels(request.scimResource ?? 'other', request.method, String(reply.statusCode)).inc();
    });

    const base = (request: FastifyRequest) => `${request.protocol}://${request.host}/scim/v2`;
    scim.get('/ServiceProviderConfig', async (request, reply) => send(reply, serviceProviderConfig(base(request))));
    scim.get('/ResourceTypes', async (request, reply) => send(reply, listOf(RESOURCE_TYPES.map((t) => resourceType(t, base(request))))));
    scim.get<{ Params: { name: string } }>('/ResourceTypes/:name', async (request, reply) => {
      const t = RESOURCE_TYPES.find((x) => x.name === request.params.name);
      if (!t) throw new ScimError('scim_not_found', `No resource type ${JSON.stringify(request.params.name)}.`);
      return send(reply, resourceType(t, base(request)));
    });
    scim.get('/Schemas', async (request, reply) => send(reply, listOf(RESOURCE_TYPES.map((t) => schema(t, base(request))))));
    scim.get<{ Params: { id: string } }>('/Schemas/:id', async (request, reply) => {
      const t = RESOURCE_TYPES.find((x) => x.schema === request.params.id);
      if (!t) throw new ScimError('scim_not_found', `No schema ${JSON.stringify(request.params.id)}.`);
      return send(reply, schema(t, base(request)));
    });
    for (const type of RESOURCE_TYPES) registerScimResources(scim, type, { ...deps, base });
  }, { prefix: '/scim/v2' });

  async function refuse(request: FastifyRequest, reply: FastifyReply, err: ScimError) {
    await deps.audit.record('scim_refused', {
      request_id: request.id, method: request.method, path: request.url.split('?')[0], resource: request.scimResource ?? null,
      status: err.status, scim_type: err.scimType ?? null, reason: err.reason, message: err.message, by: request.admin?.subject ?? null,
    })?.catch(() => undefined);
    if (err.status === 401) reply.header('www-authenticate', 'Bearer realm="portcullis-scim", error="invalid_token"');
    return reply.code(err.status).type(SCIM_CONTENT_TYPE).send(err.body(request.id));
  }
}

function toScim(err: unknown): ScimError {
  if (err instanceof ScimError) return err;
  if (err instanceof GatewayError) {
    if (err.reason === 'state_stale') return new ScimError('scim_unavailable', err.message, { cause: err });
    if (err.status === 401) return new ScimError('scim_unauthorized', err.message);
    if (err.status === 403) return new ScimError('scim_role_missing', err.message);
    if (err.status === 503) return new ScimError('scim_unavailable', err.message, { cause: err });
  }
  const code = (err as { code?: string; statusCode?: number }).code;
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new ScimError('scim_payload_too_large', `The body is larger than ${SCIM_BODY_LIMIT} bytes.`);
  if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return new ScimError('scim_syntax_invalid', `Send the body as ${SCIM_CONTENT_TYPE} (or application/json).`);
  if ((err as { statusCode?: number }).statusCode === 400) return new ScimError('scim_syntax_invalid', (err as Error).message);
  return new ScimError('scim_internal', 'The request failed inside the gateway; it is logged. Read the resource again before retrying.', { cause: err });
}

const listOf = (items: unknown[]) => ({ schemas: [LIST_SCHEMA], totalResults: items.length, startIndex: 1, itemsPerPage: items.length, Resources: items });

function serviceProviderConfig(base: string) {
  return {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig'],
    documentationUri: 'https://github.com/portcullis/portcullis/blob/main/docs/provisioning.md',
    patch: { supported: true },
    bulk: { supported: false, maxOperations: 0, maxPayloadSize: 0 },
    filter: { supported: true, maxResults: MAX_RESULTS },
    changePassword: { supported: false },
    sort: { supported: true },
    etag: { supported: true },
    authenticationSchemes: [{ type: 'oauthbearertoken', name: 'OAuth Bearer Token', description: 'A JWT from admin.auth.issuers with the provisioner role', primary: true }],
    meta: { resourceType: 'ServiceProviderConfig', location: `${base}/ServiceProviderConfig` },
  };
}

function resourceType(t: ResourceType, base: string) {
  return {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:ResourceType'],
    id: t.name, name: t.name, endpoint: t.endpoint, description: t.description, schema: t.schema, schemaExtensions: [],
    meta: { resourceType: 'ResourceType', location: `${base}/ResourceTypes/${t.name}` },
  };
}

function schema(t: ResourceType, base: string) {
  return {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:Schema'],
    id: t.schema, name: t.name, description: t.description, attributes: t.attributes.map(describe),
    meta: { resourceType: 'Schema', location: `${base}/Schemas/${t.schema}` },
  };
}
