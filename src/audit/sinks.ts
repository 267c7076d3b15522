/**
 * Where audit events are shipped: an HTTP collector (batched NDJSON POST — Splunk HEC, Elastic,
 * Vector, Fluent Bit all take it), a Redis Stream (XADD; read with consumer groups), or stdout.
 * A sink only sends; ordering, retries and the cursor are the shipper's.
 */
import { Redis } from 'ioredis';
import { request } from 'undici';
import type { ShippingSink } from '../config/compile-audit.js';
import type { TailedRecord } from './tailer.js';

export interface SinkClient {
  send(batch: readonly TailedRecord[]): Promise<void>;
  close(): Promise<void>;
}

export function createSinkClient(sink: ShippingSink): SinkClient {
  if (sink.type === 'http') {
    const headers = { 'content-type': 'application/x-ndjson', ...sink.headers };
    return {
      async send(batch) {
        const res = await request(sink.url, {
          method: 'POST',
          headers,
          body: batch.map((r) => r.line).join('\n') + '\n',
          headersTimeout: sink.timeoutMs,
          bodyTimeout: sink.timeoutMs,
        });
        await res.body.dump();
        if (res.statusCode < 200 || res.statusCode >= 300) throw new Error(`the collector answered ${res.statusCode}`);
      },
      close: async () => undefined,
    };
  }
  if (sink.type === 'redis') {
    // Fail fast instead of queueing: the shipper owns retries, and the log on disk is the buffer.
    const redis = new Redis(sink.url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: 5_000 });
    redis.on('error', () => undefined);
    return {
      async send(batch) {
        if (redis.status === 'wait' || redis.status === 'end') await redis.connect();
        const pipe = redis.pipeline();
        for (const r of batch) {
          const args: (string | number)[] = sink.maxlen ? ['MAXLEN', '~', sink.maxlen, '*'] : ['*'];
          pipe.xadd(sink.stream, ...(args as [string]), 'seq', String(r.seq), 'type', r.record.type, 'chain', r.record.chain, 'event', r.line);
        }
        const results = await pipe.exec();
        const failed = results?.find(([err]) => err);
        if (!results || failed) throw failed?.[0] ?? new Error('redis did not answer');
      },
      close: async () => {
        redis.disconnect();
      },
    };
  }
  return {
    async send(batch) {
      await new Promise<void>((resolve, reject) => process.stdout.write(batch.map((r) => r.line).join('\n') + '\n', (err) => (err ? reject(err) : resolve())));
    },
    close: async () => undefined,
  };
}
