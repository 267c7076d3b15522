/**
 * A gateway with a people IdP for admin tokens (role_map with provisioner, approver, operator and
 * admin groups) and a SCIM client speaking as a provisioner, for the registry's tests.
 */
import { createTestIssuer, type TestIssuer } from './issuer.js';
import { startGateway, testConfig, type RunningGateway } from './gateway.js';
import { send, type RawResponse } from './http.js';
import type { GatewayDeps } from '../../src/gateway.js';

export const ROLE_MAP = { 'scim-connector': 'provisioner', approvers: 'approver', 'sec-ops': 'operator', platform: 'admin' };

export interface ScimFixture {
  readonly agents: TestIssuer;
  readonly idp: TestIssuer;
  readonly gw: RunningGateway;
  /** A SCIM request as the provisioner (or with `token`). */
  scim(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<RawResponse>;
  /** An admin JWT for `sub` with these IdP groups. */
  adminToken(sub: string, groups: string[]): Promise<string>;
}

export async function startScimGateway(tools: Record<string, unknown>, extra: Record<string, unknown> = {}, deps: GatewayDeps & { policy?: boolean } = {}): Promise<ScimFixture> {
  const agents = await createTestIssuer();
  const idp = await createTestIssuer('https://sso.example.com', 'portcullis-admin');
  const gw = await startGateway(
    testConfig(agents, tools, {
      admin: { auth: { issuers: [{ issuer: idp.issuer, jwks_file: idp.jwksFile, audiences: ['portcullis-admin'] }], roles_claim: 'groups', role_map: ROLE_MAP } },
      ...extra,
    }),
    deps,
  );
  const adminToken = (sub: string, groups: string[]) => idp.sign({ sub, groups });
  const provisioner = await adminToken('okta-scim-connector', ['scim-connector']);
  return {
    agents,
    idp,
    gw,
    adminToken,
    scim: (method, path, body, headers = {}) =>
      send(gw.adminUrl, {
        method,
        path: `/scim/v2${path}`,
        headers: { authorization: `Bearer ${provisioner}`, ...(body === undefined ? {} : { 'content-type': 'application/scim+json' }), ...headers },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      }),
  };
}

export const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
export const AGENT = 'urn:portcullis:params:scim:schemas:core:1.0:Agent';
export const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
export const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';

export const patchOp = (...Operations: Record<string, unknown>[]) => ({ schemas: [PATCH], Operations });
