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
  return pino(
    {
      level: opts.level,
      base: { service: 'portcullis' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    opts.destination,
  );
}
export type { Logger };

/** Fastify options that hand it our logger and turn off its per-request lines (we log one line per call ourselves). */
export function fastifyLogging(logger: Logger, listener: string) {
  return {
    loggerInstance: logger.child({ listener }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
  };
}
