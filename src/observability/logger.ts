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
export function createAccessLogger(opts: { level: string; destination?: DestinationStream; onDrop?: (lines: number) => void }): Logger {
  return pino(baseOptions(opts.level), opts.destination ?? bufferedDestination({ fd: 1, onDrop: opts.onDrop }));
}

/** What the access log may hold in memory while its destination is slower than the calls (bytes). */
export const ACCESS_LOG_MAX_BUFFER = 16 * 2 ** 20;

/**
 * stdout (or `fd`), written in batches: a synchronous write per call cost another ~28% of throughput
 * (bench, 2026-11-23). Lines wait at most 200 ms; the gateway flushes them on close, so a clean stop
 * loses nothing. A crash may lose the last 200 ms of access lines, which is why the audit log
 * (issue #4), not this log, is the record of truth.
 *
 * sonic-boom keeps one write in flight, of at most 16 KB of the lines it was given one by one. Under
 * overload the event-loop turns grow long (hundreds of calls each) and one 16 KB write per turn fell
 * behind: the buffer grew ~50 MB/min at 130% of capacity (bench/soak.mjs, 2026-12-02). So the lines
 * of one turn are joined and handed over as one chunk, which sonic-boom writes whole — one write per
 * turn however many calls the turn carried — and the buffer is bounded: past `maxBuffer` a chunk is
 * dropped and its lines counted (`onDrop`) instead of held, the oldest kept. (Raising sonic-boom's
 * `maxWrite` instead is no cure: it measures the pending string on every line.) The audit trail is
 * never dropped: it has its own writer.
 */
export interface BufferedDestination extends DestinationStream {
  flush(cb?: (err?: Error) => void): void;
  /** Writes what is left and closes the fd. */
  close(): Promise<void>;
}

export function bufferedDestination(opts: { fd: number; maxBuffer?: number; onDrop?: (lines: number) => void }): BufferedDestination {
  const dest = pino.destination({ dest: opts.fd, sync: false, minLength: 4096, maxLength: opts.maxBuffer ?? ACCESS_LOG_MAX_BUFFER, periodicFlush: 200 });
  const onDrop = opts.onDrop;
  if (onDrop) dest.on('drop', (chunk: string) => onDrop(countLines(chunk)));
  let lines: string[] = [];
  let scheduled = false;
  const pass = () => {
    scheduled = false;
    if (lines.length === 0) return;
    const chunk = lines.join('');
    lines = [];
    dest.write(chunk);
  };
  return {
    write(line: string) {
      lines.push(line);
      if (!scheduled) {
        scheduled = true;
        setImmediate(pass);
      }
    },
    flush(cb) {
      pass();
      dest.flush(cb);
    },
    close() {
      pass();
      return new Promise((resolve) => dest.once('close', () => resolve()).end());
    },
  };
}

function countLines(chunk: string): number {
  let n = 0;
  for (let i = chunk.indexOf('\n'); i !== -1; i = chunk.indexOf('\n', i + 1)) n++;
  return n;
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
