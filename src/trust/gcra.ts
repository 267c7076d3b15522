/**
 * GCRA (the generic cell rate algorithm, as in ATM and in redis-cell): each limit keeps one number,
 * the theoretical arrival time (TAT) of the next call at the sustained rate. A call is allowed when
 * it arrives no earlier than TAT − burst × interval; allowing it moves TAT on by one interval.
 * Several limits are checked together and a call consumes from all of them or from none, so a call
 * refused by the agent×tool limit does not also spend the agent's budget.
 *
 * The local limiter is the memory store's limiter and every store's fallback; the Redis store runs
 * the same arithmetic in one Lua script (src/state/redis-store.ts).
 */
import type { RateRule } from '../config/compile-trust.js';

export interface RateCheck {
  /** The limited subject, e.g. `a:support-bot`, `at:support-bot:crm`, `u:alice@example.com`. */
  readonly key: string;
  readonly rule: RateRule;
}

export type RateResult = { readonly ok: true } | { readonly ok: false; readonly index: number; readonly retryAfterMs: number };

export const RATE_OK: RateResult = Object.freeze({ ok: true });

/** The pure step: given each limit's stored TAT, the verdict and (when allowed) the new TATs. */
export function gcra(now: number, checks: readonly RateCheck[], tats: readonly (number | undefined)[]): { result: RateResult; next?: number[] } {
  const next: number[] = [];
  let worst = 0;
  let worstIndex = -1;
  for (let i = 0; i < checks.length; i++) {
    const { intervalMs, burst } = checks[i]!.rule;
    const tat = Math.max(tats[i] ?? now, now);
    const allowAt = tat + intervalMs - burst * intervalMs;
    if (allowAt > now && allowAt - now > worst) {
      worst = allowAt - now;
      worstIndex = i;
    }
    next.push(tat + intervalMs);
  }
  if (worstIndex >= 0) return { result: { ok: false, index: worstIndex, retryAfterMs: worst } };
  return { result: RATE_OK, next };
}

/** In-process limits: a map of TATs, swept of entries that no longer hold anything back. */
export class LocalRateLimiter {
  private readonly tats = new Map<string, number>();
  private lastSweep = 0;

  constructor(private readonly now: () => number = Date.now) {}

  take(checks: readonly RateCheck[]): RateResult {
    const now = this.now();
    const { result, next } = gcra(now, checks, checks.map((c) => this.tats.get(c.key)));
    if (next) for (let i = 0; i < checks.length; i++) this.tats.set(checks[i]!.key, next[i]!);
    if (now - this.lastSweep > 10_000) this.sweep(now);
    return result;
  }

  /** A TAT in the past is the same as no entry: drop it, so idle subjects cost no memory. */
  private sweep(now: number): void {
    this.lastSweep = now;
    for (const [k, tat] of this.tats) if (tat <= now) this.tats.delete(k);
  }

  get size(): number {
    return this.tats.size;
  }
}
