/**
 * Audit endpoints: the chain head and last checkpoint, the live stream for analysts (server-sent
 * events, resumable with Last-Event-ID or ?from_seq=), and the public checkpoint keys.
 */
import type { FastifyInstance } from 'fastify';
import { LogTailer } from '../audit/tailer.js';
import type { AuditTrail } from '../audit/trail.js';
import { GatewayError } from '../errors.js';
import { requireRole, type AdminAuthenticator } from './admin-auth.js';

const HEARTBEAT_MS = 15_000;
const STREAM_BATCH = 500;

/** Resolves when the response can take more, or has closed. */
function drained(res: import('node:http').ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done).off('close', done);
      resolve();
    };
    res.on('drain', done).on('close', done);
  });
}

export function registerAuditRoutes(app: FastifyInstance, authenticate: AdminAuthenticator, audit: () => AuditTrail | undefined): void {
  // Open streams end when the admin listener closes, or shutdown would wait on them forever.
  const streams = new Set<import('node:http').ServerResponse>();
  app.addHook('preClose', async () => {
    for (const s of streams) s.end();
  });
  const trailOr503 = () => {
    const t = audit();
    if (!t) throw new GatewayError('audit_log_unwritable', 'The audit trail is not open.');
    return t;
  };

  app.get('/.well-known/portcullis-audit-keys.json', async (_request, reply) => {
    reply.header('cache-control', 'public, max-age=300');
    return { keys: [trailOr503().signer.publicJwk] };
  });

  app.get('/admin/audit/head', { preHandler: requireRole(authenticate, 'auditor', 'operator', 'admin') }, async () => {
    const t = trailOr503();
    return { chains: [t.head()] };
  });

  app.get<{ Querystring: { from_seq?: string } }>(
    '/admin/audit/stream',
    { preHandler: requireRole(authenticate, 'auditor', 'admin') },
    async (request, reply) => {
      const t = trailOr503();
      // ?from_seq=N starts at record N; Last-Event-ID resumes after the last record received.
      const lastId = request.headers['last-event-id'];
      const from = request.query.from_seq !== undefined ? Number(request.query.from_seq) - 1 : typeof lastId === 'string' ? Number(lastId) : NaN;
      const tailer = new LogTailer(t.path, Number.isInteger(from) && from >= -1 ? from : t.head().seq);
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
      res.write(': portcullis audit stream\n\n');
      streams.add(res);
      let closed = false;
      // One batch at a time, yielding between batches and waiting for the socket to drain: a large
      // backlog never blocks the event loop, and a slow reader holds one batch and the socket's
      // buffer in memory while the rest waits in the log.
      let pumping = false;
      let more = false;
      const pump = () => {
        if (closed) return;
        if (pumping) {
          more = true;
          return;
        }
        pumping = true;
        void (async () => {
          try {
            while (!closed) {
              const batch = tailer.next(STREAM_BATCH);
              if (batch.length === 0) {
                if (!more) return;
                more = false;
                continue;
              }
              const ok = res.write(batch.map((r) => `id: ${r.seq}\nevent: ${r.record.type}\ndata: ${r.line}\n\n`).join(''));
              await (ok ? new Promise((r) => setImmediate(r)) : drained(res));
            }
          } finally {
            pumping = false;
          }
        })();
      };
      const unsubscribe = t.subscribe(pump);
      const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
      res.on('close', () => {
        closed = true;
        streams.delete(res);
        clearInterval(heartbeat);
        unsubscribe();
        tailer.close();
      });
      pump();
    },
  );
}
