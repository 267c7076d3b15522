/**
 * The embedded default store: one process, its state in memory and persisted to a file on every
 * change (written whole, then renamed), so a restart never resurrects a killed agent or a revoked
 * token. A file that exists but cannot be read stops the gateway from starting: better down than
 * forgetting a kill.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { StateSnapshot, type Kill, type Revocation, type StateChange, type StateStore } from './store.js';

export function createMemoryStore(file: string): StateStore {
  const snap = new StateSnapshot();
  const listeners = new Set<(c: StateChange) => void>();
  let pruneTimer: NodeJS.Timeout | undefined;

  function persist(): void {
    snap.prune();
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(`${file}.tmp`, JSON.stringify({ v: 1, kills: [...snap.kills.values()], revocations: snap.revocations() }, null, 1), { mode: 0o600 });
    renameSync(`${file}.tmp`, file);
  }

  function emit(change: StateChange): void {
    for (const l of listeners) l(change);
  }

  return {
    async start() {
      if (existsSync(file)) {
        let saved: { kills?: Kill[]; revocations?: Revocation[] };
        try {
          saved = JSON.parse(readFileSync(file, 'utf8')) as typeof saved;
        } catch (err) {
          throw new Error(`the state file ${file} cannot be read (${(err as Error).message}); refusing to start without its kills and revocations`);
        }
        for (const k of saved.kills ?? []) snap.applyKill(k);
        for (const r of saved.revocations ?? []) snap.applyRevocation(r);
        snap.prune();
      }
      pruneTimer = setInterval(() => snap.prune(), 60_000);
      pruneTimer.unref();
    },
    async close() {
      clearInterval(pruneTimer);
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
    killFor: (call) => snap.killFor(call),
    isRevoked: (t) => snap.isRevoked(t),
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
