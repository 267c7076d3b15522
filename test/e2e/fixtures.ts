/** The tool set the whole-gateway tests share: one recording upstream behind a CRM-like tool. */
import type { RecordingUpstream } from '../helpers/upstream.js';

export const CRM_SECRET = 'Bearer crm-secret-credential-9f8e7d';

export function crmTools(up: RecordingUpstream, overrides: Record<string, unknown> = {}) {
  return {
    crm: {
      upstream: `${up.url}/api`,
      classification: 'confidential',
      credentials: { header: 'authorization', value: CRM_SECRET },
      timeout: '1s',
      max_body: '1kb',
      operations: [
        { name: 'list-contacts', method: 'GET', path: '/contacts', action: 'read' },
        { name: 'get-contact', method: 'GET', path: '/contacts/:id', action: 'read' },
        { name: 'add-note', method: 'POST', path: '/contacts/:id/notes', action: 'write' },
        { name: 'get-file', method: 'GET', path: '/files/*', action: 'read' },
        { name: 'export', method: 'GET', path: '/export', action: 'export', risk: 'high' },
      ],
      ...overrides,
    },
  };
}
