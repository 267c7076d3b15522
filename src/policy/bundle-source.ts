/**
 * Where the bundle comes from: a file (read whole; change notifications from a watch on its folder,
 * since deploy tools replace files by rename) or an OPA bundle server over HTTP(S) (polled with
 * ETag, so an unchanged bundle costs a 304), authenticated by bearer token or client certificate,
 * never following a redirect, and bounded in size while it streams.
 */
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { Agent, request } from 'undici';

export type Fetched = { kind: 'bundle'; archive: Buffer } | { kind: 'unchanged' };

export interface BundleSource {
  fetch(): Promise<Fetched>;
  /** Calls `onChange` when the bundle may have changed; returns a function that stops watching. */
  watch(onChange: () => void, intervalMs: number): () => void;
}


export function fileBundleSource(path: string): BundleSource {
  return {
    async fetch() {
      return { kind: 'bundle', archive: await readFile(path) };
    },
    watch(onChange) {
      let timer: NodeJS.Timeout | undefined;
      let watcher: FSWatcher | undefined;
      try {
        watcher = watch(dirname(path), (_event, filename) => {
          if (filename !== null && filename !== basename(path)) return;
          // Editors and deploy tools write in bursts: settle before reloading.
          clearTimeout(timer);
          timer = setTimeout(onChange, 250);
        });
        watcher.on('error', () => watcher?.close());
      } catch {
        // The folder does not exist yet: reload by admin call or signal instead.
      }
      return () => {
        clearTimeout(timer);
        watcher?.close();
      };
    },
  };
}

export interface DownloadOptions {
  readonly bearerToken?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
  readonly caFile?: string;
  readonly maxBytes: number;
}

export function httpBundleSource(url: string, opts: DownloadOptions = { maxBytes: 64 * 1024 * 1024 }): BundleSource {
  let etag: string | undefined;
  // mTLS (and a private CA) through a dispatcher of its own; certificates are always verified.
  const tls = opts.certFile || opts.caFile;
  const dispatcher = tls
    ? new Agent({
        connect: {
          rejectUnauthorized: true,
          ...(opts.certFile ? { cert: readFileSync(opts.certFile), key: readFileSync(opts.keyFile!) } : {}),
          ...(opts.caFile ? { ca: readFileSync(opts.caFile) } : {}),
        },
      })
    : undefined;
  const auth = opts.bearerToken ? { authorization: `Bearer ${opts.bearerToken}` } : {};
  return {
    async fetch() {
      const res = await request(url, {
        headers: { ...auth, ...(etag ? { 'if-none-match': etag } : {}) },
        headersTimeout: 10_000,
        bodyTimeout: 30_000,
        maxRedirections: 0,
        ...(dispatcher ? { dispatcher } : {}),
      } as Parameters<typeof request>[1]);
      if (res.statusCode === 304) {
        await res.body.dump();
        return { kind: 'unchanged' };
      }
      if (res.statusCode !== 200) {
        await res.body.dump();
        throw new Error(`the bundle server answered ${res.statusCode}`);
      }
      const archive = await readBounded(res.body, Number(res.headers['content-length'] ?? 0), opts.maxBytes);
      const tag = res.headers.etag;
      etag = typeof tag === 'string' ? tag : undefined;
      return { kind: 'bundle', archive };
    },
    watch(onChange, intervalMs) {
      const timer = setInterval(onChange, intervalMs);
      timer.unref();
      return () => clearInterval(timer);
    },
  };
}

/** The body, refused as soon as it (declared or counted, chunked too) passes `max` bytes. */
async function readBounded(body: AsyncIterable<Buffer> & { dump(): Promise<void> }, declared: number, max: number): Promise<Buffer> {
  const tooLarge = () => new Error(`the bundle is larger than policy.download.max_bytes (${max} bytes)`);
  if (declared > max) {
    await body.dump().catch(() => undefined);
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of body) {
    bytes += chunk.length;
    if (bytes > max) throw tooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, bytes);
}
