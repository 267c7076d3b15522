/**
 * Serves a fetch-shaped MCP handler (the 2.x SDK's `createMcpHandler`) on node:http: the request
 * streams in, the response (JSON or server-sent events) streams out, and a client that goes away
 * aborts the exchange. Like the other examples it insists on the credential the gateway injects.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { ExampleApiOptions, ExampleServer } from './example-api.js';

export interface McpHostOptions extends ExampleApiOptions {
  /** Sees every request the server receives, with its body (tests assert what reached the server). */
  observe?: (req: IncomingMessage, body: Buffer) => void;
  /** Called when the host closes. */
  onClose?: () => Promise<void>;
}

export function hostMcpHandler(fetch: (request: Request) => Promise<Response>, opts: McpHostOptions): ExampleServer {
  const http = createServer((req, res) => {
    void serve(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    });
  });

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const c = opts.credential;
    if (c && req.headers[c.header] !== c.value) {
      res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'unauthorized', message: 'the MCP server needs its service credential' }));
      return;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
    const body = Buffer.concat(chunks);
    opts.observe?.(req, body);
    const abort = new AbortController();
    res.once('close', () => abort.abort());
    const headers: [string, string][] = [];
    for (const [k, v] of Object.entries(req.headers)) for (const x of Array.isArray(v) ? v : v === undefined ? [] : [v]) headers.push([k, x]);
    const response = await fetch(
      new Request(`http://${req.headers.host ?? 'localhost'}${req.url ?? '/'}`, {
        method: req.method,
        headers,
        body: req.method === 'POST' ? body : undefined,
        signal: abort.signal,
      }),
    );
    res.writeHead(response.status, Object.fromEntries(response.headers));
    if (!response.body) return void res.end();
    Readable.fromWeb(response.body as WebReadableStream).pipe(res);
  }

  return {
    listen: ({ host, port }) =>
      new Promise((resolve, reject) => {
        http.once('error', reject);
        http.listen(port, host, () => resolve(`http://${host.includes(':') ? `[${host}]` : host}:${(http.address() as { port: number }).port}`));
      }),
    async close() {
      await opts.onClose?.();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}
