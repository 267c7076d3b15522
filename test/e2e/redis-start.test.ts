/**
 * A replica starts whatever Redis does. With Redis absent it is up but not ready — /readyz names
 * Redis, calls are refused (fail closed) — and it becomes ready by itself once Redis answers; with
 * Redis answering in 80 ms it starts and serves. Real redis-server processes, a real delaying proxy.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestIssuer, type TestIssuer } from '../helpers/issuer.js';
import { startUpstream, type RecordingUpstream } from '../helpers/upstream.js';
import { startGateway, testConfig } from '../helpers/gateway.js';
import { startTestRedis, type TestRedis } from '../helpers/redis.js';
import { send } from '../helpers/http.js';
import { crmTools } from './fixtures.js';
import { redisLocation } from '../../src/state/redis-connection.js';

let issuer: TestIssuer;
let up: RecordingUpstream;
let redis: TestRedis;

beforeAll(async () => {
  issuer = await createTestIssuer();
  up = await startUpstream();
  redis = await startTestRedis();
});
afterAll(async () => {
  await redis.stop();
  await up.close();
});

const config = (url: string) =>
  testConfig(issuer, crmTools(up), { state: { store: 'redis', max_staleness: '1s', redis: { url, prefix: `start-test-${Math.random().toString(36).slice(2)}:` } } });
const call = async (base: string) => send(base, { path: '/tools/crm/contacts', headers: { authorization: `Bearer ${await issuer.token('support-bot', 'crm:read')}` } });
async function waitFor(probe: () => Promise<boolean>, ms: number): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < ms) {
    if (await probe()) return Date.now() - started;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`not within ${ms} ms`);
}

/** A TCP proxy that holds every chunk `delayMs` in each direction (a slow Redis). */
async function delayingProxy(port: number, delayMs: number): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(port, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
    }
    client.on('data', (c) => setTimeout(() => upstream.write(c), delayMs));
    upstream.on('data', (c) => setTimeout(() => client.write(c), delayMs));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe('a replica and its Redis at start', () => {
  it('starts with Redis down, not ready and refusing, and becomes ready by itself when Redis comes up', async () => {
    await redis.stop();
    const gw = await startGateway(config(redis.url));
    let restarted = false;
    try {
      const ready = await send(gw.adminUrl, { path: '/readyz' });
      expect(ready.status).toBe(503);
      expect(ready.json()).toMatchObject({ ready: false, checks: { state_fresh: false } });
      expect(ready.json().problems[0]).toContain(`Redis at redis://127.0.0.1:${redis.port}`);
      const refused = await call(gw.proxyUrl);
      expect(refused.status).toBe(503);
      expect(refused.json()).toMatchObject({ error: 'unavailable', reasons: ['state_stale'] });
      expect(gw.logs.some((l) => String(l.redis).includes(`127.0.0.1:${redis.port}`) && l.level === 'error')).toBe(true);

      await redis.start();
      restarted = true;
      await waitFor(async () => (await send(gw.adminUrl, { path: '/readyz' })).status === 200, 10_000);
      expect((await call(gw.proxyUrl)).status).toBe(200);
    } finally {
      await gw.close();
      if (!restarted) await redis.start();
    }
  }, 30_000);

  it('starts and serves with Redis answering in 80 ms', async () => {
    const slow = await delayingProxy(redis.port, 80);
    const gw = await startGateway(config(`redis://127.0.0.1:${slow.port}`));
    try {
      await waitFor(async () => (await send(gw.adminUrl, { path: '/readyz' })).status === 200, 10_000);
      expect((await call(gw.proxyUrl)).status).toBe(200);
    } finally {
      await gw.close();
      await slow.close();
    }
  }, 30_000);

  it('names Redis without its password', () => {
    expect(redisLocation({ mode: 'standalone', url: 'redis://user:s3cret@redis.internal:6380/2', prefix: 'p:' })).toBe('redis://user:***@redis.internal:6380/2');
    expect(redisLocation({ mode: 'cluster', url: '', prefix: 'p:', nodes: ['redis://:pw@a:7000', 'redis://b:7001'] })).toBe('cluster redis://:***@a:7000, redis://b:7001');
  });
});
