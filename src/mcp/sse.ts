/**
 * Server-sent events, re-framed event by event (WHATWG HTML §9.2): the response streams through,
 * and each complete event is handed to a rewrite function that returns it unchanged (the common
 * case: the original bytes are written), rewritten, or throws to cut the stream. Nothing is
 * buffered beyond one event, and one event is bounded.
 */
import { Transform } from 'node:stream';

export interface SseEvent {
  /** The event's lines other than `data:` (id, event, retry, comments), as received. */
  readonly fields: readonly string[];
  /** The `data:` lines joined by "\n" (undefined when the event has none). */
  readonly data: string | undefined;
}

/** Returns the event's new data, or undefined to pass the event through untouched. */
export type SseRewrite = (event: SseEvent) => Promise<string | undefined> | string | undefined;

const BOUNDARY = /\r\n\r\n|\n\n|\r\r/;

export function sseRewriter(rewrite: SseRewrite, maxEventBytes: number): Transform {
  let pending = '';
  return new Transform({
    async transform(chunk: Buffer, _enc, done) {
      pending += chunk.toString('utf8');
      try {
        let m: RegExpExecArray | null;
        while ((m = BOUNDARY.exec(pending)) !== null) {
          const raw = pending.slice(0, m.index);
          const sep = m[0];
          pending = pending.slice(m.index + sep.length);
          this.push(await reframe(raw, sep, rewrite));
        }
        if (Buffer.byteLength(pending) > maxEventBytes) throw new Error(`a server-sent event exceeds ${maxEventBytes} bytes`);
        done();
      } catch (err) {
        done(err as Error);
      }
    },
    async flush(done) {
      try {
        if (pending !== '') this.push(await reframe(pending, '', rewrite));
        done();
      } catch (err) {
        done(err as Error);
      }
    },
  });
}

async function reframe(raw: string, sep: string, rewrite: SseRewrite): Promise<string> {
  const fields: string[] = [];
  const data: string[] = [];
  for (const line of raw.split(/\r\n|\n|\r/)) {
    if (line.startsWith('data:')) data.push(line.slice(line.startsWith('data: ') ? 6 : 5));
    else if (line === 'data') data.push('');
    else fields.push(line);
  }
  const next = await rewrite({ fields, data: data.length > 0 ? data.join('\n') : undefined });
  if (next === undefined) return raw + sep;
  const lines = [...fields.filter((f) => f !== ''), ...next.split('\n').map((d) => `data: ${d}`)];
  return lines.join('\n') + '\n\n';
}
