/**
 * The live agent registry as the request path reads it: registry entries by agent id, indexed from
 * the state store's records and kept current by its change feed (local writes and other replicas'
 * through pub/sub), so a lookup is one map read and never a store round trip. gateway.yaml's agents
 * are the seed (seed.ts); what only gateway.yaml can say about an agent (its rate limit, DPoP
 * requirement, key file or secret hashes) still comes from there for an agent of the same id.
 */
import type { AgentEntry, RuntimeConfig } from '../config/compile.js';
import type { AgentCredentials } from '../config/compile-identity.js';
import type { StateStore } from '../state/store.js';
import type { DirectoryRecord } from './records.js';

/** The agent attributes a record holds (the SCIM Agent resource, src/directory/scim/schemas.ts). */
export interface AgentAttributes {
  readonly agentId: string;
  readonly owner: string;
  readonly purpose?: string;
  readonly roles?: readonly string[];
  readonly maxClassification: AgentEntry['maxClassification'];
  readonly status: AgentEntry['status'];
  readonly trustLevel: AgentEntry['trustLevel'];
  readonly version?: string;
  readonly scopes?: readonly string[];
  /** A public JWKS: the keys the agent signs its client assertions with. */
  readonly credentials?: { readonly keys: readonly Record<string, unknown>[] };
  readonly maxTokenTtl?: number;
  readonly riskProfile?: string;
  /** Why a suspension happened when the gateway did it (`owner_deprovisioned`), so it can be lifted the same way. */
  readonly suspendedFor?: string;
}

/** What the request path asks the registry; a Map of agents answers it too (tests, tools). */
export interface AgentLookup {
  get(id: string): AgentEntry | undefined;
  has(id: string): boolean;
  values(): Iterable<AgentEntry>;
  readonly size: number;
}

export interface Registry extends AgentLookup {
  /** The record behind an agent (for SCIM and the admin API). */
  record(id: string): DirectoryRecord | undefined;
  /** Bumped on every change, so a decision remembered on an older registry is not reused. */
  generation(): number;
}

export function createRegistry(config: RuntimeConfig, state: StateStore): Registry {
  const entries = new Map<string, AgentEntry>();
  const records = new Map<string, DirectoryRecord>();
  // SCIM id → agent id: a write names the record by its SCIM id.
  const byRecord = new Map<string, string>();
  let gen = 0;

  function set(id: string, r: DirectoryRecord | null): void {
    const was = byRecord.get(id);
    if (was !== undefined) {
      entries.delete(was);
      records.delete(was);
      byRecord.delete(id);
    }
    if (r === null) return;
    const entry = entryFrom(r, config.agents.get((r.attributes as unknown as AgentAttributes).agentId));
    entries.set(entry.id, entry);
    records.set(entry.id, r);
    byRecord.set(id, entry.id);
  }

  function reload(): void {
    const seen = new Set<string>();
    for (const r of state.directory().ofKind('Agent')) {
      seen.add(r.id);
      const was = byRecord.get(r.id);
      // A reload parses every record anew: only a new version is a change.
      if (was === undefined || records.get(was)?.version !== r.version) set(r.id, r);
      else records.set(was, r);
    }
    for (const id of [...byRecord.keys()]) if (!seen.has(id)) set(id, null);
    gen++;
  }

  reload();
  state.onChange((change) => {
    if (change.type === 'directory_reset') return reload();
    if (change.type !== 'directory') return;
    for (const w of change.writes) if (w.kind === 'Agent') set(w.id, w.record);
    gen++;
  });

  return {
    get: (id) => entries.get(id),
    has: (id) => entries.has(id),
    values: () => entries.values(),
    get size() {
      return entries.size;
    },
    record: (id) => records.get(id),
    generation: () => gen,
  };
}

/** The registry entry of a record: its attributes, and what only gateway.yaml says about the agent. */
export function entryFrom(r: DirectoryRecord, seed: AgentEntry | undefined): AgentEntry {
  const a = r.attributes as unknown as AgentAttributes;
  const credentials: AgentCredentials | undefined = a.credentials
    ? { jwks: a.credentials, secretHashes: seed?.credentials?.secretHashes ?? [] }
    : seed?.credentials;
  return Object.freeze({
    id: a.agentId,
    owner: a.owner,
    purpose: a.purpose,
    version: a.version,
    roles: Object.freeze([...(a.roles ?? [])]),
    maxClassification: a.maxClassification,
    status: a.status,
    trustLevel: a.trustLevel,
    rateLimit: seed?.rateLimit,
    credentials,
    scopes: Object.freeze([...(a.scopes ?? [])]),
    requireDpop: seed?.requireDpop ?? false,
    riskProfile: a.riskProfile ?? null,
    maxTokenTtlSec: a.maxTokenTtl,
  });
}
