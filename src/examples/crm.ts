/** Example CRM: contacts with notes, opportunities, and a bulk export. */
import { createExampleApi, Store, type ExampleApiOptions } from './example-api.js';

interface Contact { id: string; name: string; email: string; company: string; phone: string; notes: string[]; billing: { plan: string; balance: number } }
interface Opportunity { id: string; contact: string; stage: string; amount: number }

export function createCrm(opts: ExampleApiOptions) {
  const app = createExampleApi('crm', opts);
  const contacts = new Store<Contact>('c', [
    { name: 'Ada Moreau', email: 'ada@northwind.example', company: 'Northwind', phone: '+33 1 55 00 11 22', notes: [], billing: { plan: 'enterprise', balance: 1200 } },
    { name: 'Ben Okafor', email: 'ben@contoso.example', company: 'Contoso', phone: '+44 20 7946 0000', notes: ['renewal in Q3'], billing: { plan: 'team', balance: 0 } },
    { name: 'Chen Wei', email: 'chen@fabrikam.example', company: 'Fabrikam', phone: '+86 10 5555 0100', notes: [], billing: { plan: 'starter', balance: 49 } },
  ]);
  const opportunities = new Store<Opportunity>('o', [
    { contact: 'c-1', stage: 'proposal', amount: 48_000 },
    { contact: 'c-2', stage: 'negotiation', amount: 12_500 },
  ]);

  app.get('/contacts', async () => ({ contacts: contacts.list().map(({ id, name, company }) => ({ id, name, company })) }));
  app.get<{ Params: { id: string } }>('/contacts/:id', async (req, reply) => contacts.get(req.params.id) ?? reply.code(404).send({ error: 'not_found' }));
  app.patch<{ Params: { id: string }; Body: Partial<Pick<Contact, 'email' | 'phone' | 'company'>> }>('/contacts/:id', async (req, reply) => {
    const c = contacts.get(req.params.id);
    if (!c) return reply.code(404).send({ error: 'not_found' });
    const { email, phone, company } = req.body ?? {};
    Object.assign(c, email !== undefined ? { email } : {}, phone !== undefined ? { phone } : {}, company !== undefined ? { company } : {});
    return c;
  });
  app.post<{ Params: { id: string }; Body: { text?: string } }>('/contacts/:id/notes', async (req, reply) => {
    const c = contacts.get(req.params.id);
    if (!c) return reply.code(404).send({ error: 'not_found' });
    if (typeof req.body?.text !== 'string' || req.body.text === '') return reply.code(400).send({ error: 'text is required' });
    c.notes.push(req.body.text);
    return reply.code(201).send({ contact: c.id, notes: c.notes });
  });
  app.get('/opportunities', async () => ({ opportunities: opportunities.list() }));
  app.get('/export', async (_req, reply) => {
    reply.type('application/x-ndjson');
    return contacts.list().map((c) => JSON.stringify(c)).join('\n') + '\n';
  });
  return app;
}
