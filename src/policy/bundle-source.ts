/**
 * Where the bundle comes from: a file (read whole; change notifications from a watch on its folder,
 * since deploy tools replace files by rename) or an OPA bundle server over HTTP(S) (polled with
 * ETag, so an unchanged bundle costs a 304).
 */
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { request } from 'undici';

export type Fetched = { kind: 'bundle'; archive: Buffer } | { kind: 'unchanged' };

export interface BundleSource {
  fetch(): Promise<Fetched>;
  /** Calls `onChange` when the bundle may have changed; returns a function that stops watching. */
  watch(onChange: () => void, intervalMs: number): () => void;
}

const MAX_BUNDLE_BYTES = 64 * 1024 * 1024;

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

export function httpBundleSource(url: string): BundleSource {
  let etag: string | undefined;
  return {
    async fetch() {
      const res = await request(url, {
        headers: etag ? { 'if-none-match': etag } : {},
        headersTimeout: 10_000,
        bodyTimeout: 30_000,
      });
      if (res.statusCode === 304) {
        await res.body.dump();
        return { kind: 'unchanged' };
      }
      if (res.statusCode !== 200) {
        await res.body.dump();
        throw new Error(`the bundle server answered ${res.statusCode}`);
      }
      const length = Number(res.headers['content-length'] ?? 0);
      if (length > MAX_BUNDLE_BYTES) {
        await res.body.dump();
        throw new Error(`the bundle is larger than ${MAX_BUNDLE_BYTES} bytes`);
      }
      const archive = Buffer.from(await res.body.arrayBuffer());
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
