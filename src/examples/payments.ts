/** Example payments/billing API: payments, approval of payments, payee bank details. */
import { createExampleApi, Store, type ExampleApiOptions } from './example-api.js';

interface Payment { id: string; payee: string; amount: number; currency: string; status: 'pending' | 'approved' | 'paid'; approved_by?: string }
interface Payee { id: string; name: string; iban: string }

export function createPayments(opts: ExampleApiOptions) {
  const app = createExampleApi('payments', opts);
  const payees = new Store<Payee>('p', [
    { name: 'Northwind Traders', iban: 'FR76 3000 6000 0112 3456 7890 189' },
    { name: 'Contoso Ltd', iban: 'GB33 BUKB 2020 1555 5555 55' },
  ]);
  const payments = new Store<Payment>('pay', [{ payee: 'p-1', amount: 1200, currency: 'EUR', status: 'pending' }]);

  app.get('/payments', async () => ({ payments: payments.list() }));
  app.get<{ Params: { id: string } }>('/payments/:id', async (req, reply) => payments.get(req.params.id) ?? reply.code(404).send({ error: 'not_found' }));
  app.post<{ Body: { payee?: string; amount?: number; currency?: string } }>('/payments', async (req, reply) => {
    const { payee, amount, currency = 'EUR' } = req.body ?? {};
    if (!payee || !payees.get(payee)) return reply.code(400).send({ error: 'unknown payee' });
    if (typeof amount !== 'number' || !(amount > 0)) return reply.code(400).send({ error: 'amount must be positive' });
    return reply.code(201).send(payments.add({ payee, amount, currency, status: 'pending' }));
  });
  app.post<{ Params: { id: string } }>('/payments/:id/approve', async (req, reply) => {
    const p = payments.get(req.params.id);
    if (!p) return reply.code(404).send({ error: 'not_found' });
    p.status = 'approved';
    p.approved_by = String(req.headers['portcullis-agent'] ?? 'unknown');
    return p;
  });
  app.get('/payees', async () => ({ payees: payees.list().map(({ id, name }) => ({ id, name })) }));
  app.put<{ Params: { id: string }; Body: { iban?: string } }>('/payees/:id/bank', async (req, reply) => {
    const p = payees.get(req.params.id);
    if (!p) return reply.code(404).send({ error: 'not_found' });
    if (typeof req.body?.iban !== 'string') return reply.code(400).send({ error: 'iban is required' });
    p.iban = req.body.iban;
    return { id: p.id, name: p.name };
  });
  return app;
}
