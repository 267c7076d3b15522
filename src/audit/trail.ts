/**
 * The audit trail: seals events into this gateway's hash chain, writes them to the local log (the
 * record of truth), signs checkpoints every `checkpoint.every` events or `checkpoint.interval` and
 * at shutdown (into the log and, apart from it, into checkpoints.jsonl), and tells subscribers (the
 * live tail, the shipping sinks) what reached the disk.
 */
import { appendFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { ChainState, GENESIS, type AuditRecord } from './chain.js';
import type { CheckpointSigner, CheckpointStatement } from './checkpoint-key.js';
import { lastRecord } from './log-files.js';
import { AuditLogWriter } from './log-writer.js';
import { isoClock } from '../observability/iso-time.js';

/** Events kept in memory while the disk refuses writes (≈ 100 MB at ~1 KB each). */
const MAX_BACKLOG = 100_000;

export interface AuditTrailOptions {
  readonly path: string;
  readonly chain?: string;
  readonly groupCommitMs: number;
  readonly syncIntervalMs: number;
  readonly rotateBytes: number;
  readonly rotateAgeMs: number;
  readonly checkpointEvery: number;
  readonly checkpointIntervalMs: number;
  readonly signer: CheckpointSigner;
  /** Events kept in memory while the disk refuses writes (default 100,000). */
  readonly maxBacklog?: number;
}

export interface AuditHead {
  readonly chain: string;
  readonly seq: number;
  readonly hash: string;
  readonly last_checkpoint: (CheckpointStatement & { kid: string; signature: string }) | null;
}

export interface RecordOptions {
  readonly durable?: boolean;
  readonly written?: boolean;
}

/** Told, after each batch reaches the disk, the last seq written (readers then read the log). */
export type AuditListener = (lastSeq: number) => void;

export interface AuditTrail {
  /**
   * Seals and queues an event. With `written`, resolves once it is handed to the OS (a process crash
   * cannot lose it); with `durable`, once it is on disk; either rejects if it cannot be.
   */
  record(type: string, fields: Record<string, unknown>, opts?: RecordOptions): Promise<void> | undefined;
  healthy(): boolean;
  head(): AuditHead;
  subscribe(listener: AuditListener): () => void;
  readonly path: string;
  readonly checkpointsPath: string;
  readonly signer: CheckpointSigner;
  /** Writes a final checkpoint, flushes and closes. */
  close(): Promise<void>;
}

export async function openAuditTrail(opts: AuditTrailOptions, deps: { metrics: Metrics; logger: Logger }): Promise<AuditTrail> {
  const { metrics, logger } = deps;
  const listeners = new Set<AuditListener>();
  const checkpointsPath = join(dirname(opts.path), 'checkpoints.jsonl');
  const recovered = lastRecord(opts.path);
  const continueChain = recovered && (opts.chain === undefined || opts.chain === recovered.record.chain);
  const chainId = opts.chain ?? recovered?.record.chain ?? `${hostname()}-${randomBytes(3).toString('hex')}`;
  const state = continueChain ? new ChainState(chainId, recovered.record.seq, recovered.record.hash) : new ChainState(chainId, 0, GENESIS);
  let lastCheckpoint: AuditHead['last_checkpoint'] = null;
  let sinceCheckpoint = 0;
  // Counted per batch rather than per event: a labelled prom-client increment is not free.
  let sealed = 0;
  let droppedWarned = false;
  const isoTime = isoClock();

  const writer = await AuditLogWriter.open(
    {
      path: opts.path,
      groupCommitMs: opts.groupCommitMs,
      syncIntervalMs: opts.syncIntervalMs,
      rotateBytes: opts.rotateBytes,
      rotateAgeMs: opts.rotateAgeMs,
      // A checkpoint is kept apart only once the records it signs are fdatasync'ed.
      onSynced: (lastSeq) => writeExternalCheckpoints(lastSeq),
      onWritten: (lastSeq, count) => {
        metrics.auditEvents.inc({ stage: 'written' }, count);
        metrics.auditEvents.inc({ stage: 'sealed' }, sealed);
        sealed = 0;
        for (const l of listeners) l(lastSeq);
      },
      onHealth: (healthy, error) => {
        metrics.auditHealthy.set(healthy ? 1 : 0);
        if (healthy) logger.warn({ path: opts.path }, 'audit log writable again; calls are accepted');
        else logger.error({ path: opts.path, error }, 'audit log not writable; calls are refused with audit_unavailable');
      },
      onFlush: (seconds, n) => metrics.auditFlush.observe(seconds),
    },
    // A torn tail belongs to a file we are continuing; a new chain starts in a new file anyway.
    Boolean(recovered?.tornTail) || (recovered !== undefined && !continueChain && recovered.file === opts.path),
  );
  metrics.auditHealthy.set(1);

  function record(type: string, fields: Record<string, unknown>, o: RecordOptions = {}) {
    const waits = o.durable === true || o.written === true;
    // While the disk refuses writes, calls are refused but their events still queue. Past a bound,
    // new events are not sealed (the chain keeps no gap) and are counted as dropped, never silently.
    if (writer.backlog >= (opts.maxBacklog ?? MAX_BACKLOG)) {
      metrics.auditEvents.inc({ stage: 'dropped' });
      if (!droppedWarned) logger.error({ backlog: writer.backlog }, 'audit backlog full while the log is unwritable: events are being dropped (counted in portcullis_audit_events_total{stage="dropped"})');
      droppedWarned = true;
      return waits ? Promise.reject(new Error('the audit backlog is full')) : undefined;
    }
    droppedWarned = false;
    let rec: { seq: number; line: string };
    try {
      rec = state.seal(type, fields, isoTime());
    } catch (err) {
      // Only a value canonical JSON cannot express gets here (a bug, not an attack): say so loudly.
      metrics.auditEvents.inc({ stage: 'failed' });
      logger.error({ type, error: (err as Error).message }, 'an audit event could not be sealed');
      return waits ? Promise.reject(err as Error) : undefined;
    }
    sealed++;
    const written = writer.append(rec.seq, rec.line, o.durable ? 'synced' : o.written ? 'written' : 'none');
    if (type !== 'checkpoint' && ++sinceCheckpoint >= opts.checkpointEvery) checkpoint();
    return written;
  }

  // Checkpoints waiting for the records they sign to reach the disk before they are kept apart.
  let unwritten: NonNullable<AuditHead['last_checkpoint']>[] = [];

  function checkpoint(): void {
    if (sinceCheckpoint === 0 && lastCheckpoint?.seq === state.seq) return;
    const statement: CheckpointStatement = { chain: chainId, seq: state.seq, hash: state.head, ts: new Date().toISOString() };
    const signature = opts.signer.sign(statement);
    sinceCheckpoint = 0;
    lastCheckpoint = { ...statement, kid: opts.signer.kid, signature };
    unwritten.push(lastCheckpoint);
    record('checkpoint', { checkpoint: { ...lastCheckpoint } });
  }

  /**
   * Kept apart from the log too — a truncated log cannot take its checkpoints with it — but only once
   * the log holds what they sign: written earlier, a crash could leave a checkpoint signing records
   * that never reached the disk (the SIGKILL test caught exactly that).
   */
  function writeExternalCheckpoints(onDisk: number): void {
    const ready = unwritten.filter((c) => c.seq <= onDisk);
    if (ready.length === 0) return;
    unwritten = unwritten.filter((c) => c.seq > onDisk);
    try {
      appendFileSync(checkpointsPath, ready.map((c) => JSON.stringify(c) + '\n').join(''));
    } catch (err) {
      logger.error({ error: (err as Error).message, path: checkpointsPath }, 'could not write the checkpoints file');
    }
  }

  const timer = setInterval(() => {
    if (sinceCheckpoint > 0) checkpoint();
  }, opts.checkpointIntervalMs);
  timer.unref();

  return {
    record,
    healthy: () => writer.healthy,
    head: () => ({ chain: chainId, seq: state.seq, hash: state.head, last_checkpoint: lastCheckpoint }),
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    path: opts.path,
    checkpointsPath,
    signer: opts.signer,
    async close() {
      clearInterval(timer);
      checkpoint();
      await writer.close();
    },
  };
}
