/**
 * Security state shared by every replica: kills and revocations (approvals join with the approval
 * flow). The request path reads an in-memory snapshot — never a store round trip — and a store
 * that cannot vouch for its snapshot reports itself unhealthy, so the gateway fails closed.
 */

import { GatewayError } from '../errors.js';
import { pinKey, type ToolPin } from '../mcp/pins.js';

export type KillTarget = { readonly agent: string } | { readonly user: string } | { readonly tool: string } | { readonly all: true };

export interface Kill {
  readonly id: string;
  readonly target: KillTarget;
  readonly reason: string;
  readonly by: string;
  readonly at: string;
}

export interface Revocation {
  /** A token id, or every token of an agent issued at or before `before` (epoch seconds). */
  readonly kind: 'jti' | 'agent';
  readonly jti?: string;
  readonly agent?: string;
  readonly before?: number;
  /** Epoch ms after which the entry can go: no token it covers can still be valid. */
  readonly until: number;
  readonly by: string;
  readonly reason: string;
}

/** What an approval is bound to: the call, exactly (SPEC "Approvals"). */
export interface Fingerprint {
  readonly agent: string;
  readonly user: string | null;
  readonly tool: string;
  readonly operation: string;
  readonly method: string;
  readonly path: string;
  readonly query: string;
  readonly body_sha256: string | null;
}

export type ApprovalStatus = 'pending' | 'approved' | 'denied' | 'expired' | 'used';

export interface Approval {
  readonly id: string;
  readonly status: ApprovalStatus;
  readonly fingerprint: Fingerprint;
  readonly reasons: readonly string[];
  readonly request_id: string;
  readonly owner: string | null;
  readonly created_at: string;
  /** Epoch ms. */
  readonly expires_at: number;
  readonly decided_by?: string;
  readonly decided_at?: string;
  readonly comment?: string;
}

export type StateChange =
  | { readonly type: 'kill'; readonly kill: Kill }
  | { readonly type: 'revive'; readonly kill: Kill }
  | { readonly type: 'revoke'; readonly revocation: Revocation }
  | { readonly type: 'approval'; readonly approval: Approval }
  | { readonly type: 'pin'; readonly pin: ToolPin };

/** The result of an atomic approval transition: the record after it, or why it did not happen. */
export type Transition = { readonly ok: true; readonly approval: Approval } | { readonly ok: false; readonly approval?: Approval; readonly why: 'unknown' | 'not_pending' | 'not_approved' | 'expired' | 'mismatch' };

export interface StateStore {
  /** Loads the state (and, for shared stores, subscribes to changes). */
  start(): Promise<void>;
  close(): Promise<void>;
  /** False while the snapshot cannot be trusted (a shared store out of touch past max_staleness). */
  healthy(): boolean;

  addKill(kill: Kill): Promise<void>;
  removeKill(id: string): Promise<Kill | undefined>;
  kills(): readonly Kill[];
  addRevocation(revocation: Revocation): Promise<void>;

  /** The kill that stops this call, if any (snapshot read). */
  killFor(call: { agent: string; user: string | null; tool: string | undefined }): Kill | undefined;
  /** Whether this token is revoked (snapshot read). */
  isRevoked(token: { jti: string; agent: string; iat: number }): boolean;

  createApproval(approval: Approval): Promise<void>;
  getApproval(id: string): Promise<Approval | undefined>;
  listApprovals(): Promise<readonly Approval[]>;
  /** pending → approved | denied, atomically (two approvers racing get one outcome). */
  decideApproval(id: string, decision: 'approved' | 'denied', by: string, comment: string): Promise<Transition>;
  /** approved → used, atomically, if the call's fingerprint is the approved one and it has not expired. */
  consumeApproval(id: string, fingerprint: Fingerprint): Promise<Transition>;

  /** The pinned definition of an MCP tool (snapshot read). */
  toolPin(tool: string, name: string): ToolPin | undefined;
  toolPins(): readonly ToolPin[];
  /** Records a pin: first seen, a changed definition, or an admin's approval. */
  setToolPin(pin: ToolPin): Promise<void>;

  /** Called for every change, local or from another replica. */
  onChange(listener: (change: StateChange) => void): () => void;
}

/** The in-memory snapshot both stores keep; lookups are map reads. */
export class StateSnapshot {
  readonly kills = new Map<string, Kill>();
  private readonly killedAgents = new Map<string, Kill>();
  private readonly killedUsers = new Map<string, Kill>();
  private readonly killedTools = new Map<string, Kill>();
  private killedAll: Kill | undefined;
  private readonly revokedJtis = new Map<string, number>();
  private readonly agentsRevokedBefore = new Map<string, { before: number; until: number }>();
  readonly pins = new Map<string, ToolPin>();

  applyPin(p: ToolPin): void {
    this.pins.set(pinKey(p.tool, p.name), p);
  }

  applyKill(k: Kill): void {
    this.kills.set(k.id, k);
    this.index();
  }

  removeKill(id: string): Kill | undefined {
    const k = this.kills.get(id);
    this.kills.delete(id);
    this.index();
    return k;
  }

  applyRevocation(r: Revocation): void {
    if (r.kind === 'jti' && r.jti) this.revokedJtis.set(r.jti, Math.max(r.until, this.revokedJtis.get(r.jti) ?? 0));
    if (r.kind === 'agent' && r.agent && r.before !== undefined) {
      const prev = this.agentsRevokedBefore.get(r.agent);
      this.agentsRevokedBefore.set(r.agent, { before: Math.max(r.before, prev?.before ?? 0), until: Math.max(r.until, prev?.until ?? 0) });
    }
  }

  killFor(call: { agent: string; user: string | null; tool: string | undefined }): Kill | undefined {
    return this.killedAll ?? this.killedAgents.get(call.agent) ?? (call.user !== null ? this.killedUsers.get(call.user) : undefined) ?? (call.tool !== undefined ? this.killedTools.get(call.tool) : undefined);
  }

  isRevoked(t: { jti: string; agent: string; iat: number }): boolean {
    if (this.revokedJtis.has(t.jti)) return true;
    const a = this.agentsRevokedBefore.get(t.agent);
    return a !== undefined && t.iat <= a.before;
  }

  /** Drops revocations no token can outlive any more. */
  prune(now = Date.now()): void {
    for (const [jti, until] of this.revokedJtis) if (until < now) this.revokedJtis.delete(jti);
    for (const [agent, r] of this.agentsRevokedBefore) if (r.until < now) this.agentsRevokedBefore.delete(agent);
  }

  revocations(): Revocation[] {
    return [
      ...[...this.revokedJtis].map(([jti, until]) => ({ kind: 'jti' as const, jti, until, by: '', reason: '' })),
      ...[...this.agentsRevokedBefore].map(([agent, r]) => ({ kind: 'agent' as const, agent, before: r.before, until: r.until, by: '', reason: '' })),
    ];
  }

  clear(): void {
    this.kills.clear();
    this.revokedJtis.clear();
    this.agentsRevokedBefore.clear();
    this.pins.clear();
    this.index();
  }

  private index(): void {
    this.killedAgents.clear();
    this.killedUsers.clear();
    this.killedTools.clear();
    this.killedAll = undefined;
    for (const k of this.kills.values()) {
      const t = k.target;
      if ('all' in t) this.killedAll = k;
      else if ('agent' in t) this.killedAgents.set(t.agent, k);
      else if ('user' in t) this.killedUsers.set(t.user, k);
      else this.killedTools.set(t.tool, k);
    }
  }
}

/** The pure transition rules both stores apply (the Redis store inside a Lua script's equivalent). */
export function decideTransition(a: Approval | undefined, decision: 'approved' | 'denied', by: string, comment: string, now: number): Transition {
  if (!a) return { ok: false, why: 'unknown' };
  if (a.status !== 'pending') return { ok: false, approval: a, why: 'not_pending' };
  if (a.expires_at <= now) return { ok: false, approval: { ...a, status: 'expired' }, why: 'expired' };
  return { ok: true, approval: { ...a, status: decision, decided_by: by, decided_at: new Date(now).toISOString(), comment } };
}

export function consumeTransition(a: Approval | undefined, fp: Fingerprint, now: number): Transition {
  if (!a) return { ok: false, why: 'unknown' };
  if (a.status !== 'approved') return { ok: false, approval: a, why: 'not_approved' };
  if (a.expires_at <= now) return { ok: false, approval: { ...a, status: 'expired' }, why: 'expired' };
  if (!sameFingerprint(a.fingerprint, fp)) return { ok: false, approval: a, why: 'mismatch' };
  return { ok: true, approval: { ...a, status: 'used' } };
}

export function sameFingerprint(a: Fingerprint, b: Fingerprint): boolean {
  return a.agent === b.agent && a.user === b.user && a.tool === b.tool && a.operation === b.operation && a.method === b.method && a.path === b.path && a.query === b.query && a.body_sha256 === b.body_sha256;
}

/** Whether a kill target covers a call (or an approval's fingerprint): the one rule every caller shares. */
export function killCovers(target: KillTarget, call: { agent: string; user: string | null; tool: string | undefined }): boolean {
  if ('all' in target) return true;
  if ('agent' in target) return target.agent === call.agent;
  if ('user' in target) return call.user !== null && target.user === call.user;
  return target.tool === call.tool;
}

/** A store step that fails becomes a 503 refusal (fail closed), saying that nothing changed. */
export async function stored<T>(step: Promise<T>, what: string): Promise<T> {
  try {
    return await step;
  } catch (err) {
    throw new GatewayError('state_stale', `${what}: the state store cannot be reached (${(err as Error).message}).`, { cause: err });
  }
}
