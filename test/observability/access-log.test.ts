import { execFileSync } from 'node:child_process';
import { constants, createReadStream, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { bufferedDestination, createAccessLogger, createLogger } from '../../src/observability/logger.js';
import { until } from '../helpers/wait.js';

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

describe('the access line', () => {
  const capture = () => {
    const lines: string[] = [];
    return { lines, destination: { write: (s: string) => void lines.push(s) } };
  };

  it('is the line the pino logger writes for the same fields', () => {
    const a = capture();
    const b = capture();
    const access = createAccessLogger({ level: 'info', destination: a.destination });
    const logger = createLogger({ level: 'info', destination: b.destination });
    const cases = [
      { request_id: 'r-1', method: 'POST', tool: 'crm', agent: 'support-bot', user: undefined, status: 200, outcome: 'ok', duration_ms: 1.234, upstream_ms: undefined, client: '::1' },
      { tool: 'we"ird\\name\n', operation: 'ünïcødé ☃ \u0001', status: 403, retry: true, none: null },
      {},
    ];
    for (const fields of cases) {
      access.info(fields, 'call');
      logger.info(fields, 'call');
    }
    const untimed = (l: string) => l.replace(/"time":"[^"]+"/, '"time":"T"');
    expect(a.lines.map(untimed)).toEqual(b.lines.map(untimed));
    expect(a.lines[0]).toMatch(/^\{"level":"info","time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z","service":"portcullis","request_id":"r-1",/);
    expect(a.lines.every((l) => l.endsWith('\n') && JSON.parse(l).msg === 'call')).toBe(true);
  });

  it('writes nothing when the level is above info', () => {
    for (const level of ['warn', 'error', 'silent']) {
      const a = capture();
      createAccessLogger({ level, destination: a.destination }).info({ status: 200 }, 'call');
      expect(a.lines).toEqual([]);
    }
    const d = capture();
    createAccessLogger({ level: 'debug', destination: d.destination }).info({ status: 200 }, 'call');
    expect(d.lines).toHaveLength(1);
  });
});

describe('the access log buffer', () => {
  it('holds at most its bound while stdout stalls, counts what it drops, and delivers every line it kept', async () => {
    const { path, fd } = stalledPipe();
    let dropped = 0;
    const maxBuffer = 256 * 1024;
    const dest = bufferedDestination({ fd, maxBuffer, onDrop: (n) => (dropped += n) });
    const log = createAccessLogger({ level: 'info', destination: dest });
    const lines = 10_000; // ≈ 1.3 MB of lines, in 50 turns: five times the bound plus the pipe's 64 KB
    for (let i = 0; i < lines; i++) {
      log.info({ i, tool: 'crm', outcome: 'allowed', pad: 'x'.repeat(60) }, 'call');
      if (i % 200 === 199) await new Promise((r) => setImmediate(r));
    }
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
    await dest.close();
  });

  it('keeps up with an overloaded gateway: lines gathered into large writes, however the turns fall', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-log-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'stdout');
    let dropped = 0;
    const dest = bufferedDestination({ fd: openSync(file, 'w'), maxBuffer: 2 * 2 ** 20, onDrop: (n) => (dropped += n) });
    const log = createAccessLogger({ level: 'info', destination: dest });
    // 200 turns of ≈ 100 KB of lines each, as an overloaded gateway makes: at one 16 KB write per
    // turn (sonic-boom fed line by line) the buffer gains ≈ 84 KB a turn and passes its 2 MB bound
    // within ~25 turns; gathered into 64 KB chunks, each written whole, it drains as it fills.
    const line = { tool: 'crm', operation: 'add-note', outcome: 'allowed', pad: 'x'.repeat(80) };
    for (let turn = 0; turn < 200; turn++) {
      for (let i = 0; i < 700; i++) log.info(line, 'call');
      await new Promise((r) => setTimeout(r, 1));
    }
    await dest.close();
    expect(dropped).toBe(0);
    expect(readFileSync(file, 'utf8').split('\n').length - 1).toBe(200 * 700);
  });
});
