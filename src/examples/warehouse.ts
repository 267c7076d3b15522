/** Example data warehouse: named read-only views, queried or exported as CSV. */
import { createExampleApi, type ExampleApiOptions } from './example-api.js';

const VIEWS: Record<string, { columns: string[]; rows: (string | number)[][] }> = {
  revenue_by_month: { columns: ['month', 'revenue_eur'], rows: [['2026-08', 412_000], ['2026-09', 398_500], ['2026-10', 441_200]] },
  pipeline_summary: { columns: ['stage', 'count', 'amount_eur'], rows: [['proposal', 14, 610_000], ['negotiation', 6, 233_000]] },
  security_events: { columns: ['day', 'failed_logins', 'blocked_ips'], rows: [['2026-11-20', 31, 4], ['2026-11-21', 12, 1]] },
};

export function createWarehouse(opts: ExampleApiOptions) {
  const app = createExampleApi('warehouse', opts);
  app.get('/views', async () => ({ views: Object.keys(VIEWS) }));
  app.get<{ Params: { view: string }; Querystring: { limit?: string } }>('/views/:view', async (req, reply) => {
    const v = VIEWS[req.params.view];
    if (!v) return reply.code(404).send({ error: 'unknown view' });
    const limit = Math.max(1, Math.min(1000, Number(req.query.limit ?? 100) || 100));
    return { view: req.params.view, columns: v.columns, rows: v.rows.slice(0, limit) };
  });
  app.get<{ Params: { view: string } }>('/views/:view/export', async (req, reply) => {
    const v = VIEWS[req.params.view];
    if (!v) return reply.code(404).send({ error: 'unknown view' });
    reply.type('text/csv');
    return [v.columns.join(','), ...v.rows.map((r) => r.join(','))].join('\n') + '\n';
  });
  return app;
}
