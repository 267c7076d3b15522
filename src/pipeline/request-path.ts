/**
 * The request target, decoded and checked once. The rules close the classic gaps between what a
 * gateway authorises and what an upstream serves (RFC 3986 §3.3, §6.2; CVE-class bugs in proxies
 * that normalise differently from their upstreams):
 *  - `..` and `.` segments, raw or percent-encoded, are refused, never resolved;
 *  - encoded separators (`%2F`, `%5C`), raw `\`, NUL, control characters and `%25` (double
 *    encoding) are refused;
 *  - `;` matrix parameters and empty segments (`//`) are refused;
 *  - the path forwarded is re-encoded from the decoded segments the operation matched, so the path
 *    authorised is exactly the path the upstream receives.
 */
import { GatewayError } from '../errors.js';

export interface ToolTarget {
  readonly tool: string;
  /** Decoded segments after `/tools/<tool>`. */
  readonly segments: readonly string[];
  /** Canonically encoded path after `/tools/<tool>` ('' or starting with '/'). */
  readonly encodedPath: string;
  /** Raw query string without '?', '' when absent. */
  readonly query: string;
}

const PREFIX = '/tools/';
// Characters that may stay raw in a forwarded segment: RFC 3986 pchar minus ';' (refused as params).
const SAFE_SEGMENT = /^[A-Za-z0-9\-._~!$&'()*+,=:@]*$/;
const PERCENT = /%(?![0-9A-Fa-f]{2})/;

export function parseToolTarget(url: string): ToolTarget | undefined {
  if (!url.startsWith(PREFIX)) return undefined;
  const q = url.indexOf('?');
  const rawPath = q < 0 ? url : url.slice(0, q);
  const query = q < 0 ? '' : url.slice(q + 1);
  if (url.includes('#')) throw refuse('path_malformed', 'A fragment (#) is not allowed in the request target.');

  const raw = rawPath.slice(PREFIX.length).split('/');
  const segments: string[] = [];
  for (const part of raw) segments.push(decodeSegment(part));
  const tool = segments.shift();
  if (tool === undefined || tool === '') throw refuse('path_empty_segment', 'The path has an empty segment.');
  // `/tools/crm` and `/tools/crm/` both address the tool's root.
  if (segments.length === 1 && segments[0] === '') segments.pop();
  for (const s of segments) if (s === '') throw refuse('path_empty_segment', 'The path has an empty segment (//).');

  let encodedPath = '';
  for (const s of segments) encodedPath += '/' + encodeSegment(s);
  return { tool, segments, encodedPath, query };
}

function decodeSegment(part: string): string {
  if (part.includes(';')) throw refuse('path_parameters', 'Path parameters (;) are not allowed.');
  if (part.includes('\\')) throw refuse('path_encoded_separator', 'A backslash is not allowed in the path.');
  let decoded = part;
  if (part.includes('%')) {
    if (PERCENT.test(part)) throw refuse('path_malformed', 'The path has a malformed percent-escape.');
    const lower = part.toLowerCase();
    if (lower.includes('%25')) throw refuse('path_double_encoding', 'An encoded percent sign (%25) is not allowed: double encoding.');
    if (lower.includes('%2f') || lower.includes('%5c')) throw refuse('path_encoded_separator', 'An encoded / or \\ is not allowed in the path.');
    if (lower.includes('%00')) throw refuse('path_nul', 'A NUL byte is not allowed in the path.');
    try {
      decoded = decodeURIComponent(part);
    } catch {
      throw refuse('path_malformed', 'The path is not valid percent-encoded UTF-8.');
    }
  }
  if (decoded === '.' || decoded === '..') throw refuse('path_traversal', 'Dot segments (. or ..) are not allowed in the path.');
  if (decoded.includes('\0')) throw refuse('path_nul', 'A NUL byte is not allowed in the path.');
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(decoded)) throw refuse('path_malformed', 'Control characters are not allowed in the path.');
  if (decoded.includes(';')) throw refuse('path_parameters', 'Path parameters (;) are not allowed.');
  return decoded;
}

function encodeSegment(s: string): string {
  if (SAFE_SEGMENT.test(s)) return s;
  let out = '';
  for (const ch of s) out += SAFE_SEGMENT.test(ch) ? ch : encodeURIComponent(ch);
  return out;
}

function refuse(reason: 'path_malformed' | 'path_traversal' | 'path_encoded_separator' | 'path_double_encoding' | 'path_nul' | 'path_parameters' | 'path_empty_segment', message: string) {
  return new GatewayError(reason, message);
}

/**
 * The parameter names of a query string as a server would read them: split on `&` (and `;`, which
 * some stacks still accept), `+` as a space, percent-escapes decoded until stable (a stack that
 * decodes twice reads `%2561` as `a`), lower case. For checks on names that must never be smuggled
 * under another spelling (`access_token`, `_method`).
 */
export function queryNames(query: string): string[] {
  const names: string[] = [];
  for (const pair of query.split(/[&;]/)) {
    const eq = pair.indexOf('=');
    let name = (eq < 0 ? pair : pair.slice(0, eq)).replace(/\+/g, ' ');
    for (let i = 0; i < 3 && name.includes('%'); i++) {
      try {
        name = decodeURIComponent(name);
      } catch {
        name = name.replace(/%([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
      }
    }
    names.push(name.trim().toLowerCase());
  }
  return names;
}
