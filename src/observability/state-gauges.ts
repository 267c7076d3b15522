/**
 * Gauges read from the shared state when Prometheus scrapes: whether this replica can vouch for its
 * kills and revocations (0: calls are refused with `state_stale`), how many kills are in force, and
 * how many calls wait for a human. The dashboards and alerts in deploy/ use them.
 */
import { Gauge, type Registry } from 'prom-client';
import type { StateStore } from '../state/store.js';

export function registerStateGauges(registry: Registry, state: StateStore): void {
  new Gauge({
    name: 'portcullis_state_healthy',
    help: '1 while this replica can vouch for its kills and revocations; 0 while it refuses calls (state_stale, unavailable).',
    registers: [registry],
    collect() {
      this.set(state.healthy() ? 1 : 0);
    },
  });
  new Gauge({
    name: 'portcullis_kills_active',
    help: 'Kills in force (an agent, user, tool or everything stopped).',
    registers: [registry],
    collect() {
      this.set(state.kills().length);
    },
  });
  new Gauge({
    name: 'portcullis_approvals_pending',
    help: 'Calls waiting for a human approver (not yet decided, not expired).',
    registers: [registry],
    async collect() {
      const now = Date.now();
      const all = await state.listApprovals().catch(() => undefined);
      if (all) this.set(all.filter((a) => a.status === 'pending' && a.expires_at > now).length);
    },
  });
}
