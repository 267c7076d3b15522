/**
 * Server-side sessions for people signed in through admin.sso, kept in the state store (memory, or
 * Redis shared by every replica, so a person may land on any of them). The cookie carries only a
 * random id (256 bits); what the person may do lives in the store, ends at `session_ttl` or
 * sign-out, and is never extended by use. Each session has its own CSRF token, required on every
 * state-changing request. A store that cannot be reached refuses (503), never lets in.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { AdminRole } from '../config/compile.js';
import { stored, type StateStore } from '../state/store.js';

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
  create(s: Omit<Session, 'id' | 'csrf' | 'expiresAt'>): Promise<Session>;
  get(id: string | undefined): Promise<Session | undefined>;
  end(id: string): Promise<void>;
}

const key = (id: string) => `console-session:${id}`;

export function createSessions(ttlMs: number, state: StateStore): Sessions {
  return {
    async create(s) {
      const session: Session = { ...s, id: randomBytes(32).toString('base64url'), csrf: randomBytes(32).toString('base64url'), expiresAt: Date.now() + ttlMs };
      const record = JSON.stringify({ ...session, roles: [...session.roles] });
      await stored(state.bindOwner(key(session.id), record, ttlMs), 'The session could not be stored');
      return session;
    },
    async get(id) {
      if (id === undefined || !/^[A-Za-z0-9_-]{43}$/.test(id)) return undefined;
      // The record's expiresAt decides (absolute, never extended); the store's own lifetime, renewed
      // by the read, only bounds how long a forgotten record is kept.
      const record = await stored(state.ownerOf(key(id), ttlMs), 'The session could not be read');
      if (record === null) return undefined;
      const s = JSON.parse(record) as Omit<Session, 'roles'> & { roles: AdminRole[] };
      return s.expiresAt > Date.now() ? { ...s, roles: new Set(s.roles) } : undefined;
    },
    async end(id) {
      await stored(state.unbindOwner(key(id)), 'The session could not be ended');
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
