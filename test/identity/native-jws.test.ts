import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { exportJWK, generateKeyPair, importJWK, jwtVerify, SignJWT, type JWK } from 'jose';
import { decodeJws, publicKeyFor, signJws, verifyJws } from '../../src/identity/native-jws.js';

// The node:crypto adapter is pinned to jose, both ways, for every algorithm it accepts.
const ALGS = ['EdDSA', 'Ed25519', 'ES256', 'ES384', 'RS256', 'PS256', 'RS512', 'PS512'] as const;

describe('native JWS against jose', () => {
  it.each(ALGS)('%s: what jose signs verifies here, and a changed byte does not', async (alg) => {
    const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
    const jwt = await new SignJWT({ sub: 'x', n: 1 }).setProtectedHeader({ alg, typ: 'dpop+jwt' }).sign(privateKey);
    const jwk = (await exportJWK(publicKey)) as JWK;
    const key = publicKeyFor(jwk, alg);
    const d = decodeJws(jwt);
    expect(d.header).toMatchObject({ alg, typ: 'dpop+jwt' });
    expect(d.payload).toEqual({ sub: 'x', n: 1 });
    expect(verifyJws(d, alg, key)).toBe(true);
    const [h, p, s] = jwt.split('.') as [string, string, string];
    const forged = `${h}.${Buffer.from(JSON.stringify({ sub: 'y', n: 1 })).toString('base64url')}.${s}`;
    expect(verifyJws(decodeJws(forged), alg, key)).toBe(false);
    await expect(jwtVerify(forged, publicKey)).rejects.toThrow();
    void p;
  });

  it.each(['EdDSA', 'ES256'] as const)('%s: what this signs jose verifies', async (alg) => {
    const pair = alg === 'EdDSA' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwt = signJws({ alg, typ: 'at+jwt', kid: 'k' }, { sub: 'agent', scope: 'crm:read' }, pair.privateKey);
    const pub = await importJWK(pair.publicKey.export({ format: 'jwk' }) as JWK, alg);
    const { payload, protectedHeader } = await jwtVerify(jwt, pub);
    expect(payload).toEqual({ sub: 'agent', scope: 'crm:read' });
    expect(protectedHeader).toEqual({ alg, typ: 'at+jwt', kid: 'k' });
  });

  it('refuses a key that does not suit the algorithm, and a short RSA key', async () => {
    const ed = (await exportJWK((await generateKeyPair('EdDSA', { extractable: true })).publicKey)) as JWK;
    expect(() => publicKeyFor(ed, 'ES256')).toThrow(/cannot verify ES256/);
    expect(() => publicKeyFor(ed, 'HS256')).toThrow(/not supported/);
    const short = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' }) as JWK;
    expect(() => publicKeyFor(short, 'RS256')).toThrow(/2048/);
  });

  it('refuses what is not a compact JWS of JSON objects', () => {
    for (const bad of ['a.b', 'a.b.c.d', '.e30.', 'e30.W10.', 'e30.e30', '!!.e30.']) expect(() => decodeJws(bad)).toThrow();
  });
});
