/** A real HTTP upstream on loopback that records exactly what it received. */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
}

export type UpstreamHandler = (req: Received, res: ServerResponse, raw: IncomingMessage) => void | Promise<void>;

export interface RecordingUpstream {
  readonly url: string;
  readonly port: number;
  readonly received: Received[];
  handler: UpstreamHandler;
  close(): Promise<void>;
}

export const echoJson: UpstreamHandler = (req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ ok: true, method: req.method, url: req.url }));
};

export async function startUpstream(handler: UpstreamHandler = echoJson): Promise<RecordingUpstream> {
  const received: Received[] = [];
  const state = { handler };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: Received = { method: req.method!, url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders, body: Buffer.concat(chunks) };
      received.push(r);
      Promise.resolve(state.handler(r, res, req)).catch(() => res.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    received,
    get handler() {
      return state.handler;
    },
    set handler(h: UpstreamHandler) {
      state.handler = h;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
