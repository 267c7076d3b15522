/**
 * Deadlines for calls waiting on their upstream, kept by one timer that checks every `resolutionMs`
 * rather than a timer made and cleared per call (a Timeout object per call is garbage on the hot
 * path). Precise to the resolution — unlike undici's own header timeout, whose clock ticks every
 * ~500 ms and answered a 1 s timeout after up to 1.5 s.
 */
export class Deadlines<T> {
  private readonly due = new Map<T, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly resolutionMs: number,
    private readonly onExpire: (item: T) => void,
  ) {}

  add(item: T, ms: number): void {
    this.due.set(item, performance.now() + ms);
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.check(), this.resolutionMs);
      this.timer.unref();
    }
  }

  delete(item: T): void {
    this.due.delete(item);
  }

  private check(): void {
    const now = performance.now();
    for (const [item, at] of this.due) {
      if (at > now) continue;
      this.due.delete(item);
      this.onExpire(item);
    }
    // Idle: no timer until the next deadline.
    if (this.due.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}
