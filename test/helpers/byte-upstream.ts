/**
 * An upstream that counts every byte it receives on any connection, answering each request head
 * with a tiny 200: for tests that must show a refused call forwarded *nothing*, not even the start
 * of a body (a recording HTTP server only sees requests that completed).
 */
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface ByteUpstream {
  readonly url: string;
  /** Bytes received since the last reset. */
  bytes(): number;
  reset(): void;
  close(): Promise<void>;
}

export async function startByteUpstream(): Promise<ByteUpstream> {
  let bytes = 0;
  const server: Server = createServer((socket) => {
    let seen = '';
    socket.on('data', (c: Buffer) => {
      bytes += c.length;
      seen += c.toString('latin1');
      if (seen.includes('\r\n\r\n')) {
        seen = '';
        socket.write('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}');
      }
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    bytes: () => bytes,
    reset: () => {
      bytes = 0;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
