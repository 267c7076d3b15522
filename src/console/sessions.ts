/**
 * Server-side sessions for people signed in through admin.sso. The cookie carries only a random id
 * (256 bits); what the person may do lives here, ends at `session_ttl` or sign-out, and is never
 * renewed by use. Each session has its own CSRF token, required on every state-changing request.
 * Sessions are per replica (memory): behind several replicas, route a person to one (sticky), or use
 * bearer tokens.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { AdminRole } from '../config/compile.js';

export const SESSION_COOKIE = 'portcullis_session';

export interface Session {
  readonly id: string;
  readonly subject: string;
  readonly roles: ReadonlySet<AdminRole>;
  /** The ID token's claims that decisions read (amr, auth_time, email, name). */
  readonly claims: Readonly<Record<string, unknown>>;
  readonly csrf: string;
  readonly expiresAt: number;
}

export interface Sessions {
  create(s: Omit<Session, 'id' | 'csrf' | 'expiresAt'>): Session;
  get(id: string | undefined): Session | undefined;
  end(id: string): Session | undefined;
}

export function createSessions(ttlMs: number, max = 10_000): Sessions {
  const store = new LRUCache<string, Session>({ max, ttl: ttlMs, updateAgeOnGet: false });
  return {
    create(s) {
      const session = { ...s, id: randomBytes(32).toString('base64url'), csrf: randomBytes(32).toString('base64url'), expiresAt: Date.now() + ttlMs };
      store.set(session.id, session);
      return session;
    },
    get(id) {
      if (id === undefined || !/^[A-Za-z0-9_-]{43}$/.test(id)) return undefined;
      const s = store.get(id);
      return s && s.expiresAt > Date.now() ? s : undefined;
    },
    end(id) {
      const s = store.get(id);
      store.delete(id);
      return s;
    },
  };
}

/** One cookie's value from a Cookie header (RFC 6265 §5.4), or undefined. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
