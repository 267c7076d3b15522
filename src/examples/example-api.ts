/**
 * Shared scaffolding for the bundled example tools: a small Fastify JSON API that insists on the
 * credential the gateway injects (so a misconfigured credential shows up as the tool's own 401) and
 * echoes who the gateway said is calling.
 */
import Fastify, { type FastifyInstance } from 'fastify';

export interface ExampleApiOptions {
  /** The credential the gateway injects for this tool, when one is configured. */
  credential?: { header: string; value: string };
}

/** What the example starter needs of an example: a Fastify app fits, and so does the MCP tracker. */
export interface ExampleServer {
  listen(opts: { host: string; port: number }): Promise<string>;
  close(): Promise<unknown>;
}

export function createExampleApi(name: string, opts: ExampleApiOptions): FastifyInstance {
  const app = Fastify({ logger: false });
  app.addHook('onRequest', async (request, reply) => {
    const c = opts.credential;
    if (c && request.headers[c.header] !== c.value) {
      return reply.code(401).send({ error: 'unauthorized', message: `${name} needs its service credential` });
    }
  });
  app.get('/health', async () => ({ tool: name, status: 'ok' }));
  return app;
}

/** A record list with numeric ids, for the small in-memory stores the examples keep. */
export class Store<T extends { id: string }> {
  private readonly items = new Map<string, T>();
  private next = 1;
  constructor(
    private readonly prefix: string,
    seed: Omit<T, 'id'>[],
  ) {
    for (const s of seed) this.add(s);
  }
  add(item: Omit<T, 'id'>): T {
    const full = { ...item, id: `${this.prefix}-${this.next++}` } as T;
    this.items.set(full.id, full);
    return full;
  }
  get(id: string): T | undefined {
    return this.items.get(id);
  }
  list(): T[] {
    return [...this.items.values()];
  }
}
