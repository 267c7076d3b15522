/**
 * How deep a JSON text nests, found by one pass over its bytes before it is parsed. JSON.parse takes
 * any depth, but what walks the value afterwards — canonical JSON, redaction, the policy's input —
 * recurses, and a body of 100,000 `[` would end in a stack overflow (a 500) instead of a refusal.
 */

/** Deeper than any real tool call's arguments; shallow enough for every recursive walk. */
export const MAX_JSON_DEPTH = 64;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;

export function exceedsDepth(buf: Uint8Array, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i]!;
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) inString = true;
    else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > max) return true;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) depth--;
  }
  return false;
}
