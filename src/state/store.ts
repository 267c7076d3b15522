/**
 * Security state shared by every replica: kills, revocations, approvals, MCP tool pins, the trust
 * layer's inputs (behaviour signals, attestations, operator overrides), rate limits and the
 * registry's records (src/directory/records.ts). The request
 * path reads an in-memory snapshot — never a store round trip, except for a shared rate limit — and a
 * store that cannot vouch for its snapshot reports itself unhealthy, so the gateway fails closed.
 */

import { GatewayError } from '../errors.js';
import { pinKey, type ToolPin } from '../mcp/pins.js';
import type { SignalKind } from '../config/compile-trust.js';
import type { RateCheck, RateResult } from '../trust/gcra.js';
import type { DirectoryResult, DirectorySnapshot, DirectoryWrite } from '../directory/records.js';

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
  /** The call as the approver sees it (src/pipeline/approval-capture.ts); absent on approvals from before. */
  readonly call?: Readonly<Record<string, unknown>>;
}

/** One piece of evidence about an agent's behaviour (src/trust/signals.ts). */
export interface TrustSignal {
  /** Unique: a signal learnt twice (a message racing a resync) counts once. */
  readonly id: string;
  readonly agent: string;
  readonly kind: SignalKind;
  /** Epoch ms. */
  readonly at: number;
  readonly weight: number;
  /** What happened, e.g. the refusal's reason code or the anomaly's name. */
  readonly detail: string;
}

/** A verified attestation (src/trust/attestations.ts): the claims that count, never the JWT itself. */
export interface Attestation {
  readonly agent: string;
  readonly issuer: string;
  readonly kind: string;
  /** The weight the attestation claims, and the weight applied after the root's max_weight. */
  readonly weight: number;
  readonly applied: number;
  /** Epoch seconds. */
  readonly iat: number;
  readonly exp: number;
  readonly jti: string | null;
  readonly summary: string | null;
  readonly received_at: string;
  readonly by: string;
}

/** An operator's pin (the score is this) or cap (the score is at most this), with a reason. */
export interface TrustOverride {
  readonly agent: string;
  readonly pin: number | null;
  readonly cap: number | null;
  readonly reason: string;
  readonly by: string;
  readonly at: string;
  /** Epoch ms, or null for until lifted. */
  readonly expires_at: number | null;
}

const NONE: readonly Attestation[] = Object.freeze([]);

/** Signals kept per agent: enough for any penalty to reach its cap. */
export const MAX_SIGNALS_PER_AGENT = 256;

export type StateChange =
  | { readonly type: 'kill'; readonly kill: Kill }
  | { readonly type: 'revive'; readonly kill: Kill }
  | { readonly type: 'revoke'; readonly revocation: Revocation }
  | { readonly type: 'approval'; readonly approval: Approval }
  | { readonly type: 'pin'; readonly pin: ToolPin }
  | { readonly type: 'signals'; readonly signals: readonly TrustSignal[] }
  | { readonly type: 'attestation'; readonly attestation: Attestation }
  | { readonly type: 'trust_override'; readonly agent: string; readonly override: TrustOverride | null }
  | { readonly type: 'directory'; readonly writes: readonly DirectoryWrite[] }
  /** The whole registry was reloaded (a shared store's resynchronisation). */
  | { readonly type: 'directory_reset' };

/** The result of an atomic approval transition: the record after it, or why it did not happen. */
export type Transition = { readonly ok: true; readonly approval: Approval } | { readonly ok: false; readonly approval?: Approval; readonly why: 'unknown' | 'not_pending' | 'not_approved' | 'expired' | 'mismatch' };

export interface StateStore {
  /** Loads the state (and, for shared stores, subscribes to changes). */
  start(): Promise<void>;
  close(): Promise<void>;
  /** False while the snapshot cannot be trusted (a shared store out of touch past max_staleness). */
  healthy(): boolean;
  /** While unhealthy, why (naming the store, never a password), for /readyz and logs; else null. */
  problem(): string | null;

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
  /** The latest unexpired approval bound to exactly this call (a plain retry of a held MCP call finds it), if any. */
  findApproval(fingerprint: Fingerprint): Promise<Approval | undefined>;

  /** The pinned definition of an MCP tool (snapshot read). */
  toolPin(tool: string, name: string): ToolPin | undefined;
  toolPins(): readonly ToolPin[];
  /** Records a pin: first seen, a changed definition, or an admin's approval. */
  setToolPin(pin: ToolPin): Promise<void>;

  /**
   * Behaviour signals (kept for the trust window). Applied to this replica's snapshot at once; a
   * shared store sends them on in batches (a lost batch costs precision, never a security decision).
   */
  addSignals(signals: readonly TrustSignal[]): void;
  /** An agent's signals within the trust window, oldest first (snapshot read). */
  signals(agent: string): readonly TrustSignal[];
  /** Stores an attestation in place of the one from the same issuer and kind. */
  setAttestation(attestation: Attestation): Promise<void>;
  attestations(agent: string): readonly Attestation[];
  setTrustOverride(agent: string, override: TrustOverride | null): Promise<void>;
  trustOverride(agent: string): TrustOverride | undefined;
  /** Agents with any trust input in the snapshot (signals, attestations or an override). */
  trustSubjects(): Iterable<string>;

  /** Takes one call from every limit, or from none. Shared by replicas where the store is. */
  takeRate(checks: readonly RateCheck[]): RateResult | Promise<RateResult>;
  /** True for the first caller of a key within ttl across replicas (deduplicates notifications). */
  claimOnce(key: string, ttlMs: number): Promise<boolean>;
  /**
   * Binds a key to an owner unless it is bound already (first binding wins), keeping it for `ttlMs`
   * after its last use; resolves to the owner in force. For MCP sessions (src/pipeline/mcp-session.ts).
   */
  bindOwner(key: string, owner: string, ttlMs: number): Promise<string>;
  /** The key's owner (its lifetime renewed), or null when unbound or expired. */
  ownerOf(key: string, ttlMs: number): Promise<string | null>;
  unbindOwner(key: string): Promise<void>;

  /** Applies registry writes all or nothing: each must replace the version it names, and no unique value may be taken. */
  writeDirectory(writes: readonly DirectoryWrite[]): Promise<DirectoryResult>;
  /** The registry's records (snapshot read; src/directory/registry.ts indexes it for the request path). */
  directory(): Pick<DirectorySnapshot, 'get' | 'holder' | 'ofKind' | 'count' | 'records'>;

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
  readonly signals = new Map<string, TrustSignal[]>();
  readonly attestations = new Map<string, Map<string, Attestation>>();
  readonly overrides = new Map<string, TrustOverride>();

  /** @param retentionMs how long a behaviour signal can still count (the trust window). */
  constructor(private readonly retentionMs = 600_000) {}

  applySignals(list: readonly TrustSignal[], now = Date.now()): void {
    for (const sig of list) {
      if (sig.at < now - this.retentionMs) continue;
      let mine = this.signals.get(sig.agent);
      if (!mine) this.signals.set(sig.agent, (mine = []));
      if (mine.some((s) => s.id === sig.id)) continue;
      mine.push(sig);
      if (mine.length > 1 && mine[mine.length - 2]!.at > sig.at) mine.sort((a, b) => a.at - b.at);
      if (mine.length > MAX_SIGNALS_PER_AGENT) mine.splice(0, mine.length - MAX_SIGNALS_PER_AGENT);
    }
  }

  applyAttestation(a: Attestation): void {
    let mine = this.attestations.get(a.agent);
    if (!mine) this.attestations.set(a.agent, (mine = new Map()));
    mine.set(attestationKey(a), a);
  }

  /** Read on every call: no allocation for the usual agent, which has none. */
  attestationList(agent: string): readonly Attestation[] {
    const mine = this.attestations.get(agent);
    return mine === undefined ? NONE : [...mine.values()];
  }

  applyOverride(agent: string, o: TrustOverride | null): void {
    if (o) this.overrides.set(agent, o);
    else this.overrides.delete(agent);
  }

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
    // Trust inputs that can no longer count: signals past the window, expired attestations and overrides.
    for (const [agent, list] of this.signals) {
      const keep = list.findIndex((sig) => sig.at >= now - this.retentionMs);
      if (keep < 0) this.signals.delete(agent);
      else if (keep > 0) list.splice(0, keep);
    }
    for (const [agent, mine] of this.attestations) {
      for (const [k, a] of mine) if (a.exp * 1000 <= now) mine.delete(k);
      if (mine.size === 0) this.attestations.delete(agent);
    }
    for (const [agent, o] of this.overrides) if (o.expires_at !== null && o.expires_at <= now) this.overrides.delete(agent);
  }

  trustSubjects(): Set<string> {
    return new Set([...this.signals.keys(), ...this.attestations.keys(), ...this.overrides.keys()]);
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
    this.signals.clear();
    this.attestations.clear();
    this.overrides.clear();
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

/** Whether an approval found for a call still stands for it: the same call, not used, not past its expiry. */
export function standingApproval(a: Approval | undefined, fp: Fingerprint, now: number): Approval | undefined {
  return a && a.status !== 'used' && a.status !== 'expired' && a.expires_at > now && sameFingerprint(a.fingerprint, fp) ? a : undefined;
}

export function sameFingerprint(a: Fingerprint, b: Fingerprint): boolean {
  return a.agent === b.agent && a.user === b.user && a.tool === b.tool && a.operation === b.operation && a.method === b.method && a.path === b.path && a.query === b.query && a.body_sha256 === b.body_sha256;
}

/** One attestation per agent, issuer and kind: a newer one replaces it. */
export function attestationKey(a: { agent: string; issuer: string; kind: string }): string {
  return JSON.stringify([a.agent, a.issuer, a.kind]);
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
