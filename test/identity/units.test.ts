import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { calculateJwkThumbprint, decodeProtectedHeader, jwtVerify, type JWK } from 'jose';
import { covers, grantScopes } from '../../src/identity/scopes.js';
import { createSecretVerifier, hashSecret, parseSecretHash } from '../../src/identity/client-secrets.js';
import { jwkThumbprint, loadSigningKeys } from '../../src/identity/signing-keys.js';
import { sameUrl } from '../../src/identity/dpop.js';
import { ConfigError } from '../../src/config/load.js';

describe('scopes', () => {
  it.each([
    [['crm:read'], 'crm:read', true],
    [['crm:*'], 'crm:read', true],
    [['crm:*'], 'crm:*', true],
    [['crm:read'], 'crm:*', false],
    [['crm:read'], 'crm:write', false],
    [['crm:*'], 'crmx:read', false],
  ] as const)('%j covers %s: %s', (have, want, expected) => {
    expect(covers(new Set(have), want)).toBe(expected);
  });

  it('grants what every limit covers when nothing is requested', () => {
    const limits = [
      { scopes: new Set(['crm:*', 'tickets:read']), reason: 'scope_beyond_ceiling' as const, what: 'ceiling' },
      { scopes: new Set(['crm:read', 'tickets:*', 'email:read']), reason: 'scope_widened' as const, what: 'subject' },
    ];
    expect(grantScopes(undefined, limits)).toEqual(['crm:read', 'tickets:read']);
  });

  it('names the first limit a requested scope falls outside', () => {
    const limits = [
      { scopes: new Set(['crm:*']), reason: 'scope_beyond_ceiling' as const, what: 'ceiling' },
      { scopes: new Set(['crm:read']), reason: 'scope_widened' as const, what: 'subject' },
    ];
    expect(() => grantScopes(['crm:write'], limits)).toThrow(expect.objectContaining({ reason: 'scope_widened' }));
    expect(() => grantScopes(['tickets:read'], limits)).toThrow(expect.objectContaining({ reason: 'scope_beyond_ceiling' }));
  });
});

describe('client secrets', () => {
  it('verifies either hash of a rotation and refuses anything else', async () => {
    const [a, b] = [await hashSecret('first', { ln: 10, r: 8, p: 1 }), await hashSecret('second', { ln: 10, r: 8, p: 1 })];
    expect(a).toMatch(/^\$scrypt\$ln=10,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    const v = createSecretVerifier({ cacheTtlMs: 0 });
    expect(await v.verify('bot', 'first', [a, b])).toBe(true);
    expect(await v.verify('bot', 'second', [a, b])).toBe(true);
    expect(await v.verify('bot', 'third', [a, b])).toBe(false);
    expect(await v.verify('bot', 'first', [b])).toBe(false);
  });

  it('remembers a verified secret, keyed by client and hash, so the next check skips scrypt', async () => {
    const h = await hashSecret('s3cret', { ln: 14, r: 8, p: 1 });
    const v = createSecretVerifier({ cacheTtlMs: 60_000 });
    let t = performance.now();
    expect(await v.verify('bot', 's3cret', [h])).toBe(true);
    const slow = performance.now() - t;
    t = performance.now();
    expect(await v.verify('bot', 's3cret', [h])).toBe(true);
    expect(performance.now() - t).toBeLessThan(slow);
    expect(await v.verify('other-bot', 's3cret', [])).toBe(false);
  });

  it('refuses hashes whose cost would stall the gateway, or that are too weak', () => {
    const salt = Buffer.alloc(16, 1).toString('base64').replace(/=+$/, '');
    const hash = Buffer.alloc(32, 2).toString('base64').replace(/=+$/, '');
    expect(parseSecretHash(`$scrypt$ln=15,r=8,p=1$${salt}$${hash}`)).toBeDefined();
    expect(parseSecretHash(`$scrypt$ln=30,r=8,p=1$${salt}$${hash}`)).toBeUndefined();
    expect(parseSecretHash(`$scrypt$ln=4,r=8,p=1$${salt}$${hash}`)).toBeUndefined();
    expect(parseSecretHash(`$scrypt$ln=15,r=8,p=1$AAAA$${hash}`)).toBeUndefined();
    expect(parseSecretHash('$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA')).toBeUndefined();
  });
});

describe('signing keys', () => {
  it("takes the same RFC 7638 thumbprint as jose's calculateJwkThumbprint", async () => {
    for (const pair of [generateKeyPairSync('ed25519'), generateKeyPairSync('ec', { namedCurve: 'P-256' }), generateKeyPairSync('rsa', { modulusLength: 2048 })]) {
      const jwk = pair.publicKey.export({ format: 'jwk' }) as JWK;
      expect(jwkThumbprint(jwk)).toBe(await calculateJwkThumbprint(jwk));
    }
  });

  it('signs with the first key and publishes all of them (rotation)', async () => {
    const files = ['ed25519', 'p256'].map((t) => {
      const { privateKey } = t === 'ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const f = join(mkdtempSync(join(tmpdir(), 'sk-')), 'k.pem');
      writeFileSync(f, privateKey.export({ format: 'pem', type: 'pkcs8' }));
      return f;
    });
    const keys = loadSigningKeys(files, { generate: false });
    expect(keys.jwks.keys.map((k) => k.alg)).toEqual(['EdDSA', 'ES256']);
    const jwt = await keys.sign({ sub: 'x' }, 'at+jwt');
    expect(decodeProtectedHeader(jwt)).toMatchObject({ alg: 'EdDSA', kid: keys.kid, typ: 'at+jwt' });
    await expect(jwtVerify(jwt, keys.keySet)).resolves.toBeDefined();
    const rotated = loadSigningKeys([files[1]!, files[0]!], { generate: false });
    expect(decodeProtectedHeader(await rotated.sign({}, 'at+jwt')).alg).toBe('ES256');
    // A token signed before the rotation still verifies against the rotated set.
    await expect(jwtVerify(jwt, rotated.keySet)).resolves.toBeDefined();
  });

  it('refuses an RSA or P-384 key, naming the file', () => {
    for (const pair of [generateKeyPairSync('rsa', { modulusLength: 2048 }), generateKeyPairSync('ec', { namedCurve: 'P-384' })]) {
      const f = join(mkdtempSync(join(tmpdir(), 'sk-')), 'k.pem');
      writeFileSync(f, pair.privateKey.export({ format: 'pem', type: 'pkcs8' }));
      expect(() => loadSigningKeys([f], { generate: false })).toThrow(ConfigError);
    }
    expect(() => loadSigningKeys(['/nonexistent/key.pem'], { generate: false })).toThrow(/token_service\.signing_keys\.0/);
  });

  it('generates the development key once, readable by its owner only', () => {
    const f = join(mkdtempSync(join(tmpdir(), 'sk-')), 'dev', 'token-service.pem');
    const first = loadSigningKeys([f], { generate: true });
    expect(existsSync(f)).toBe(true);
    expect(loadSigningKeys([f], { generate: true }).kid).toBe(first.kid);
  });
});

describe('DPoP htu comparison (RFC 9449 §4.3, RFC 3986 normalisation)', () => {
  it.each([
    ['http://GW.example:80/tools/a', 'http://gw.example/tools/a', true],
    ['http://gw.example/tools/a?x=1#f', 'http://gw.example/tools/a', true],
    ['https://gw.example/tools/a', 'http://gw.example/tools/a', false],
    ['http://gw.example:8080/tools/a', 'http://gw.example/tools/a', false],
    ['http://gw.example/tools/b', 'http://gw.example/tools/a', false],
    ['http://user@gw.example/tools/a', 'http://gw.example/tools/a', false],
    ['not a url', 'http://gw.example/tools/a', false],
  ])('%s vs %s: %s', (htu, expected, same) => {
    expect(sameUrl(htu, expected)).toBe(same);
  });
});
