/**
 * Resource URIs as operations name them (`mcp_resource`): a pattern where `*` matches any run of
 * characters, and the URIs the gateway refuses to match at all because a server could resolve them
 * somewhere the pattern does not cover.
 */

/** `*` matches any run of characters (slashes included); everything else matches itself, exactly. */
export function uriPattern(pattern: string): RegExp {
  return new RegExp(`^${pattern.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\/-]/g, '\\$&')).join('.*')}$`, 's');
}

/**
 * Why a URI cannot be matched against patterns safely, or undefined. A pattern is matched on the
 * URI as sent, but a server may resolve it: `memory://notes/../secrets` matches `memory://notes/*`
 * and could read what no operation allows. So URIs with dot segments (plain or percent-encoded),
 * (also double-encoded), backslashes, control characters or whitespace are refused whatever the
 * patterns say.
 */
export function unsafeUri(uri: string): string | undefined {
  if (uri.length > 2048) return 'longer than 2048 characters';
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:/.test(uri)) return 'not an absolute URI (scheme:…)';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0020\u007f-\u009f\\]/.test(uri)) return 'contains whitespace, a control character or a backslash';
  const decoded = uri.replace(/%25/gi, '%').replace(/%2e/gi, '.').replace(/%2f/gi, '/').replace(/%5c/gi, '\\');
  if (/(?:^|[/\\])\.{1,2}(?:[/\\?#]|$)/.test(decoded)) return 'contains a dot segment (. or ..)';
  if (decoded.includes('\\')) return 'contains an encoded backslash';
  return undefined;
}
