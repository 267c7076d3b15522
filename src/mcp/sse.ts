/**
 * Server-sent events, re-framed event by event: the response streams through a maintained parser
 * (eventsource-parser, the WHATWG HTML §9.2 algorithm), and each event is handed to a rewrite
 * function that keeps it (the common case), rewrites its data, drops it, or throws to cut the stream. Bytes
 * are decoded as one UTF-8 stream, so a character split across two reads arrives whole. Events are
 * written back in the canonical form (`id`, `event`, `data` lines; `retry` and comments on their
 * own): the same events to any conforming client. Nothing is buffered beyond one event, and one
 * event is bounded.
 */
import { Transform } from 'node:stream';
import { createParser, type EventSourceMessage } from 'eventsource-parser';

export interface SseEvent {
  readonly id?: string;
  readonly event?: string;
  /** The `data:` lines joined by "\n". */
  readonly data: string;
}

/** Returns the event's new data, undefined to pass the event through as it is, or null to drop it. */
export type SseRewrite = (event: SseEvent) => Promise<string | undefined | null> | string | undefined | null;

type Piece = { readonly event: EventSourceMessage } | { readonly raw: string };

export function sseRewriter(rewrite: SseRewrite, maxEventBytes: number): Transform {
  const decoder = new TextDecoder('utf-8');
  const pieces: Piece[] = [];
  let failure: Error | undefined;
  const parser = createParser({
    onEvent: (event) => pieces.push({ event }),
    onRetry: (ms) => pieces.push({ raw: `retry: ${ms}\n\n` }),
    onComment: (comment) => pieces.push({ raw: `: ${comment}\n` }),
    onError: (err) => (failure ??= err),
    maxBufferSize: maxEventBytes,
  });

  async function drain(push: (s: string) => void): Promise<void> {
    if (failure) throw new Error(`a server-sent event exceeds ${maxEventBytes} bytes (${failure.message})`);
    while (pieces.length > 0) {
      const piece = pieces.shift()!;
      if ('raw' in piece) push(piece.raw);
      else {
        const data = await rewrite(piece.event);
        if (data !== null) push(serialise(piece.event, data));
      }
    }
  }

  return new Transform({
    async transform(chunk: Buffer, _enc, done) {
      try {
        parser.feed(decoder.decode(chunk, { stream: true }));
        await drain((s) => this.push(s));
        done();
      } catch (err) {
        done(err as Error);
      }
    },
    async flush(done) {
      try {
        // A last event without its blank line is still an event to the reader that gets it.
        parser.feed(`${decoder.decode()}\n\n`);
        await drain((s) => this.push(s));
        done();
      } catch (err) {
        done(err as Error);
      }
    },
  });
}

function serialise(event: EventSourceMessage, data: string | undefined): string {
  let out = '';
  if (event.id !== undefined) out += `id: ${event.id}\n`;
  if (event.event !== undefined) out += `event: ${event.event}\n`;
  for (const line of (data ?? event.data).split('\n')) out += `data: ${line}\n`;
  return `${out}\n`;
}
