/**
 * Who may approve and operate, from the directory (SPEC Part 2 "Provisioning"): once any person is
 * provisioned, a person's admin roles are those mapped (admin.auth.role_map) from the SCIM groups
 * they are in now, whatever groups their token or session claims; a deactivated person has none.
 * A subject that is not a person (an IdP's SCIM connector) keeps only a `provisioner` role its
 * token's groups grant directly: enough to provision, never to approve or operate.
 */
import type { AdminRole } from '../config/compile.js';
import type { StateStore } from '../state/store.js';
import { hasPeople, userKey } from './lifecycle.js';

/** `groups`: a bearer token's groups claim; undefined for a console session (always a person). */
export type PeopleDirectory = (subject: string, groups?: unknown) => ReadonlySet<AdminRole> | undefined;

const NONE: ReadonlySet<AdminRole> = new Set();
const PROVISIONER: ReadonlySet<AdminRole> = new Set(['provisioner']);
export const ALL_ROLES: ReadonlySet<AdminRole> = new Set(['operator', 'approver', 'auditor', 'admin', 'provisioner']);

/** IdP groups (a list, or a space-separated string) → gateway roles through role_map, without admin's expansion. */
export function mappedRoles(groups: unknown, roleMap: ReadonlyMap<string, AdminRole>): Set<AdminRole> {
  const roles = new Set<AdminRole>();
  for (const g of typeof groups === 'string' ? groups.split(' ') : Array.isArray(groups) ? groups : []) {
    const role = typeof g === 'string' ? roleMap.get(g) : undefined;
    if (role) roles.add(role);
  }
  return roles;
}

/** The roles a person's directory groups give them now; undefined while no person is provisioned. */
export function createPeopleDirectory(roleMap: ReadonlyMap<string, AdminRole>, state: StateStore): PeopleDirectory {
  return function rolesOf(subject, groups) {
    const dir = state.directory();
    if (!hasPeople(dir)) return undefined;
    const person = dir.holder(userKey(subject));
    if (!person || person.kind !== 'User') return groups !== undefined && mappedRoles(groups, roleMap).has('provisioner') ? PROVISIONER : NONE;
    if (person.attributes.active === false) return NONE;
    const roles = new Set<AdminRole>();
    for (const g of dir.ofKind('Group')) {
      if (!((g.attributes.members as { value: string }[] | undefined) ?? []).some((m) => m.value === person.id)) continue;
      const role = roleMap.get(String(g.attributes.displayName));
      if (role) roles.add(role);
    }
    return roles.has('admin') ? ALL_ROLES : roles;
  };
}
