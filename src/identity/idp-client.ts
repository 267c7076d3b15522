/**
 * The company IdP as an OpenID Connect relying party sees it (openid-client): discovered once, and
 * again after a failed discovery. Shared by the console's sign-in and the token service's
 * authorization endpoint, which both send people there.
 */
import * as oidc from 'openid-client';
import type { SsoConfig } from '../config/compile-sso.js';

export function createIdpClient(sso: SsoConfig): () => Promise<oidc.Configuration> {
  let discovered: Promise<oidc.Configuration> | undefined;
  return function client() {
    const loopback = new URL(sso.issuer).protocol === 'http:';
    discovered ??= oidc
      .discovery(new URL(sso.issuer), sso.clientId, undefined, sso.clientSecret ? oidc.ClientSecretBasic(sso.clientSecret) : oidc.None(), loopback ? { execute: [oidc.allowInsecureRequests] } : undefined)
      .catch((err: unknown) => {
        discovered = undefined;
        throw err;
      });
    return discovered;
  };
}
