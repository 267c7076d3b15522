/**
 * What an identifier the gateway accepts from a token may be — an agent id, a user id, a `jti`.
 * One rule shared by authentication and the admin API, so that every id a token can carry can be
 * named in `/admin/kill` and `/admin/revoke` (a rule stricter on one side would leave tokens that can
 * never be revoked). Any printable Unicode up to 256 characters; never control characters (CR, LF,
 * NUL would split headers and log lines downstream), Unicode line separators or lone surrogates.
 */

export const MAX_ID_LENGTH = 256;

// C0 controls, DEL, C1 controls, U+2028/2029 (line breaks to JavaScript and many log viewers).
// eslint-disable-next-line no-control-regex
// And lone surrogates (not text: they cannot be encoded as UTF-8).
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export function isValidId(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= MAX_ID_LENGTH && !UNSAFE.test(v);
}

// Header-safe as is: visible ASCII except '%', the escape character.
const HEADER_SAFE = /^[\x21-\x24\x26-\x7e]+$/;

/**
 * An id as an HTTP header value (Portcullis-Agent, Portcullis-User): as is when it is visible ASCII,
 * otherwise percent-encoded UTF-8 (RFC 3986 §2.1), which every upstream stack can carry and decode.
 */
export function headerSafeId(id: string): string {
  if (HEADER_SAFE.test(id)) return id;
  let out = '';
  for (const ch of id) out += HEADER_SAFE.test(ch) ? ch : encodeURIComponent(ch);
  return out;
}
