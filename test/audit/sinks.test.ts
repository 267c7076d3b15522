import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { startShippers } from '../../src/audit/shipper.js';
import { createSinkClient } from '../../src/audit/sinks.js';
import type { AuditConfig, ShippingSink } from '../../src/config/compile-audit.js';
import { createLogger } from '../../src/observability/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { openTestTrail, writeBulk, writeEvents } from '../helpers/audit.js';
import { until as waitUntil } from '../helpers/wait.js';

const deps = () => ({ metrics: createMetrics({ defaultMetrics: false }), logger: createLogger({ level: 'silent' }) });
const auditConfig = (path: string, sinks: ShippingSink[]) => ({ path, sinks }) as unknown as AuditConfig;

const until = (cond: () => boolean) => waitUntil(cond, 10_000, 50);

/** An NDJSON collector on loopback that records the seq of every event it accepts. */
async function startCollector(received: number[], port = 0): Promise<Server> {
  const collector = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      for (const line of body.trim().split('\n')) received.push(JSON.parse(line).seq);
      res.end();
    });
  });
  await new Promise<void>((r) => collector.listen(port, '127.0.0.1', r));
  return collector;
}

describe('the HTTP sink', () => {
  it('survives a collector outage: every event arrives, in order, none lost', async () => {
    const received: number[] = [];
    let refusing = true;
    let refusals = 0;
    const collector: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        if (refusing) {
          refusals++;
          res.statusCode = 503;
          return res.end();
        }
        expect(req.headers['content-type']).toBe('application/x-ndjson');
        expect(req.headers['authorization']).toBe('Splunk test-hec-token');
        for (const line of body.trim().split('\n')) received.push(JSON.parse(line).seq);
        res.end('{"text":"Success"}');
      });
    });
    await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(collector.address() as AddressInfo).port}/services/collector/raw`;

    const t = await openTestTrail();
    const shippers = startShippers(
      auditConfig(t.path, [{ type: 'http', name: 'siem', url, headers: { authorization: 'Splunk test-hec-token' }, batchSize: 7, timeoutMs: 2000 }]),
      t.trail,
      deps(),
    );
    await writeEvents(t.trail, 30);
    expect(await until(() => refusals >= 3)).toBe(true);
    await writeEvents(t.trail, 20, 30);
    refusing = false;
    const head = () => t.trail.head().seq;
    expect(await until(() => received.length > 0 && received.at(-1)! >= head())).toBe(true);
    // At least once, in order: dedupe by seq and the sequence is 1..head with no gap.
    const unique = [...new Set(received)];
    expect(unique).toEqual(Array.from({ length: head() }, (_, i) => i + 1));
    expect(received).toEqual([...received].sort((a, b) => a - b));
    await shippers.stop();
    await t.trail.close();
    collector.close();
  }, 30_000);

  it('resumes after a restart from its persisted cursor', async () => {
    const received: number[] = [];
    const collector = await startCollector(received);
    const sink: ShippingSink = { type: 'http', name: 'siem', url: `http://127.0.0.1:${(collector.address() as AddressInfo).port}/`, headers: {}, batchSize: 100, timeoutMs: 2000 };
    const first = await openTestTrail();
    let shippers = startShippers(auditConfig(first.path, [sink]), first.trail, deps());
    await writeEvents(first.trail, 10);
    expect(await until(() => received.includes(first.trail.head().seq))).toBe(true);
    await shippers.stop();
    await first.trail.close();
    const shippedBefore = received.length;

    const again = await openTestTrail(first.dir);
    shippers = startShippers(auditConfig(again.path, [sink]), again.trail, deps());
    await writeEvents(again.trail, 5);
    expect(await until(() => received.includes(again.trail.head().seq))).toBe(true);
    // Nothing already acknowledged is sent again; the shutdown checkpoint and new events are.
    expect(received.slice(shippedBefore)[0]).toBe(received[shippedBefore - 1]! + 1);
    await shippers.stop();
    await again.trail.close();
    collector.close();
  }, 30_000);
});

describe('the Redis Streams sink', () => {
  const stream = `portcullis-test:${randomUUID()}:audit`;
  const redis = new Redis('redis://127.0.0.1:6379', { lazyConnect: true });
  afterAll(async () => {
    await redis.del(stream);
    redis.disconnect();
  });

  it('XADDs every event, readable by a consumer group', async () => {
    const t = await openTestTrail();
    const shippers = startShippers(auditConfig(t.path, [{ type: 'redis', name: 'stream', url: 'redis://127.0.0.1:6379', stream, maxlen: null }]), t.trail, deps());
    await writeEvents(t.trail, 25);
    await redis.connect();
    const deadline = Date.now() + 10_000;
    while ((await redis.xlen(stream)) < t.trail.head().seq && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));

    await redis.xgroup('CREATE', stream, 'soc', '0');
    const seqs: number[] = [];
    for (;;) {
      const res = (await redis.xreadgroup('GROUP', 'soc', 'analyst-1', 'COUNT', 10, 'STREAMS', stream, '>')) as [string, [string, string[]][]][] | null;
      if (!res) break;
      for (const [id, fields] of res[0]![1]) {
        const f = Object.fromEntries(Array.from({ length: fields.length / 2 }, (_, i) => [fields[2 * i], fields[2 * i + 1]]));
        const event = JSON.parse(f.event!);
        expect(Number(f.seq)).toBe(event.seq);
        expect(f.type).toBe(event.type);
        seqs.push(event.seq);
        await redis.xack(stream, 'soc', id);
      }
    }
    expect(seqs).toEqual(Array.from({ length: t.trail.head().seq }, (_, i) => i + 1));
    await shippers.stop();
    await t.trail.close();
  }, 30_000);
});

describe('the stdout sink', () => {
  it('writes each event as one JSON line', async () => {
    const lines: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: string, cb?: (err?: Error) => void) => {
      lines.push(...String(chunk).trim().split('\n'));
      cb?.();
      return true;
    }) as typeof process.stdout.write;
    try {
      await createSinkClient({ type: 'stdout', name: 'stdout' }).send([
        { seq: 1, line: '{"seq":1}', record: { seq: 1 } as never },
        { seq: 2, line: '{"seq":2}', record: { seq: 2 } as never },
      ]);
    } finally {
      process.stdout.write = write;
    }
    expect(lines).toEqual(['{"seq":1}', '{"seq":2}']);
  });
});

describe('sink back-off', () => {
  it('backs off on its own clock whatever the traffic, resumes within one step, and keeps 100k undelivered events on disk, not the heap', async () => {
    const { freePort } = await import('../helpers/cli.js');
    const port = await freePort();
    const metrics = createMetrics({ defaultMetrics: false });
    const t = await openTestTrail();
    const shippers = startShippers(
      auditConfig(t.path, [{ type: 'http', name: 'siem', url: `http://127.0.0.1:${port}/`, headers: {}, batchSize: 500, timeoutMs: 2000 }]),
      t.trail,
      { metrics, logger: createLogger({ level: 'silent' }) },
    );
    const failures = async () => Number(/} (\d+)/.exec(await metrics.registry.getSingleMetricAsString('portcullis_audit_sink_failures_total'))?.[1] ?? 0);

    // 125 events/s for 4 s at a dead port: each new event used to cut the back-off short (~450 failures).
    for (let i = 0; i < 40; i++) {
      await writeEvents(t.trail, 12, i * 12);
      await new Promise((r) => setTimeout(r, 100));
    }
    const failed = await failures();
    expect(failed).toBeGreaterThanOrEqual(3);
    expect(failed).toBeLessThanOrEqual(8);

    // 100,000 more undelivered events: they wait in the log, the shipper holds one batch.
    const { setFlagsFromString } = await import('node:v8');
    const { runInNewContext } = await import('node:vm');
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    gc();
    const heapBefore = process.memoryUsage().heapUsed;
    await writeBulk(t.trail, 100_000);
    await new Promise((r) => setTimeout(r, 200));
    gc();
    const grown = process.memoryUsage().heapUsed - heapBefore;
    // 100k events are ≈ 30 MB of JSON; what stays on the heap is a batch and the tailer's buffer.
    expect(grown).toBeLessThan(10 * 1024 * 1024);

    // The collector comes back on the same port: delivery resumes within one back-off step (≤ 30 s cap; here a few s).
    const received: number[] = [];
    const collector = await startCollector(received, port);
    const head = t.trail.head().seq;
    expect(await waitUntil(() => received.length > 0 && received.at(-1)! >= head, 40_000, 50)).toBe(true);
    expect([...new Set(received)]).toEqual(Array.from({ length: head }, (_, i) => i + 1));
    await shippers.stop();
    await t.trail.close();
    collector.close();
  }, 90_000);
});
