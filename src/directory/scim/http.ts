/** What the SCIM routes share: the media type (RFC 7644 §3.1) and their dependencies. */
import type { FastifyReply } from 'fastify';
import type { AuditPort } from '../../pipeline/context.js';
import type { Metrics } from '../../observability/metrics.js';
import type { StateStore } from '../../state/store.js';
import type { DirectoryWriter } from '../writer.js';

export const SCIM_CONTENT_TYPE = 'application/scim+json';

export interface ScimDeps {
  readonly state: StateStore;
  readonly writer: DirectoryWriter;
  readonly audit: AuditPort;
  readonly metrics: Metrics;
  /** Tool names, for an agent's scopes. */
  readonly tools: ReadonlySet<string>;
}

export function send(reply: FastifyReply, body: unknown, status = 200) {
  return reply.code(status).type(SCIM_CONTENT_TYPE).send(body);
}
