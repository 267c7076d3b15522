import { describe, expect, it } from 'vitest';
import { isoClock } from '../../src/observability/iso-time.js';

describe('isoClock', () => {
  it('is exactly toISOString, across milliseconds, seconds, days, years and odd inputs', () => {
    const clock = isoClock();
    const starts = [0, Date.UTC(2026, 11, 31, 23, 59, 59, 990), Date.UTC(2024, 1, 29, 12, 0, 0, 0), -1500, Date.UTC(9999, 11, 31, 23, 59, 59, 995)];
    for (const start of starts) {
      for (let ms = start; ms < start + 2_100; ms += 7) expect(clock(ms)).toBe(new Date(ms).toISOString());
    }
    // Past year 9999 the form changes (+YYYYYY); fractions are dropped as Date drops them.
    for (const ms of [Date.UTC(10000, 0, 1), Date.UTC(10000, 0, 1) + 1, 1_700_000_000_123.7, 1_700_000_000_124, 1_700_000_000_124.2]) {
      expect(clock(ms)).toBe(new Date(ms).toISOString());
    }
    expect(clock()).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });
});
