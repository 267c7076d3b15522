/** Example email service: drafts, and sending a draft. */
import { createExampleApi, Store, type ExampleApiOptions } from './example-api.js';

interface Draft { id: string; to: string[]; subject: string; body: string; status: 'draft' | 'sent'; sent_at?: string }

export function createEmail(opts: ExampleApiOptions) {
  const app = createExampleApi('email', opts);
  const drafts = new Store<Draft>('d', []);

  app.get('/drafts', async () => ({ drafts: drafts.list() }));
  app.post<{ Body: { to?: string[]; subject?: string; body?: string } }>('/drafts', async (req, reply) => {
    const { to, subject = '', body = '' } = req.body ?? {};
    if (!Array.isArray(to) || to.length === 0) return reply.code(400).send({ error: 'to is required' });
    return reply.code(201).send(drafts.add({ to, subject, body, status: 'draft' }));
  });
  app.post<{ Params: { id: string } }>('/drafts/:id/send', async (req, reply) => {
    const d = drafts.get(req.params.id);
    if (!d) return reply.code(404).send({ error: 'not_found' });
    if (d.status === 'sent') return reply.code(409).send({ error: 'already_sent' });
    d.status = 'sent';
    d.sent_at = new Date().toISOString();
    return d;
  });
  return app;
}
