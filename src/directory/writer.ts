/**
 * Every change to the registry goes through here, whoever asks (SCIM, the admin API, the seed):
 * the lifecycle rules are applied, the records versioned, the whole change written all or nothing,
 * then each record's change is audited (`agent_created|updated|deleted`, `user_*`, `group_*`) with
 * who made it and what changed, and an agent that stops being active has its tokens revoked, which
 * also cuts its calls in flight on every replica.
 */
import type { AuditPort } from '../pipeline/context.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { stored, type StateStore } from '../state/store.js';
import { GatewayError } from '../errors.js';
import { canonical } from '../audit/chain.js';
import { applyLifecycle, agentKey, userKey, type ProposedChange } from './lifecycle.js';
import type { DirectoryKind, DirectoryRecord, DirectoryWrite } from './records.js';
import { ScimError } from './scim/errors.js';

export interface WriterDeps {
  readonly state: StateStore;
  readonly audit: AuditPort;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** How long a revoked agent's tokens can still be valid (auth.max_token_ttl), in seconds. */
  readonly maxTokenTtlSec: number;
}

export interface WriteContext {
  readonly requestId?: string;
  /** Why, in the operator's words (the audit event keeps it). */
  readonly reason?: string;
}

export interface DirectoryWriter {
  /**
   * Writes the changes (each replacing the record it was made from) with the lifecycle cascades;
   * resolves to the new records of `changes`, in order (null for a deletion).
   */
  write(changes: readonly ProposedChange[], by: string, context?: WriteContext): Promise<(DirectoryRecord | null)[]>;
}

/** The values no two records may share. */
export function uniqueValues(kind: DirectoryKind, attributes: Readonly<Record<string, unknown>>): string[] {
  if (kind === 'Agent') return [agentKey(String(attributes.agentId))];
  if (kind === 'User') return [userKey(String(attributes.userName))];
  return [];
}

export function createDirectoryWriter(deps: WriterDeps): DirectoryWriter {
  const { state, audit } = deps;

  return {
    async write(changes, by, context = {}) {
      // Every change is audited after it is stored: with the log unwritable, nothing is changed.
      if (!audit.healthy()) throw new GatewayError('audit_log_unwritable', 'The audit log cannot be written, so the registry was not changed.');
      const all = applyLifecycle(state.directory(), changes);
      const now = new Date().toISOString();
      const writes: DirectoryWrite[] = all.map((c) => ({
        kind: c.kind,
        id: c.id,
        expect: c.base?.version ?? 0,
        record: c.attributes === null ? null : {
          kind: c.kind,
          id: c.id,
          version: (c.base?.version ?? 0) + 1,
          created: c.base?.created ?? now,
          lastModified: now,
          by,
          unique: uniqueValues(c.kind, c.attributes),
          attributes: c.attributes,
        },
      }));
      const result = await stored(state.writeDirectory(writes), 'Nothing was changed');
      if (!result.ok) {
        const c = all[result.index]!;
        if (result.why === 'uniqueness') throw new ScimError('scim_uniqueness', `Another ${c.kind} already has this ${c.kind === 'User' ? 'userName' : 'agentId'}.`);
        throw new ScimError('scim_version_mismatch', `The ${c.kind} ${c.id} changed since it was read (a concurrent update); read it again and retry.`);
      }
      // All at once: the records of one turn share one audit write (a seed of 100,000 agents is one turn).
      await Promise.all(writes.map((w, i) => settle(all[i]!, w, by, context)));
      return writes.slice(0, changes.length).map((w) => w.record);
    },
  };

  async function settle(c: ProposedChange, w: DirectoryWrite, by: string, context: WriteContext): Promise<void> {
    const change = !c.base ? 'created' : w.record === null ? 'deleted' : 'updated';
    deps.metrics.registryChanges.labels(c.kind, change).inc();
    const name = c.kind === 'Agent' ? 'agentId' : c.kind === 'User' ? 'userName' : 'displayName';
    const subject = String((w.record?.attributes ?? c.base!.attributes)[name]);
    await audit.record(`${c.kind.toLowerCase()}_${change}`, {
      [c.kind.toLowerCase()]: subject,
      scim_id: c.id,
      version: w.record?.version ?? null,
      by,
      diff: diff(c.base?.attributes, w.record?.attributes),
      ...(c.cause ? { cause: c.cause } : {}),
      ...(context.requestId ? { request_id: context.requestId } : {}),
      ...(context.reason ? { reason: context.reason } : {}),
    }, { written: true });
    if (c.kind !== 'Agent') return;
    const wasActive = c.base?.attributes.status === 'active';
    const isActive = w.record?.attributes.status === 'active';
    if (wasActive && !isActive) {
      const agent = String(c.base!.attributes.agentId);
      const nowMs = Date.now();
      // Every token the agent holds now is refused from here on, and its calls in flight are cut.
      await stored(state.addRevocation({ kind: 'agent', agent, before: Math.floor(nowMs / 1000), until: nowMs + deps.maxTokenTtlSec * 1000, by, reason: context.reason ?? `agent ${change === 'deleted' ? 'deleted' : String(w.record!.attributes.status)}` }), `The ${agent} change is written, but its tokens could not be revoked`);
      deps.logger.warn({ agent, by, status: w.record?.attributes.status ?? 'deleted' }, 'agent stopped: tokens revoked, calls in flight cut');
    }
  }
}

/** What changed, attribute by attribute; credentials by key id only (never the keys' material). */
export function diff(before: Readonly<Record<string, unknown>> | undefined, after: Readonly<Record<string, unknown>> | undefined): Record<string, { from: unknown; to: unknown }> {
  const out: Record<string, { from: unknown; to: unknown }> = {};
  for (const k of new Set([...Object.keys(before ?? {}), ...Object.keys(after ?? {})])) {
    const from = shown(k, before?.[k]);
    const to = shown(k, after?.[k]);
    if (canonical(from ?? null) !== canonical(to ?? null)) out[k] = { from: from ?? null, to: to ?? null };
  }
  return out;
}

function shown(key: string, value: unknown): unknown {
  if (key !== 'credentials' || value === undefined) return value;
  const keys = (value as { keys?: { kid?: string }[] }).keys ?? [];
  return { keys: keys.map((k) => k.kid ?? '(no kid)') };
}
