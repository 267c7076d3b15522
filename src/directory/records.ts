/**
 * The registry's records as the state store keeps them: one per SCIM resource (an agent, a person, a
 * group), versioned for ETags, with the keys that must be unique across the registry. A write is a
 * list of these changes applied all or nothing (src/state/*-store.ts), so a request that touches
 * several records (a person deprovisioned and their agents suspended) is never half-applied.
 */

export type DirectoryKind = 'Agent' | 'User' | 'Group';

export interface DirectoryRecord {
  readonly kind: DirectoryKind;
  /** The SCIM `id`: server-assigned, stable, never reused. */
  readonly id: string;
  /** Bumped on every write; the ETag is W/"<version>". */
  readonly version: number;
  readonly created: string;
  readonly lastModified: string;
  /** Who wrote it last (a provisioner's subject, an operator, or `gateway.yaml` for the seed). */
  readonly by: string;
  /** Values that no other record may hold (`Agent:agentId:<id>`, `User:username:<lowercased>`). */
  readonly unique: readonly string[];
  /** The resource's attributes, as SCIM shows them (without `schemas`, `id` and `meta`). */
  readonly attributes: Readonly<Record<string, unknown>>;
}

/** One change of a write: `record` null deletes; `expect` is the version it replaces (0: absent). */
export interface DirectoryWrite {
  readonly kind: DirectoryKind;
  readonly id: string;
  readonly expect: number;
  readonly record: DirectoryRecord | null;
}

export type DirectoryResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly why: 'version' | 'uniqueness'; readonly index: number };

export const recordKey = (kind: DirectoryKind, id: string): string => `${kind}:${id}`;

/** The registry's records in memory: every replica's copy, and the memory store's only one. */
export class DirectorySnapshot {
  readonly records = new Map<string, DirectoryRecord>();
  private readonly owners = new Map<string, string>();
  private readonly kinds: Record<DirectoryKind, Map<string, DirectoryRecord>> = { Agent: new Map(), User: new Map(), Group: new Map() };

  get(kind: DirectoryKind, id: string): DirectoryRecord | undefined {
    return this.records.get(recordKey(kind, id));
  }

  /** The record holding a unique value, if any. */
  holder(unique: string): DirectoryRecord | undefined {
    const key = this.owners.get(unique);
    return key === undefined ? undefined : this.records.get(key);
  }

  /** Whether the writes would apply: each replaces the version it names and takes no value another record holds. */
  check(writes: readonly DirectoryWrite[]): DirectoryResult {
    for (const [index, w] of writes.entries()) {
      const key = recordKey(w.kind, w.id);
      if ((this.records.get(key)?.version ?? 0) !== w.expect) return { ok: false, why: 'version', index };
      for (const u of w.record?.unique ?? []) {
        const owner = this.owners.get(u);
        if (owner !== undefined && owner !== key) return { ok: false, why: 'uniqueness', index };
      }
    }
    return { ok: true };
  }

  /** Applies writes already checked (by check(), or by Redis for a shared store). */
  apply(writes: readonly DirectoryWrite[]): void {
    for (const w of writes) {
      const key = recordKey(w.kind, w.id);
      const old = this.records.get(key);
      for (const u of old?.unique ?? []) if (this.owners.get(u) === key) this.owners.delete(u);
      if (w.record === null) {
        this.records.delete(key);
        this.kinds[w.kind].delete(w.id);
        continue;
      }
      this.records.set(key, w.record);
      this.kinds[w.kind].set(w.id, w.record);
      for (const u of w.record.unique) this.owners.set(u, key);
    }
  }

  load(records: Iterable<DirectoryRecord>): void {
    this.records.clear();
    this.owners.clear();
    for (const m of Object.values(this.kinds)) m.clear();
    this.apply([...records].map((record) => ({ kind: record.kind, id: record.id, expect: 0, record })));
  }

  ofKind(kind: DirectoryKind): Iterable<DirectoryRecord> {
    return this.kinds[kind].values();
  }

  count(kind: DirectoryKind): number {
    return this.kinds[kind].size;
  }
}
