/**
 * The embedded default store: one process, its state in memory and persisted to a file on every
 * change (written whole, then renamed), so a restart never resurrects a killed agent or a revoked
 * token. A file that exists but cannot be read stops the gateway from starting: better down than
 * forgetting a kill.
 */
import { LRUCache } from 'lru-cache';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { pinKey, type ToolPin } from '../mcp/pins.js';
import { LocalRateLimiter } from '../trust/gcra.js';
import { DirectorySnapshot, type DirectoryRecord } from '../directory/records.js';
import { consumeTransition, decideTransition, standingApproval, StateSnapshot, type Approval, type Attestation, type Kill, type Revocation, type StateChange, type StateStore, type Transition, type TrustOverride, type TrustSignal } from './store.js';

export interface MemoryStoreOptions {
  /** How long behaviour signals are kept (trust.window). */
  readonly signalRetentionMs?: number;
}

export function createMemoryStore(file: string, opts: MemoryStoreOptions = {}): StateStore {
  const snap = new StateSnapshot(opts.signalRetentionMs);
  const directory = new DirectorySnapshot();
  // The registry has its own file: it can hold 100,000 agents, and a kill should not rewrite them.
  const directoryFile = file.replace(/(\.json)?$/, '.directory.json');
  const limiter = new LocalRateLimiter();
  const claims = new Map<string, number>();
  let sweptAt = 0;
  // Bounded: an owner forgotten early only makes its client open a new session (MCP 404).
  const owners = new LRUCache<string, string>({ max: 100_000, ttl: 1, updateAgeOnGet: true });
  const listeners = new Set<(c: StateChange) => void>();
  const approvals = new Map<string, Approval>();
  let pruneTimer: NodeJS.Timeout | undefined;
  let persistSoon: NodeJS.Timeout | undefined;

  function persist(): void {
    snap.prune();
    // Decided approvals are kept while they can still be used; the rest are history (the audit trail has it).
    const now = Date.now();
    for (const [id, a] of approvals) if (a.expires_at <= now && a.status !== 'pending') approvals.delete(id);
    mkdirSync(dirname(file), { recursive: true });
    const state = {
      v: 1,
      kills: [...snap.kills.values()],
      revocations: snap.revocations(),
      approvals: [...approvals.values()],
      pins: [...snap.pins.values()],
      // A restart does not wipe an agent's record.
      signals: [...snap.signals.values()].flat(),
      attestations: [...snap.attestations.values()].flatMap((m) => [...m.values()]),
      overrides: [...snap.overrides.values()],
    };
    writeFileSync(`${file}.tmp`, JSON.stringify(state, null, 1), { mode: 0o600 });
    renameSync(`${file}.tmp`, file);
  }

  /** Stores and announces a transition that changed the record (a success, or a pending one found expired). */
  function changed(t: Transition): Transition {
    if (t.approval && (t.ok || t.why === 'expired')) {
      approvals.set(t.approval.id, t.approval);
      persist();
      emit({ type: 'approval', approval: t.approval });
    }
    return t;
  }

  function emit(change: StateChange): void {
    for (const l of listeners) l(change);
  }

  return {
    async start() {
      if (existsSync(file)) {
        let saved: { kills?: Kill[]; revocations?: Revocation[]; approvals?: Approval[]; pins?: ToolPin[]; signals?: TrustSignal[]; attestations?: Attestation[]; overrides?: TrustOverride[] };
        try {
          saved = JSON.parse(readFileSync(file, 'utf8')) as typeof saved;
        } catch (err) {
          throw new Error(`the state file ${file} cannot be read (${(err as Error).message}); refusing to start without its kills and revocations`);
        }
        for (const k of saved.kills ?? []) snap.applyKill(k);
        for (const r of saved.revocations ?? []) snap.applyRevocation(r);
        for (const a of saved.approvals ?? []) approvals.set(a.id, a);
        for (const p of saved.pins ?? []) snap.applyPin(p);
        snap.applySignals(saved.signals ?? []);
        for (const a of saved.attestations ?? []) snap.applyAttestation(a);
        for (const o of saved.overrides ?? []) snap.applyOverride(o.agent, o);
        snap.prune();
      }
      if (existsSync(directoryFile)) {
        try {
          directory.load((JSON.parse(readFileSync(directoryFile, 'utf8')) as { records: DirectoryRecord[] }).records);
        } catch (err) {
          throw new Error(`the registry file ${directoryFile} cannot be read (${(err as Error).message}); refusing to start without its suspensions`);
        }
        emit({ type: 'directory_reset' });
      }
      pruneTimer = setInterval(() => snap.prune(), 60_000);
      pruneTimer.unref();
    },
    async close() {
      clearInterval(pruneTimer);
      if (persistSoon) {
        clearTimeout(persistSoon);
        persistSoon = undefined;
        persist();
      }
    },
    healthy: () => true,
    async addKill(kill) {
      snap.applyKill(kill);
      persist();
      emit({ type: 'kill', kill });
    },
    async removeKill(id) {
      const kill = snap.removeKill(id);
      if (kill) {
        persist();
        emit({ type: 'revive', kill });
      }
      return kill;
    },
    kills: () => [...snap.kills.values()],
    async addRevocation(revocation) {
      snap.applyRevocation(revocation);
      persist();
      emit({ type: 'revoke', revocation });
    },
    async createApproval(approval) {
      approvals.set(approval.id, approval);
      persist();
      emit({ type: 'approval', approval });
    },
    getApproval: async (id) => approvals.get(id),
    listApprovals: async () => [...approvals.values()],
    // Single process, single thread: read-check-write cannot interleave.
    decideApproval: async (id, decision, by, comment) => changed(decideTransition(approvals.get(id), decision, by, comment, Date.now())),
    consumeApproval: async (id, fp) => changed(consumeTransition(approvals.get(id), fp, Date.now())),
    async findApproval(fp) {
      // Few approvals live at once (they expire); the newest standing one wins.
      const now = Date.now();
      let found: Approval | undefined;
      for (const a of approvals.values()) if (standingApproval(a, fp, now) && (!found || a.created_at >= found.created_at)) found = a;
      return found;
    },
    toolPin: (tool, name) => snap.pins.get(pinKey(tool, name)),
    toolPins: () => [...snap.pins.values()],
    async setToolPin(pin) {
      snap.applyPin(pin);
      persist();
      emit({ type: 'pin', pin });
    },
    addSignals(signals) {
      snap.applySignals(signals);
      emit({ type: 'signals', signals });
      // Signals can come in floods: written with the next change, or within a second.
      persistSoon ??= setTimeout(() => {
        persistSoon = undefined;
        persist();
      }, 1_000);
      persistSoon.unref();
    },
    signals: (agent) => snap.signals.get(agent) ?? [],
    async setAttestation(attestation) {
      snap.applyAttestation(attestation);
      persist();
      emit({ type: 'attestation', attestation });
    },
    attestations: (agent) => snap.attestationList(agent),
    async setTrustOverride(agent, override) {
      snap.applyOverride(agent, override);
      persist();
      emit({ type: 'trust_override', agent, override });
    },
    trustOverride: (agent) => snap.overrides.get(agent),
    trustSubjects: () => snap.trustSubjects(),
    takeRate: (checks) => limiter.take(checks),
    async claimOnce(key, ttlMs) {
      const now = Date.now();
      // Expired keys are swept at most once a second: DPoP claims a key per call, and a sweep per
      // call would cost O(keys in the window) each time.
      if (now - sweptAt >= 1000) {
        sweptAt = now;
        for (const [k, until] of claims) if (until <= now) claims.delete(k);
      }
      const held = claims.get(key);
      if (held !== undefined && held > now) return false;
      claims.set(key, now + ttlMs);
      return true;
    },
    async bindOwner(key, owner, ttlMs) {
      const held = owners.get(key, { updateAgeOnGet: false });
      if (held !== undefined) return held;
      owners.set(key, owner, { ttl: ttlMs });
      return owner;
    },
    async ownerOf(key, ttlMs) {
      const held = owners.get(key);
      if (held !== undefined) owners.set(key, held, { ttl: ttlMs });
      return held ?? null;
    },
    async unbindOwner(key) {
      owners.delete(key);
    },
    async writeDirectory(writes) {
      // Single process, single thread: the check and the write cannot interleave.
      const result = directory.check(writes);
      if (!result.ok) return result;
      const before = writes.map((w) => ({ ...w, record: directory.get(w.kind, w.id) ?? null }));
      directory.apply(writes);
      try {
        mkdirSync(dirname(directoryFile), { recursive: true });
        writeFileSync(`${directoryFile}.tmp`, JSON.stringify({ v: 1, records: [...directory.records.values()] }), { mode: 0o600 });
        renameSync(`${directoryFile}.tmp`, directoryFile);
      } catch (err) {
        directory.apply(before.reverse()); // not on disk, so not done: a restart would forget it
        throw err;
      }
      emit({ type: 'directory', writes });
      return result;
    },
    directory: () => directory,
    problem: () => null,
    killFor: (call) => snap.killFor(call),
    isRevoked: (t) => snap.isRevoked(t),
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
