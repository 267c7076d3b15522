/**
 * The registry's lifecycle rules, applied to a proposed change before it is written, inside the
 * same all-or-nothing write:
 * - once people are provisioned, an agent's owner must be an active person (`owner_inactive`) when
 *   it is named and when the agent is activated;
 * - a person deactivated or deleted leaves every active agent they own suspended
 *   (`suspendedFor: owner_deprovisioned`), and reassigning such an agent to an active owner, or
 *   reactivating the owner, resumes it; a suspension an operator made stays until an operator lifts it.
 */
import { ScimError } from './scim/errors.js';
import type { AgentAttributes } from './registry.js';
import type { DirectoryKind, DirectoryRecord } from './records.js';

export const OWNER_DEPROVISIONED = 'owner_deprovisioned';

/** A change as the writer proposes it: the record it replaces (if any) and the new attributes (null: delete). */
export interface ProposedChange {
  readonly kind: DirectoryKind;
  readonly id: string;
  readonly base: DirectoryRecord | undefined;
  readonly attributes: Readonly<Record<string, unknown>> | null;
  /** Set on a change the rules added: why (`owner_deprovisioned`, `owner_reinstated`, `user_deleted`). */
  readonly cause?: string;
}

interface Records {
  ofKind(kind: DirectoryKind): Iterable<DirectoryRecord>;
  count(kind: DirectoryKind): number;
  holder(unique: string): DirectoryRecord | undefined;
}

export const userKey = (userName: string) => `User:userName:${userName.toLowerCase()}`;
export const agentKey = (agentId: string) => `Agent:agentId:${agentId}`;

/** Whether any person is provisioned: from then on, owners and admin roles come from the directory. */
export function hasPeople(records: Pick<Records, 'count'>): boolean {
  return records.count('User') > 0;
}

/** The changes with the rules applied: owners checked, and the cascades of a person's (de)provisioning added. */
export function applyLifecycle(records: Records, changes: readonly ProposedChange[]): ProposedChange[] {
  const out = [...changes];
  const touched = new Set(changes.map((c) => `${c.kind}:${c.id}`));
  // People as they will be after this change.
  const people = new Map<string, boolean>();
  for (const r of records.ofKind('User')) people.set(String(r.attributes.userName).toLowerCase(), r.attributes.active !== false);
  for (const c of changes) {
    if (c.kind !== 'User') continue;
    if (c.base) people.delete(String(c.base.attributes.userName).toLowerCase());
    if (c.attributes) people.set(String(c.attributes.userName).toLowerCase(), c.attributes.active !== false);
  }
  const activeOwner = (owner: string) => people.get(owner.toLowerCase()) === true;

  for (const [i, c] of out.entries()) {
    if (c.kind !== 'Agent' || !c.attributes) continue;
    const a = c.attributes as unknown as AgentAttributes;
    if (people.size > 0 && !activeOwner(a.owner)) {
      // Checked when the owner is named and when the agent is (re)activated: an agent whose owner left
      // stays suspended until it is reassigned, whoever asks to resume it.
      const ownerChanged = !c.base || String(c.base.attributes.owner) !== a.owner;
      const activated = a.status === 'active' && c.base?.attributes.status !== 'active';
      if (ownerChanged || activated) throw new ScimError('owner_inactive', `The owner ${JSON.stringify(a.owner)} is not an active person in the directory; an agent needs an active owner.`);
    }
    if (a.status === 'suspended' && a.suspendedFor === OWNER_DEPROVISIONED && activeOwner(a.owner)) out[i] = { ...c, attributes: resumed(a), cause: 'owner_reinstated' };
  }

  // Only a change of a person cascades to their agents (the scan is over every agent).
  if (!changes.some((c) => c.kind === 'User')) return out;
  // A person deleted leaves the groups they were in.
  const deleted = new Set(changes.filter((c) => c.kind === 'User' && c.attributes === null).map((c) => c.id));
  if (deleted.size > 0) {
    for (const g of records.ofKind('Group')) {
      if (touched.has(`Group:${g.id}`)) continue;
      const members = (g.attributes.members as { value: string }[] | undefined) ?? [];
      const kept = members.filter((m) => !deleted.has(m.value));
      if (kept.length !== members.length) out.push({ kind: 'Group', id: g.id, base: g, attributes: { ...g.attributes, members: kept }, cause: 'user_deleted' });
    }
  }
  for (const r of records.ofKind('Agent')) {
    if (touched.has(`Agent:${r.id}`)) continue;
    const a = r.attributes as unknown as AgentAttributes;
    if (a.status === 'active' && !activeOwner(a.owner) && ownerAffected(changes, a.owner)) {
      out.push({ kind: 'Agent', id: r.id, base: r, attributes: { ...a, status: 'suspended', suspendedFor: OWNER_DEPROVISIONED }, cause: OWNER_DEPROVISIONED });
    } else if (a.status === 'suspended' && a.suspendedFor === OWNER_DEPROVISIONED && activeOwner(a.owner) && ownerAffected(changes, a.owner)) {
      out.push({ kind: 'Agent', id: r.id, base: r, attributes: resumed(a), cause: 'owner_reinstated' });
    }
  }
  return out;
}

function resumed(a: AgentAttributes): Record<string, unknown> {
  const { suspendedFor: _, ...rest } = a;
  return { ...rest, status: 'active' };
}

/** Whether this write changes the person `owner` (only their own change cascades to their agents). */
function ownerAffected(changes: readonly ProposedChange[], owner: string): boolean {
  const o = owner.toLowerCase();
  return changes.some((c) => c.kind === 'User' && [c.base?.attributes.userName, c.attributes?.userName].some((u) => typeof u === 'string' && u.toLowerCase() === o));
}
