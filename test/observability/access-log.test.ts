import { execFileSync } from 'node:child_process';
import { constants, createReadStream, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { bufferedDestination, createAccessLogger } from '../../src/observability/logger.js';

let cleanup: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanup.reverse()) c();
  cleanup = [];
});

/** A FIFO nobody reads yet, opened for writing without blocking: it takes 64 KB, then EAGAIN. */
function stalledPipe() {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-log-'));
  const path = join(dir, 'stdout');
  execFileSync('mkfifo', [path]);
  const fd = openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  return { path, fd };
}

async function until(cond: () => boolean, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return cond();
}

describe('the access log buffer', () => {
  it('holds at most its bound while stdout stalls, counts what it drops, and delivers every line it kept', async () => {
    const { path, fd } = stalledPipe();
    let dropped = 0;
    const maxBuffer = 256 * 1024;
    const dest = bufferedDestination({ fd, maxBuffer, onDrop: () => dropped++ });
    const log = createAccessLogger({ level: 'info', destination: dest });
    const lines = 10_000; // ≈ 1.3 MB of lines: five times the bound plus the pipe's 64 KB
    for (let i = 0; i < lines; i++) log.info({ i, tool: 'crm', outcome: 'allowed', pad: 'x'.repeat(60) }, 'call');
    await new Promise((r) => setTimeout(r, 300)); // the stalled writer retries; nothing drains
    expect(dropped).toBeGreaterThan(lines / 2);
    expect(dropped).toBeLessThan(lines);

    // A reader arrives: every line that was not counted as dropped comes out, whole and in order.
    const got: number[] = [];
    let rest = '';
    const reader = createReadStream(path);
    cleanup.push(() => reader.destroy());
    reader.on('data', (chunk) => {
      const parts = (rest + chunk.toString()).split('\n');
      rest = parts.pop()!;
      for (const p of parts) got.push(JSON.parse(p).i);
    });
    expect(await until(() => got.length === lines - dropped)).toBe(true);
    expect(got).toEqual([...got].sort((a, b) => a - b));
    expect(got[0]).toBe(0); // the oldest lines are kept, the newest dropped
    await new Promise((r) => (dest as unknown as NodeJS.EventEmitter & { end(): void }).once('close', r).end()); // closes the fd
  });
});
