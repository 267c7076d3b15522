// The ceiling of our stack: @fastify/http-proxy with the same fastify and undici, no checks at all.
import Fastify from 'fastify';
import proxy from '@fastify/http-proxy';

const app = Fastify({ logger: false });
await app.register(proxy, {
  upstream: process.env.UPSTREAM,
  prefix: '/tools/crm',
  undici: { connections: 256, pipelining: 1, keepAliveTimeout: 4_000 },
});
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) });
process.send?.({ ready: app.server.address().port });
process.on('SIGTERM', () => app.close().then(() => process.exit(0)));
