/**
 * pino, JSON to stdout by default. The request path logs one line per call with ids, outcome and
 * timings — never headers or bodies. The redaction list is a second line of defence for anything
 * that logs an object carrying a secret by mistake.
 */
import { LogController, type FastifyBaseLogger } from 'fastify';
import pino, { type DestinationStream, type Logger } from 'pino';

export const REDACT_PATHS = [
  'authorization', '*.authorization', 'headers.authorization', 'req.headers.authorization', 'req.headers.cookie',
  'token', '*.token', 'credential', '*.credential', 'credentials.value', '*.credentials.value', 'password', 'secret',
];

export function createLogger(opts: { level: string; destination?: DestinationStream }): Logger {
  return pino({ ...baseOptions(opts.level), redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, opts.destination);
}

/**
 * The per-call access log: the same format and destination, but without the redaction pass, which
 * cost ~30% of throughput when run on every call (bench, 2026-11-23). Safe because its only caller
 * (pipeline/finish.ts) builds each line from a fixed list of fields that cannot hold a secret:
 * ids, names, status codes, reason codes and timings — never headers, bodies or claims.
 */
export function createAccessLogger(opts: { level: string; destination?: DestinationStream; onDrop?: () => void }): Logger {
  return pino(baseOptions(opts.level), opts.destination ?? bufferedDestination({ fd: 1, onDrop: opts.onDrop }));
}

/** What the access log may hold in memory while its destination is slower than the calls (bytes). */
export const ACCESS_LOG_MAX_BUFFER = 16 * 2 ** 20;

/**
 * stdout (or `fd`), written in batches: a synchronous write per call cost another ~28% of throughput
 * (bench, 2026-11-23). Lines wait at most 200 ms; pino flushes the buffer synchronously on process
 * exit and the gateway flushes it on close, so a clean stop loses nothing. A crash may lose the last
 * 200 ms of access lines, which is why the audit log (issue #4), not this log, is the record of truth.
 *
 * Bounded: one write (≤ 16 KB) is in flight at a time, so a destination slower than the calls — a
 * stalled pipe, or an overloaded gateway whose few event-loop turns each log more than 16 KB — grew
 * the buffer without limit: by ~50 MB/min at 130% of capacity (bench/soak.mjs, 2026-12-02). Past
 * `maxBuffer` a line is now dropped and counted (`onDrop`) instead of held; the oldest lines are kept.
 * (A larger sonic-boom `maxWrite` is no cure: it measures the pending string on every line, which at
 * 1 MiB made each line cost more than the write it saved.) The audit trail is never dropped: it has
 * its own writer, and is the record of truth.
 */
export function bufferedDestination(opts: { fd: number; maxBuffer?: number; onDrop?: () => void }): DestinationStream {
  const dest = pino.destination({ dest: opts.fd, sync: false, minLength: 4096, maxLength: opts.maxBuffer ?? ACCESS_LOG_MAX_BUFFER, periodicFlush: 200 });
  if (opts.onDrop) dest.on('drop', opts.onDrop);
  return dest;
}

function baseOptions(level: string) {
  return {
    level,
    base: { service: 'portcullis' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
}
export type { Logger };

/** Fastify options that hand it our logger and turn off its per-request lines (we log one line per call ourselves). */
export function fastifyLogging(logger: Logger, listener: string) {
  return {
    loggerInstance: logger.child({ listener }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
  };
}
