/**
 * Authorization codes and refresh tokens, as JWS signed by the token service's key, so that any
 * replica can redeem what another issued; single use is enforced in the shared state store. Each
 * has its own `typ` and its audience is the token endpoint, so neither is ever accepted as an access
 * token (the proxy takes at+jwt for its audience only), nor one for the other.
 *
 * A code and every token issued from it form a family named by the code's `jti`: access tokens list
 * it in `parents`, so revoking the family (a code or refresh token presented twice, which means it
 * leaked) refuses all of them at once, on every replica.
 */
import { randomUUID } from 'node:crypto';
import { errors, jwtVerify, type JWTPayload } from 'jose';
import type { TokenServiceConfig } from '../config/compile-identity.js';
import { OAuthError } from './oauth-errors.js';
import type { SigningKeys } from './signing-keys.js';

export const CODE_TYP = 'portcullis-code+jwt';
export const REFRESH_TYP = 'portcullis-refresh+jwt';

/** What a person granted a client on the consent page; carried by its code and refresh tokens. */
export interface PersonGrant {
  readonly client_id: string;
  readonly agent: string;
  readonly sub: string;
  readonly roles: readonly string[];
  readonly scope: string;
  /** The family: the code's jti, listed in every access token's `parents`. */
  readonly fam: string;
  /** When the family ends: a person signs in again after token_service.authorization_code.refresh_ttl. */
  readonly fam_exp: number;
}

export interface CodeClaims extends PersonGrant {
  readonly redirect_uri: string;
  readonly code_challenge: string;
}

export function createGrantTokens(ts: TokenServiceConfig, keys: SigningKeys) {
  const sign = (typ: string, claims: object, ttlSec: number): string => {
    const now = Math.floor(Date.now() / 1000);
    return keys.sign({ ...claims, iss: ts.issuer, aud: ts.tokenEndpoint, iat: now, exp: now + ttlSec, jti: randomUUID() }, typ);
  };

  async function verify<T>(token: string, typ: string, what: string): Promise<T & { jti: string; exp: number; iat: number }> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keys.keySet, { issuer: ts.issuer, audience: ts.tokenEndpoint, typ, requiredClaims: ['jti', 'exp', 'sub'] }));
    } catch (err) {
      if (err instanceof errors.JWTExpired) throw new OAuthError('grant_expired', `The ${what} has expired.`);
      throw new OAuthError('grant_invalid', `The ${what} is not one this service issued.`);
    }
    return payload as unknown as T & { jti: string; exp: number; iat: number };
  }

  return {
    code: (claims: CodeClaims, ttlSec: number) => sign(CODE_TYP, claims, ttlSec),
    refresh: (grant: PersonGrant) => sign(REFRESH_TYP, grant, Math.max(1, grant.fam_exp - Math.floor(Date.now() / 1000))),
    verifyCode: (token: string) => verify<CodeClaims>(token, CODE_TYP, 'authorization code'),
    verifyRefresh: (token: string) => verify<PersonGrant>(token, REFRESH_TYP, 'refresh token'),
  };
}

export type GrantTokens = ReturnType<typeof createGrantTokens>;
