/**
 * How a call is stopped — the kill switch, the client leaving, shutdown — with what the request path
 * uses of AbortController and nothing more. An AbortController's signal is an EventTarget, made and
 * listened to on every call (≈ 1.5% of the gateway's CPU in bench/profile.mjs); this is a plain
 * object. undici takes it as a request's signal: it needs `aborted`, `reason` and
 * add/removeEventListener (lib/core/util.js addAbortListener).
 */
export class CallAbort {
  aborted = false;
  reason: unknown = undefined;
  private listeners: (() => void)[] | undefined;

  /** The signal side, for code written against AbortController (`ctx.abort.signal.reason`). */
  get signal(): CallAbort {
    return this;
  }

  /** Aborts once; later calls do nothing. Listeners run synchronously, in the order they were added. */
  abort(reason?: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason ?? new DOMException('This operation was aborted', 'AbortError');
    const listeners = this.listeners;
    this.listeners = undefined;
    if (listeners) for (const l of listeners) l();
  }

  addEventListener(_type: 'abort', listener: () => void): void {
    (this.listeners ??= []).push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const i = this.listeners?.indexOf(listener) ?? -1;
    if (i >= 0) this.listeners!.splice(i, 1);
  }
}
