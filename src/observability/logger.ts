/**
 * pino, JSON to stdout by default. The request path logs one line per call with ids, outcome and
 * timings — never headers or bodies. The redaction list is a second line of defence for anything
 * that logs an object carrying a secret by mistake.
 */
import { LogController, type FastifyBaseLogger } from 'fastify';
import pino, { type DestinationStream, type Logger } from 'pino';
import { isoClock } from './iso-time.js';

export const REDACT_PATHS = [
  'authorization', '*.authorization', 'headers.authorization', 'req.headers.authorization', 'req.headers.cookie',
  'token', '*.token', 'credential', '*.credential', 'credentials.value', '*.credentials.value', 'password', 'secret',
];

export function createLogger(opts: { level: string; destination?: DestinationStream }): Logger {
  return pino({ ...baseOptions(opts.level), redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, opts.destination);
}

/**
 * The per-call access log: one line per call, in the same format and destination as the logger's,
 * but built without pino. pino's redaction pass cost ~30% of throughput when run on every call
 * (bench, 2026-11-23), and its generic serialiser (hooks, serializers, key-by-key escaping) was
 * still ≈ 2.5% of the gateway's CPU; the line is now one JSON.stringify of a flat object between
 * pino's own head (`level`, `time`, `base`) and tail (`msg`) — test/observability/access-log.test.ts
 * holds it to pino's output. Safe without redaction because its only caller (pipeline/finish.ts)
 * builds each line from a fixed list of fields that cannot hold a secret: ids, names, status codes,
 * reason codes and timings — never headers, bodies or claims.
 */
export interface AccessLog {
  /** Writes one line at level info (nothing when the level is above info). Fields are flat; undefined ones are left out. */
  info(fields: Readonly<Record<string, string | number | boolean | null | undefined>>, msg: string): void;
  /** Hands what is buffered to the destination. */
  flush(): void;
}

export function createAccessLogger(opts: { level: string; destination?: DestinationStream; onDrop?: (lines: number) => void }): AccessLog {
  const dest = opts.destination ?? bufferedDestination({ fd: 1, onDrop: opts.onDrop });
  const enabled = (pino.levels.values[opts.level] ?? Number.POSITIVE_INFINITY) <= pino.levels.values.info!;
  const base = JSON.stringify(BASE).slice(1, -1);
  const isoTime = isoClock();
  return {
    info(fields, msg) {
      if (!enabled) return;
      const body = JSON.stringify(fields);
      dest.write(`{"level":"info","time":"${isoTime()}",${base}${body.length > 2 ? `,${body.slice(1, -1)}` : ''},"msg":${JSON.stringify(msg)}}\n`);
    },
    flush() {
      (dest as { flush?: () => void }).flush?.();
    },
  };
}

/** What the access log may hold in memory while its destination is slower than the calls (bytes). */
export const ACCESS_LOG_MAX_BUFFER = 16 * 2 ** 20;

/**
 * stdout (or `fd`), written in batches: a synchronous write per call cost another ~28% of throughput
 * (bench, 2026-11-23). Lines wait at most 200 ms; the gateway flushes them on close, so a clean stop
 * loses nothing. A crash may lose the last 200 ms of access lines, which is why the audit log
 * (src/audit), not this log, is the record of truth.
 *
 * sonic-boom keeps one write in flight, of at most 16 KB of the lines it was given one by one. Under
 * overload the event-loop turns grow long (hundreds of calls each) and one 16 KB write per turn fell
 * behind: the buffer grew ~50 MB/min at 130% of capacity (bench/soak.mjs, 2026-12-02). And each
 * write is a hand-off to the libuv thread pool and back, ≈ 60 µs of CPU on the bench VM: at one per
 * 12 KB it was still ≈ 1.5% of the gateway's CPU (bench/profile.mjs, 2026-12-03). So lines gather
 * here until 64 KB (or 200 ms) and are handed over at the end of that event-loop turn as one chunk,
 * which sonic-boom writes whole — one write per ≈ 200 calls, and at most one per turn. The buffer
 * is bounded: past `maxBuffer` a chunk is dropped and its lines counted (`onDrop`) instead of held,
 * the oldest kept. (Raising sonic-boom's `maxWrite` instead is no cure: it measures the pending
 * string on every write.) The audit trail is never dropped: it has its own writer.
 */
export interface BufferedDestination extends DestinationStream {
  flush(cb?: (err?: Error) => void): void;
  /** Writes what is left and closes the fd. */
  close(): Promise<void>;
}

/** Lines gather to this many characters before they are handed to the writer (at most 200 ms). */
const GATHER = 64 * 1024;

export function bufferedDestination(opts: { fd: number; maxBuffer?: number; onDrop?: (lines: number) => void }): BufferedDestination {
  const dest = pino.destination({ dest: opts.fd, sync: false, minLength: 0, maxLength: opts.maxBuffer ?? ACCESS_LOG_MAX_BUFFER });
  const onDrop = opts.onDrop;
  if (onDrop) dest.on('drop', (chunk: string) => onDrop(countLines(chunk)));
  let lines: string[] = [];
  let gathered = 0;
  let scheduled = false;
  const pass = () => {
    scheduled = false;
    if (lines.length === 0) return;
    const chunk = lines.join('');
    lines = [];
    gathered = 0;
    dest.write(chunk);
  };
  const tick = setInterval(pass, 200).unref();
  return {
    write(line: string) {
      lines.push(line);
      gathered += line.length;
      // Handed over at the end of the turn: a long turn's lines make one chunk, not several.
      if (gathered >= GATHER && !scheduled) {
        scheduled = true;
        setImmediate(pass);
      }
    },
    flush(cb) {
      pass();
      dest.flush(cb);
    },
    close() {
      clearInterval(tick);
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

const BASE = { service: 'portcullis' };

function baseOptions(level: string) {
  return {
    level,
    base: BASE,
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
