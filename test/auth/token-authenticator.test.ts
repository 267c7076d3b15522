import { describe, expect, it } from 'vitest';
import type { JWTPayload } from 'jose';
import { createTokenAuthenticator } from '../../src/auth/token-authenticator.js';
import { GatewayError } from '../../src/errors.js';

function fakeVerifier(claims: JWTPayload) {
  let calls = 0;
  const verify = async () => {
    calls++;
    if ((claims.exp as number) * 1000 <= clock.now) throw new GatewayError('token_expired');
    return claims;
  };
  return { verify, calls: () => calls };
}
const clock = { now: 1_000_000_000_000 };

describe('the verified-token cache', () => {
  const claims = { sub: 'support-bot', jti: 'j1', iss: 'i', iat: 1_000_000_000, exp: 1_000_000_060, scope: 'crm:read' };

  it('verifies a token once for many calls', async () => {
    const v = fakeVerifier(claims);
    const auth = createTokenAuthenticator(v.verify, { cache: { enabled: true, maxEntries: 10 }, now: () => clock.now });
    for (let i = 0; i < 5; i++) expect((await auth.authenticate('tok')).agentId).toBe('support-bot');
    expect(v.calls()).toBe(1);
  });

  it('re-verifies (and refuses) once the token reaches exp', async () => {
    const v = fakeVerifier(claims);
    const auth = createTokenAuthenticator(v.verify, { cache: { enabled: true, maxEntries: 10 }, now: () => clock.now });
    await auth.authenticate('tok');
    const saved = clock.now;
    clock.now = 1_000_000_060_000;
    try {
      await expect(auth.authenticate('tok')).rejects.toMatchObject({ reason: 'token_expired' });
      expect(v.calls()).toBe(2);
    } finally {
      clock.now = saved;
    }
  });

  it('is bounded by max_entries', async () => {
    const v = fakeVerifier(claims);
    const auth = createTokenAuthenticator(v.verify, { cache: { enabled: true, maxEntries: 2 }, now: () => clock.now });
    for (const t of ['a', 'b', 'c', 'd']) await auth.authenticate(t);
    expect(auth.cacheSize()).toBe(2);
  });

  it('verifies every call when disabled', async () => {
    const v = fakeVerifier(claims);
    const auth = createTokenAuthenticator(v.verify, { cache: { enabled: false, maxEntries: 2 }, now: () => clock.now });
    for (let i = 0; i < 3; i++) await auth.authenticate('tok');
    expect(v.calls()).toBe(3);
  });

  it('does not cache failures', async () => {
    let calls = 0;
    const auth = createTokenAuthenticator(
      async () => {
        calls++;
        throw new GatewayError('token_signature_invalid');
      },
      { cache: { enabled: true, maxEntries: 2 } },
    );
    await expect(auth.authenticate('bad')).rejects.toBeInstanceOf(GatewayError);
    await expect(auth.authenticate('bad')).rejects.toBeInstanceOf(GatewayError);
    expect(calls).toBe(2);
  });
});
