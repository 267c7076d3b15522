import { describe, expect, it } from 'vitest';
import { compileRate } from '../../src/config/compile-trust.js';
import { LocalRateLimiter } from '../../src/trust/gcra.js';

describe('rates', () => {
  it('reads 50/s, 600/m, 1000/h and a bare number, with a burst of one second by default', () => {
    expect(compileRate({ rate: '50/s' }, 'x')).toEqual({ intervalMs: 20, burst: 50, rate: '50/s' });
    expect(compileRate({ rate: '600 / m', burst: 5 }, 'x')).toEqual({ intervalMs: 100, burst: 5, rate: '600/m' });
    expect(compileRate({ rate: '1000/h' }, 'x').burst).toBe(1);
    expect(compileRate({ rate: 4 }, 'x')).toMatchObject({ intervalMs: 250, burst: 4 });
  });
  it('names the key of a rate it cannot read', () => {
    expect(() => compileRate({ rate: '5/day' }, 'rate_limits.agent')).toThrow(/rate_limits\.agent\.rate/);
  });
});

describe('the local GCRA limiter', () => {
  let now = 1_000_000;
  const limiter = new LocalRateLimiter(() => now);
  const rule = compileRate({ rate: '2/s', burst: 3 }, 'x');

  it('allows the burst at once, then one call per interval, and says how long to wait', () => {
    const take = () => limiter.take([{ key: 'a:bot', rule }]);
    expect([take(), take(), take()].every((r) => r.ok)).toBe(true);
    expect(take()).toEqual({ ok: false, index: 0, retryAfterMs: 500 });
    now += 499;
    expect(take().ok).toBe(false);
    now += 1;
    expect(take().ok).toBe(true);
    expect(take().ok).toBe(false);
    now += 5_000; // idle: the burst is back, not more
    expect([take(), take(), take(), take()].map((r) => r.ok)).toEqual([true, true, true, false]);
  });

  it('takes from every limit or from none, and names the one that refused', () => {
    const wide = compileRate({ rate: '100/s', burst: 100 }, 'x');
    const narrow = compileRate({ rate: '1/s', burst: 1 }, 'x');
    const checks = [{ key: 'a:two', rule: wide }, { key: 't:two:crm', rule: narrow }];
    expect(limiter.take(checks).ok).toBe(true);
    const refused = limiter.take(checks);
    expect(refused).toMatchObject({ ok: false, index: 1 });
    // The refused call did not spend the agent's own budget: 99 more fit on another tool.
    for (let i = 0; i < 99; i++) expect(limiter.take([{ key: 'a:two', rule: wide }]).ok).toBe(true);
    expect(limiter.take([{ key: 'a:two', rule: wide }]).ok).toBe(false);
  });
});
