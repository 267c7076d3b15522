/**
 * The token request's body (RFC 6749 §3.2): `application/x-www-form-urlencoded`, bounded in size,
 * each parameter at most once (a repeated one is refused, not "first wins": two layers reading
 * different copies is how parameter pollution works).
 */
import type { IncomingMessage } from 'node:http';
import { OAuthError } from './oauth-errors.js';

export type TokenForm = ReadonlyMap<string, string>;

export async function readTokenForm(req: IncomingMessage, maxBytes: number): Promise<TokenForm> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') {
    req.resume();
    throw new OAuthError('form_malformed', 'The token request must be application/x-www-form-urlencoded (RFC 6749 §3.2).');
  }
  const declared = Number(req.headers['content-length']);
  if (declared > maxBytes) {
    req.resume();
    throw new OAuthError('form_too_large', `The token request body is larger than ${maxBytes} bytes.`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) {
      req.resume();
      throw new OAuthError('form_too_large', `The token request body is larger than ${maxBytes} bytes.`);
    }
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.includes('\uFFFD')) throw new OAuthError('form_malformed', 'The token request body is not UTF-8.');
  const form = new Map<string, string>();
  const seen = new Set<string>();
  for (const part of text.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = decode(eq < 0 ? part : part.slice(0, eq));
    const value = decode(eq < 0 ? '' : part.slice(eq + 1));
    if (seen.has(name)) throw new OAuthError('parameter_repeated', `The parameter ${JSON.stringify(name.slice(0, 64))} is sent more than once.`);
    seen.add(name);
    // RFC 6749 §3.1: a parameter sent without a value is treated as omitted.
    if (value !== '') form.set(name, value);
  }
  return form;
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    throw new OAuthError('form_malformed', 'The token request body has an invalid percent-encoding.');
  }
}

/** A required parameter, or invalid_request naming it. */
export function required(form: TokenForm, name: string): string {
  const v = form.get(name);
  if (v === undefined) throw new OAuthError('parameter_missing', `The parameter "${name}" is required.`);
  return v;
}
