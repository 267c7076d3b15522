/**
 * Feeds every shipping sink from the local log, at least once and in order. Each sink has its own
 * cursor (the last seq it acknowledged, persisted next to the log), reads the log itself through a
 * LogTailer, and retries a failed batch with capped exponential back-off with jitter, on its own
 * clock (new events never cut it short) — so a slow or dead sink delays its own delivery and loses
 * nothing, holds one batch in memory (the rest waits on disk), and a restart resumes where each sink
 * left off.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { AuditConfig, ShippingSink } from '../config/compile-audit.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { createSinkClient, type SinkClient } from './sinks.js';
import { LogTailer } from './tailer.js';
import type { AuditTrail } from './trail.js';

export interface Shippers {
  stop(): Promise<void>;
}

const MIN_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 30_000;

/** "Equal jitter": between half and all of the step, so replicas retrying one collector spread out. */
function jittered(ms: number): number {
  return ms / 2 + Math.random() * (ms / 2);
}

export function startShippers(config: AuditConfig, trail: AuditTrail, deps: { metrics: Metrics; logger: Logger }): Shippers {
  const running = config.sinks.map((sink) => ship(sink, config.path, trail, createSinkClient(sink), deps));
  return {
    async stop() {
      await Promise.all(running.map((s) => s.stop()));
    },
  };
}

export function cursorFile(logPath: string, sink: string): string {
  return join(dirname(logPath), `.cursor-${sink}.json`);
}

/** The last seq the sink acknowledged — of this chain: a cursor left by another chain starts over. */
function readCursor(file: string, chain: string): number {
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as { seq?: unknown; chain?: unknown };
    return typeof v.seq === 'number' && v.chain === chain ? v.seq : 0;
  } catch {
    return 0;
  }
}

function writeCursor(file: string, chain: string, seq: number): void {
  writeFileSync(`${file}.tmp`, JSON.stringify({ chain, seq }));
  renameSync(`${file}.tmp`, file);
}

function ship(sink: ShippingSink, logPath: string, trail: AuditTrail, client: SinkClient, deps: { metrics: Metrics; logger: Logger }) {
  const { metrics, logger } = deps;
  const file = cursorFile(logPath, sink.name);
  const chain = trail.head().chain;
  let cursor = readCursor(file, chain);
  const tailer = new LogTailer(logPath, cursor);
  const batchSize = sink.type === 'http' ? sink.batchSize : 500;
  let stopped = false;
  // New events wake an idle shipper; only stop() cuts a back-off short (a dead collector is not
  // retried faster because traffic is heavy).
  let wake: (() => void) | undefined;
  let interrupt: (() => void) | undefined;
  const unsubscribe = trail.subscribe(() => wake?.());
  let backoff = MIN_BACKOFF_MS;
  let pending: ReturnType<typeof tailer.next> = [];

  const sleep = (ms: number, wakeable: boolean) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        wake = undefined;
        interrupt = undefined;
        resolve();
      }
      if (wakeable) wake = done;
      interrupt = done;
    });

  const loop = (async () => {
    while (!stopped) {
      metrics.auditSinkLag.set({ sink: sink.name }, Math.max(0, trail.head().seq - cursor));
      if (pending.length === 0) pending = tailer.next(batchSize);
      if (pending.length === 0) {
        await sleep(1_000, true);
        continue;
      }
      try {
        await client.send(pending);
      } catch (err) {
        metrics.auditSinkFailures.inc({ sink: sink.name });
        if (backoff === MIN_BACKOFF_MS) logger.warn({ sink: sink.name, error: (err as Error).message, behind: pending[0]!.seq }, 'audit sink delivery failed; retrying with back-off');
        await sleep(jittered(backoff), false);
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
        continue;
      }
      if (backoff > MIN_BACKOFF_MS) logger.info({ sink: sink.name }, 'audit sink delivering again');
      backoff = MIN_BACKOFF_MS;
      cursor = pending.at(-1)!.seq;
      metrics.auditSinkShipped.inc({ sink: sink.name }, pending.length);
      pending = [];
      writeCursor(file, chain, cursor);
    }
  })();

  return {
    async stop() {
      stopped = true;
      interrupt?.();
      // A batch in flight to a slow collector may finish or not: its events stay after the cursor
      // and are sent again on the next start (at least once), so shutdown need not wait for it.
      await Promise.race([loop, new Promise((r) => setTimeout(r, 2_000).unref())]);
      unsubscribe();
      tailer.close();
      await client.close();
    },
  };
}
