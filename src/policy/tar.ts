/**
 * Reads the regular files of a (gzipped) tar archive into memory — enough for OPA bundles, which
 * `opa build` writes with Go's archive/tar: ustar headers, optional PAX records for long names.
 * Bundles are small (a wasm module and data), so reading them whole is the simple, safe choice.
 */
import { gunzipSync } from 'node:zlib';

const BLOCK = 512;
/** A bundle larger than this is refused rather than inflated into memory. */
const MAX_UNPACKED = 256 * 1024 * 1024;

export function readTarGz(gz: Buffer): Map<string, Buffer> {
  let tar: Buffer;
  try {
    tar = gunzipSync(gz, { maxOutputLength: MAX_UNPACKED });
  } catch (err) {
    throw new Error(`not a gzip archive: ${(err as Error).message}`);
  }
  return readTar(tar);
}

export function readTar(tar: Buffer): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  let offset = 0;
  let paxPath: string | undefined;
  while (offset + BLOCK <= tar.length) {
    const header = tar.subarray(offset, offset + BLOCK);
    if (header.every((b) => b === 0)) break; // end of archive
    if (checksum(header) !== octal(header, 148, 8)) throw new Error(`corrupt tar header at byte ${offset}`);
    const size = octal(header, 124, 12);
    const type = String.fromCharCode(header[156] ?? 0);
    const prefix = cString(header, 345, 155);
    const name = paxPath ?? (prefix ? `${prefix}/${cString(header, 0, 100)}` : cString(header, 0, 100));
    const start = offset + BLOCK;
    if (start + size > tar.length) throw new Error(`truncated tar entry ${name}`);
    const body = tar.subarray(start, start + size);
    offset = start + Math.ceil(size / BLOCK) * BLOCK;
    if (type === 'x') {
      paxPath = paxRecord(body, 'path');
      continue;
    }
    paxPath = undefined;
    if (type === '0' || type === '\0') files.set(normalise(name), Buffer.from(body));
  }
  return files;
}

function normalise(name: string): string {
  return '/' + name.replace(/^\.?\/+/, '');
}

function cString(b: Buffer, start: number, len: number): string {
  const end = b.indexOf(0, start);
  return b.toString('utf8', start, end < 0 || end > start + len ? start + len : end);
}

function octal(b: Buffer, start: number, len: number): number {
  const s = cString(b, start, len).trim();
  const n = s === '' ? 0 : parseInt(s, 8);
  if (!Number.isFinite(n)) throw new Error('corrupt tar header: bad number');
  return n;
}

function checksum(header: Buffer): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : header[i]!;
  return sum;
}

function paxRecord(body: Buffer, key: string): string | undefined {
  // Records are "<len> <key>=<value>\n".
  for (const line of body.toString('utf8').split('\n')) {
    const m = /^\d+ ([^=]+)=(.*)$/.exec(line);
    if (m && m[1] === key) return m[2];
  }
  return undefined;
}
