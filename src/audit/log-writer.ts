/**
 * The local audit log, the record of truth: appends are batched (group commit: one write per
 * window, or per event-loop turn for records whose caller waits for the write), durable appends
 * resolve only once their batch is fdatasync'ed, other records are
 * fdatasync'ed within `syncIntervalMs` of being written (a process crash loses none of them: they
 * are in the page cache; a power loss may lose that interval's), the file rotates
 * by size or age, and a restarted gateway continues its chain from the last complete record. When
 * the disk refuses a write the writer reports itself unhealthy (the gateway then refuses calls with
 * audit_unavailable), keeps the sealed records in order, and retries.
 */
import { mkdirSync, renameSync, writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { firstSeq, rotatedName } from './log-files.js';

export interface LogWriterOptions {
  readonly path: string;
  readonly groupCommitMs: number;
  /**
   * The longest a written record waits for fdatasync when no durable record forces one sooner. On
   * this project's bench VM one fdatasync costs ≈ 0.25 ms of CPU; once per 2 ms window that was the
   * largest part of the audit trail's cost (docs/performance.md).
   */
  readonly syncIntervalMs: number;
  readonly rotateBytes: number;
  readonly rotateAgeMs: number;
  /** Called after each batch is written (readers may read it) with the batch's last seq and size. */
  readonly onWritten: (lastSeq: number, count: number) => void;
  /** Called once every record up to `lastSeq` is fdatasync'ed. */
  readonly onSynced?: (lastSeq: number) => void;
  readonly onHealth: (healthy: boolean, error?: string) => void;
  readonly onFlush?: (seconds: number, records: number) => void;
}

interface Pending {
  readonly seq: number;
  readonly line: string;
  readonly done?: { resolve: () => void; reject: (err: Error) => void };
  /** The waiter wants the record fdatasync'ed, not only written. */
  readonly sync?: boolean;
}

/**
 * What an append waits for: nothing (group commit), the write (handed to the OS: a process crash
 * cannot lose it), or the fdatasync (a power loss cannot either).
 */
export type AppendWait = 'none' | 'written' | 'synced';

const RETRY_MS = 1_000;

/**
 * Writes the whole batch, synchronously. A write into the page cache takes microseconds; through the
 * libuv thread pool (FileHandle.write) the same write cost ≈ 3× the CPU on the bench VM — a thread
 * hand-off and back per batch (docs/performance.md). The fdatasync, which can take milliseconds,
 * stays on the pool. A short write (disk full) is continued until the kernel refuses with an error.
 */
function writeAll(fd: number, data: string): number {
  const buf = Buffer.from(data, 'utf8');
  for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off, buf.length - off);
  return buf.length;
}

export class AuditLogWriter {
  private fh: FileHandle | undefined;
  private size = 0;
  private fileOpenedAt = Date.now();
  private fileFirstSeq: number | undefined;
  private pending: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private retry: NodeJS.Timeout | undefined;
  private syncTimer: NodeJS.Timeout | undefined;
  private writtenSeq = 0;
  private syncedSeq = 0;
  private syncedAt = performance.now();
  private healthyValue = true;
  private closed = false;

  private constructor(private readonly opts: LogWriterOptions) {}

  /** Opens (creating folders) the live file; a torn last line is moved aside with its file first. */
  static async open(opts: LogWriterOptions, tornTail: boolean): Promise<AuditLogWriter> {
    const w = new AuditLogWriter(opts);
    mkdirSync(dirname(opts.path), { recursive: true });
    if (tornTail) w.setAside();
    await w.openLive();
    return w;
  }

  get healthy(): boolean {
    return this.healthyValue;
  }

  /** Records sealed but not yet on disk. */
  get backlog(): number {
    return this.pending.length;
  }

  /**
   * Queues a sealed record. Waiting for `written`, the batch is written at the end of this turn of
   * the event loop (every record waiting in this turn shares one write) rather than after the group
   * commit window; waiting for `synced`, the promise resolves once the record is fdatasync'ed.
   */
  append(seq: number, json: string, wait: AppendWait): Promise<void> | undefined {
    const line = json + '\n';
    if (wait === 'none') {
      this.pending.push({ seq, line });
      this.schedule();
      return undefined;
    }
    return new Promise<void>((resolve, reject) => {
      if (!this.healthyValue) {
        // Keep it (the chain has no gaps) but do not make the caller wait for a disk that is failing.
        this.pending.push({ seq, line });
        reject(new Error('the audit log is not writable'));
        return;
      }
      this.pending.push({ seq, line, done: { resolve, reject }, sync: wait === 'synced' });
      if (wait === 'written') this.scheduleNow();
      else this.schedule();
    });
  }

  /** Writes everything queued so far. */
  async flush(): Promise<void> {
    while (this.pending.length > 0 || this.flushing) {
      if (this.flushing) await this.flushing;
      else await this.writeBatch();
      if (!this.healthyValue) return;
    }
  }

  async close(): Promise<void> {
    clearTimeout(this.timer);
    clearImmediate(this.immediate);
    this.immediate = undefined;
    await this.flush();
    if (this.healthyValue && this.writtenSeq > this.syncedSeq) await this.sync().catch((err: Error) => this.unhealthy(err.message));
    this.closed = true;
    clearTimeout(this.retry);
    clearTimeout(this.syncTimer);
    await this.fh?.close();
    this.fh = undefined;
  }

  /** Writes at the end of this event-loop turn (setImmediate), ahead of the group commit timer. */
  private scheduleNow(): void {
    if (this.immediate || this.flushing || !this.healthyValue || this.closed) return;
    this.immediate = setImmediate(() => {
      this.immediate = undefined;
      clearTimeout(this.timer);
      this.timer = undefined;
      void this.writeBatch();
    });
  }

  private schedule(): void {
    if (this.timer || this.immediate || this.flushing || !this.healthyValue || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.writeBatch();
    }, this.opts.groupCommitMs);
  }

  private writeBatch(): Promise<void> {
    if (this.flushing || this.pending.length === 0) return this.flushing ?? Promise.resolve();
    const batch = this.pending;
    this.pending = [];
    this.flushing = this.commit(batch).finally(() => {
      this.flushing = undefined;
      if (this.pending.some((p) => p.done && !p.sync)) this.scheduleNow();
      else if (this.pending.length > 0) this.schedule();
    });
    return this.flushing;
  }

  private async commit(batch: Pending[]): Promise<void> {
    const started = performance.now();
    let data = '';
    let durable = false;
    for (const p of batch) {
      data += p.line;
      if (p.sync) durable = true;
    }
    const last = batch.at(-1)!.seq;
    const writtenBefore = this.writtenSeq;
    try {
      if (!this.fh) throw new Error('the audit log file is not open');
      const bytes = writeAll(this.fh.fd, data);
      this.writtenSeq = last;
      // A durable record is synced now; the others when the interval since the last sync is up.
      if (durable || started - this.syncedAt >= this.opts.syncIntervalMs) await this.sync();
      this.size += bytes;
      this.fileFirstSeq ??= batch[0]!.seq;
    } catch (err) {
      // Keep the batch, in order, ahead of anything queued since; tell durable callers now. (The
      // size was not counted, so recovery truncates whatever part of it reached the file.)
      this.writtenSeq = writtenBefore;
      this.pending = [...batch.map((p) => ({ seq: p.seq, line: p.line })), ...this.pending];
      for (const p of batch) p.done?.reject(err as Error);
      this.unhealthy((err as Error).message);
      return;
    }
    for (const p of batch) p.done?.resolve();
    this.opts.onFlush?.((performance.now() - started) / 1000, batch.length);
    this.opts.onWritten(last, batch.length);
    if (this.syncedSeq < last) this.syncSoon();
    if (this.size >= this.opts.rotateBytes || Date.now() - this.fileOpenedAt >= this.opts.rotateAgeMs) await this.rotate();
  }

  /** fdatasync: every record written so far is on disk. */
  private async sync(): Promise<void> {
    clearTimeout(this.syncTimer);
    this.syncTimer = undefined;
    const upTo = this.writtenSeq;
    await this.fh!.datasync();
    this.syncedAt = performance.now();
    if (upTo > this.syncedSeq) {
      this.syncedSeq = upTo;
      this.opts.onSynced?.(upTo);
    }
  }

  /** Written records are synced within the interval even when no later batch comes to do it. */
  private syncSoon(): void {
    if (this.syncTimer || this.closed) return;
    const wait = Math.max(0, this.opts.syncIntervalMs - (performance.now() - this.syncedAt));
    this.syncTimer = setTimeout(() => {
      this.syncTimer = undefined;
      void this.syncWritten();
    }, wait);
  }

  private async syncWritten(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.writtenSeq <= this.syncedSeq || !this.fh || !this.healthyValue || this.closed) return;
    this.flushing = this.sync()
      .catch((err: Error) => this.unhealthy(err.message))
      .finally(() => {
        this.flushing = undefined;
        if (this.pending.some((p) => p.done && !p.sync)) this.scheduleNow();
        else if (this.pending.length > 0) this.schedule();
      });
    await this.flushing;
  }

  private unhealthy(error: string): void {
    if (this.healthyValue) {
      this.healthyValue = false;
      this.opts.onHealth(false, error);
    }
    clearTimeout(this.retry);
    if (!this.closed) this.retry = setTimeout(() => void this.recover(), RETRY_MS);
  }

  /** Reopens the file, drops any partial write we made, and writes what waited. */
  private async recover(): Promise<void> {
    try {
      await this.fh?.close().catch(() => undefined);
      this.fh = await open(this.opts.path, 'a+');
      const { size } = await this.fh.stat();
      if (size > this.size) await this.fh.truncate(this.size);
      // Records written before a failed sync are kept (they are within `size`): sync them now.
      if (this.writtenSeq > this.syncedSeq) await this.sync();
      this.healthyValue = true;
      await this.writeBatch();
      if (this.healthyValue) this.opts.onHealth(true);
    } catch (err) {
      this.healthyValue = true;
      this.unhealthy((err as Error).message);
    }
  }

  private async openLive(): Promise<void> {
    this.fh = await open(this.opts.path, 'a');
    this.size = (await this.fh.stat()).size;
    this.fileOpenedAt = Date.now();
    this.fileFirstSeq = this.size > 0 ? firstSeq(this.opts.path) : undefined;
  }

  private async rotate(): Promise<void> {
    if (this.fileFirstSeq === undefined) return;
    // A closed file is never synced again: its last records are synced before it is set aside.
    if (this.writtenSeq > this.syncedSeq) await this.sync();
    await this.fh?.close();
    renameSync(this.opts.path, rotatedName(this.opts.path, this.fileFirstSeq));
    await this.openLive();
  }

  /** A live file whose last write was cut short: rotate it away untouched, as evidence. */
  private setAside(): void {
    const first = firstSeq(this.opts.path);
    const target = first === undefined ? `${this.opts.path}.torn-${Date.now()}` : rotatedName(this.opts.path, first);
    renameSync(this.opts.path, target);
  }
}
