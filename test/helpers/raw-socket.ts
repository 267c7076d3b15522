/**
 * Raw bytes over a socket, for attacks a client library would normalise away (header spellings,
 * framing, trickled bodies). Resolves with everything the server sent until it closed the
 * connection or `idleMs` passed without a byte.
 */
import { connect, type Socket } from 'node:net';

export interface RawExchange {
  readonly text: string;
  /** The status code of the first response, or 0 when none came. */
  readonly status: number;
  /** Whether the server closed the connection (rather than the wait running out). */
  readonly closed: boolean;
  readonly ms: number;
}

export function rawRequest(base: string, bytes: string | Buffer | ((socket: Socket) => void), idleMs = 2000): Promise<RawExchange> {
  const u = new URL(base);
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const socket = connect(Number(u.port), u.hostname);
    const chunks: Buffer[] = [];
    let timer: NodeJS.Timeout;
    const done = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(chunks).toString('utf8');
      resolve({ text, status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), closed, ms: Date.now() - started });
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => done(false), idleMs);
    };
    socket.on('connect', () => {
      arm();
      if (typeof bytes === 'function') bytes(socket);
      else socket.write(bytes);
    });
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      arm();
    });
    socket.on('end', () => done(true));
    socket.on('close', () => done(true));
    socket.on('error', (err) => (chunks.length ? done(true) : reject(err)));
  });
}

/** A request head with exactly these header lines, in this order and spelling. */
export function head(method: string, path: string, headers: readonly (readonly [string, string])[]): string {
  return `${method} ${path} HTTP/1.1\r\n${headers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
}

/** The JSON body of a raw HTTP/1.1 response (Content-Length framed). */
export function rawJson(text: string): any {
  const body = text.slice(text.indexOf('\r\n\r\n') + 4);
  return JSON.parse(body);
}
