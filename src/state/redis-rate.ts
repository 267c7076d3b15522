/**
 * Rate limits shared by every replica through Redis (the GCRA Lua script), on their own connection
 * with their own short timeout: they sit on the request path. Availability over precision: when
 * Redis does not answer in time, each replica limits on its own until it does again.
 */
import type { Cluster, Redis } from 'ioredis';
import type { Logger } from '../observability/logger.js';
import { LocalRateLimiter, type RateCheck, type RateResult } from '../trust/gcra.js';
import { GCRA } from './redis-connection.js';

type Gcra = { portcullisGcra(...a: (string | number)[]): Promise<[number, number, number]> };

export function createSharedRateLimiter(rl: Redis | Cluster, key: (k: string) => string, logger: Logger, onFallback?: () => void) {
  rl.defineCommand('portcullisGcra', { lua: GCRA });
  const local = new LocalRateLimiter();
  let degraded = false;

  function fallback(checks: readonly RateCheck[], why: string): RateResult {
    if (!degraded) {
      degraded = true;
      logger.warn({ error: why }, 'rate limits decided locally: Redis does not answer (each replica now limits on its own)');
    }
    onFallback?.();
    return local.take(checks);
  }

  return function takeRate(checks: readonly RateCheck[]): RateResult | Promise<RateResult> {
    if (rl.status !== 'ready') return fallback(checks, `connection ${rl.status}`);
    const args: (string | number)[] = [checks.length, ...checks.map((c) => key(c.key))];
    for (const c of checks) args.push(c.rule.intervalMs, c.rule.burst);
    return (rl as unknown as Gcra).portcullisGcra(...args).then(
      ([ok, index, wait]): RateResult => {
        if (degraded) {
          degraded = false;
          logger.info('rate limits shared through Redis again');
        }
        return ok === 1 ? { ok: true } : { ok: false, index: index - 1, retryAfterMs: wait };
      },
      (err: Error) => fallback(checks, err.message),
    );
  };
}
