/**
 * Capability token → Principal, with a bounded cache of verified tokens so that a token used for many
 * calls pays for signature verification once. A cache entry is never served at or after the token's
 * `exp` (no clock tolerance on the way out), and failures are never cached. Revocation is a separate
 * guard over the principal's `jti`, so the cache cannot outlive a revocation.
 */
import { LRUCache } from 'lru-cache';
import type { Principal } from './principal.js';
import { principalFromClaims } from './principal.js';
import type { JwtVerifier } from './jwt-verifier.js';

export interface TokenAuthenticator {
  authenticate(token: string): Promise<Principal>;
  readonly cacheSize: () => number;
}

export interface TokenCacheStats {
  onCache(result: 'hit' | 'miss'): void;
}

export function createTokenAuthenticator(
  verify: JwtVerifier,
  opts: { cache: { enabled: boolean; maxEntries: number }; stats?: TokenCacheStats; now?: () => number },
): TokenAuthenticator {
  const now = opts.now ?? Date.now;
  const cache = opts.cache.enabled ? new LRUCache<string, Principal>({ max: opts.cache.maxEntries }) : undefined;

  async function authenticate(token: string): Promise<Principal> {
    if (cache) {
      const hit = cache.get(token);
      if (hit !== undefined) {
        if (hit.exp * 1000 > now()) {
          opts.stats?.onCache('hit');
          return hit;
        }
        cache.delete(token);
      }
      opts.stats?.onCache('miss');
    }
    const principal = principalFromClaims(await verify(token));
    cache?.set(token, principal);
    return principal;
  }

  return { authenticate, cacheSize: () => cache?.size ?? 0 };
}
