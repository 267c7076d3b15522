/**
 * Client secrets are stored only as scrypt hashes in PHC string format
 * (`$scrypt$ln=15,r=8,p=1$<salt>$<hash>`, base64 without padding): a leaked gateway.yaml gives no
 * secret away. Checking one costs ~50-100 ms of CPU and 32 MiB by design, so a correct secret is
 * remembered for a while by a SHA-256 of (client, secret, hash): the next request pays a hash, not
 * scrypt. A wrong secret always pays scrypt; the token endpoint's rate limits bound that.
 */
import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { LRUCache } from 'lru-cache';

const DEFAULT = { ln: 15, r: 8, p: 1 };
const KEY_BYTES = 32;
const PHC = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;

export interface ScryptHash {
  readonly ln: number;
  readonly r: number;
  readonly p: number;
  readonly salt: Buffer;
  readonly hash: Buffer;
}

/** Parses a PHC scrypt string, bounding its cost so a hash in config cannot stall the gateway. */
export function parseSecretHash(phc: string): ScryptHash | undefined {
  const m = PHC.exec(phc);
  if (!m) return undefined;
  const [ln, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (ln < 10 || ln > 20 || r < 1 || r > 32 || p < 1 || p > 16) return undefined;
  const salt = Buffer.from(m[4]!, 'base64');
  const hash = Buffer.from(m[5]!, 'base64');
  if (salt.length < 16 || hash.length < 16) return undefined;
  return { ln, r, p, salt, hash };
}

function derive(secret: string, h: Pick<ScryptHash, 'ln' | 'r' | 'p' | 'salt'>, length: number): Promise<Buffer> {
  const N = 2 ** h.ln;
  return new Promise((resolve, reject) =>
    scrypt(secret, h.salt, length, { N, r: h.r, p: h.p, maxmem: 256 * N * h.r + 1_048_576 }, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

/** A new PHC hash of `secret` (used by `portcullis agents secret`). */
export async function hashSecret(secret: string, cost = DEFAULT): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(secret, { ...cost, salt }, KEY_BYTES);
  const b64 = (b: Buffer) => b.toString('base64').replace(/=+$/, '');
  return `$scrypt$ln=${cost.ln},r=${cost.r},p=${cost.p}$${b64(salt)}$${b64(key)}`;
}

/** A new client secret: 32 random bytes, base64url (high entropy, so no dictionary to try). */
export function newClientSecret(): string {
  return randomBytes(32).toString('base64url');
}

export interface SecretVerifier {
  /** Whether `secret` matches one of `hashes` (two during a rotation). */
  verify(client: string, secret: string, hashes: readonly string[]): Promise<boolean>;
}

export function createSecretVerifier(opts: { cacheTtlMs: number; maxEntries?: number }): SecretVerifier {
  const verified = opts.cacheTtlMs > 0 ? new LRUCache<string, true>({ max: opts.maxEntries ?? 1024, ttl: opts.cacheTtlMs }) : undefined;
  return {
    async verify(client, secret, hashes) {
      for (const phc of hashes) {
        const key = createHash('sha256').update(client).update('\0').update(secret).update('\0').update(phc).digest('base64url');
        if (verified?.get(key)) return true;
        const h = parseSecretHash(phc);
        if (!h) continue;
        const candidate = await derive(secret, h, h.hash.length);
        if (timingSafeEqual(candidate, h.hash)) {
          verified?.set(key, true);
          return true;
        }
      }
      return false;
    },
  };
}
