/** Example ticketing/ITSM system: tickets, comments, assignment. */
import { createExampleApi, Store, type ExampleApiOptions } from './example-api.js';

interface Ticket { id: string; title: string; status: 'open' | 'pending' | 'closed'; priority: 'low' | 'normal' | 'high'; assignee: string | null; requester: string; comments: { by: string; text: string }[] }

export function createTicketing(opts: ExampleApiOptions) {
  const app = createExampleApi('ticketing', opts);
  const tickets = new Store<Ticket>('t', [
    { title: 'Cannot log in after password reset', status: 'open', priority: 'high', assignee: null, requester: 'ada@northwind.example', comments: [] },
    { title: 'Invoice shows wrong VAT number', status: 'pending', priority: 'normal', assignee: 'billing', requester: 'ben@contoso.example', comments: [] },
  ]);

  app.get<{ Querystring: { status?: string } }>('/tickets', async (req) => ({
    tickets: tickets.list().filter((t) => !req.query.status || t.status === req.query.status),
  }));
  app.get<{ Params: { id: string } }>('/tickets/:id', async (req, reply) => tickets.get(req.params.id) ?? reply.code(404).send({ error: 'not_found' }));
  app.post<{ Body: { title?: string; priority?: Ticket['priority']; requester?: string } }>('/tickets', async (req, reply) => {
    const { title, priority = 'normal', requester = 'unknown' } = req.body ?? {};
    if (typeof title !== 'string' || title === '') return reply.code(400).send({ error: 'title is required' });
    const by = String(req.headers['portcullis-agent'] ?? 'unknown');
    return reply.code(201).send(tickets.add({ title, priority, requester, status: 'open', assignee: null, comments: [{ by, text: 'created' }] }));
  });
  app.patch<{ Params: { id: string }; Body: { status?: Ticket['status']; comment?: string } }>('/tickets/:id', async (req, reply) => {
    const t = tickets.get(req.params.id);
    if (!t) return reply.code(404).send({ error: 'not_found' });
    if (req.body?.status) t.status = req.body.status;
    if (req.body?.comment) t.comments.push({ by: String(req.headers['portcullis-agent'] ?? 'unknown'), text: req.body.comment });
    return t;
  });
  app.post<{ Params: { id: string }; Body: { assignee?: string } }>('/tickets/:id/assign', async (req, reply) => {
    const t = tickets.get(req.params.id);
    if (!t) return reply.code(404).send({ error: 'not_found' });
    t.assignee = req.body?.assignee ?? null;
    return t;
  });
  return app;
}
