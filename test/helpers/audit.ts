/** Opens a real audit trail on a temp folder, for tests of the chain, the writer and the verifier. */
import { mkdtempSync, readFileSync } from 'node:fs';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCheckpointSigner } from '../../src/audit/checkpoint-key.js';
import { openAuditTrail, type AuditTrail, type AuditTrailOptions } from '../../src/audit/trail.js';
import { createLogger } from '../../src/observability/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';

export async function openTestTrail(dir = mkdtempSync(join(tmpdir(), 'portcullis-trail-')), opts: Partial<AuditTrailOptions> = {}): Promise<{ trail: AuditTrail; dir: string; path: string; keys: Map<string, KeyObject> }> {
  const keyPath = join(dir, 'signing-key.pem');
  const signer = await loadCheckpointSigner(keyPath, { generate: true });
  const path = join(dir, 'audit.jsonl');
  const trail = await openAuditTrail(
    { path, groupCommitMs: 1, syncIntervalMs: 20, rotateBytes: 64 * 1024 * 1024, rotateAgeMs: 86_400_000, checkpointEvery: 1000, checkpointIntervalMs: 60_000, signer, ...opts },
    { metrics: createMetrics({ defaultMetrics: false }), logger: createLogger({ level: 'silent' }) },
  );
  const keys = new Map([[signer.kid, createPublicKey(readFileSync(keyPath))]]);
  return { trail, dir, path, keys };
}

/** Writes `n` tool_call-like events, waiting for the disk every 8 (so batches, and rotations, are small). */
export async function writeEvents(trail: AuditTrail, n: number, from = 0): Promise<void> {
  for (let i = from; i < from + n; i++) {
    const fields = { request_id: `r-${i}`, agent: { id: 'support-bot' }, tool: 'crm', operation: 'get-contact', outcome: { result: 'ok', status: 200 }, amount: i * 1.5 };
    const durable = (i + 1) % 8 === 0;
    const written = trail.record('tool_call', fields, { durable });
    if (durable) await written;
  }
}

/** Writes `n` (a multiple of 1000) small tool_call events fast: queued, with a durable one every 1000 to let the disk keep up. */
export async function writeBulk(trail: AuditTrail, n: number, note = 'bulk'): Promise<void> {
  for (let i = 0; i < n / 1000; i++) {
    for (let j = 0; j < 999; j++) trail.record('tool_call', { request_id: `${note}-${i}-${j}`, agent: { id: 'support-bot' }, note, outcome: { result: 'ok', status: 200 } });
    await trail.record('tool_call', { request_id: `${note}-${i}-last` }, { durable: true });
  }
}
