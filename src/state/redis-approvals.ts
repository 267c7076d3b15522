/**
 * Approvals in Redis: one hash per approval (the immutable record as JSON, its status fields, its
 * expiry and its fingerprint in canonical form), transitions run as Lua scripts so two approvers (or
 * two replicas using one approval) get exactly one outcome. They are not snapshot state: a change is
 * published to wake held calls, whose waiter re-reads the record.
 */
import type { Cluster, Redis } from 'ioredis';
import type { Logger } from '../observability/logger.js';
import { canonical, sha256Hex } from '../audit/chain.js';
import { CONSUME, DECIDE, type storeKeys } from './redis-connection.js';
import { standingApproval, type Approval, type Fingerprint, type StateChange, type StateStore, type Transition } from './store.js';

export interface RedisApprovalDeps {
  readonly cmd: Redis | Cluster;
  readonly keys: ReturnType<typeof storeKeys>;
  readonly logger: Logger;
  readonly emit: (change: StateChange) => void;
  /** The pub/sub message announcing an approval's new state. */
  readonly announce: (approval: Approval) => string;
}

type Approvals = Pick<StateStore, 'createApproval' | 'getApproval' | 'listApprovals' | 'decideApproval' | 'consumeApproval' | 'findApproval'>;

export function createRedisApprovals({ cmd, keys, logger, emit, announce }: RedisApprovalDeps): Approvals {
  async function readApproval(id: string): Promise<Approval | undefined> {
    const h = await cmd.hgetall(keys.approval(id));
    if (!h.json) return undefined;
    const base = JSON.parse(h.json) as Approval;
    return {
      ...base,
      status: h.status as Approval['status'],
      ...(h.decided_by ? { decided_by: h.decided_by, decided_at: h.decided_at, comment: h.comment } : {}),
    };
  }

  /** Runs a transition script; publishes the new record when it changed. */
  async function transition(script: string, id: string, args: string[]): Promise<Transition> {
    const [why, v] = (await cmd.eval(script, 2, keys.approval(id), keys.version, ...args)) as [string, number | undefined];
    const approval = await readApproval(id);
    if (v !== undefined && approval) {
      emit({ type: 'approval', approval });
      // The transition happened; a lost publish only delays other replicas (their waiters time out to 202).
      await cmd.publish(keys.channel, announce(approval)).catch((err: Error) => {
        logger.warn({ error: err.message, approval: id }, 'approval change stored but not published');
      });
    }
    if (why === 'ok') return { ok: true, approval: approval! };
    return { ok: false, approval, why: why as Exclude<Transition, { ok: true }>['why'] };
  }

  return {
    async createApproval(approval) {
      const key = keys.approval(approval.id);
      const { status: _s, ...immutable } = approval;
      const m = cmd.multi();
      m.hset(key, 'json', JSON.stringify(immutable), 'status', approval.status, 'expires_at', String(approval.expires_at), 'fp', fingerprintKey(approval.fingerprint));
      // Kept a day past expiry for the approvers' list; the audit trail keeps it for good.
      m.pexpireat(key, approval.expires_at + 86_400_000);
      m.zadd(keys.approvals, approval.expires_at, approval.id);
      m.set(keys.approvalOf(sha256Hex(fingerprintKey(approval.fingerprint))), approval.id, 'PXAT', approval.expires_at);
      m.zremrangebyscore(keys.approvals, 0, Date.now() - 86_400_000);
      const res = await m.exec();
      if (!res || res.some(([e]) => e)) throw new Error('the state store did not store the approval');
      await cmd.publish(keys.channel, announce(approval));
      emit({ type: 'approval', approval });
    },
    getApproval: readApproval,
    async listApprovals() {
      const ids = await cmd.zrange(keys.approvals, '0', '-1');
      const all = await Promise.all(ids.map((id) => readApproval(id)));
      return all.filter((a): a is Approval => a !== undefined);
    },
    decideApproval: (id, decision, by, comment) => transition(DECIDE, id, [decision, by, comment, String(Date.now()), new Date().toISOString()]),
    consumeApproval: (id, fp) => transition(CONSUME, id, [fingerprintKey(fp), String(Date.now())]),
    async findApproval(fp) {
      const id = await cmd.get(keys.approvalOf(sha256Hex(fingerprintKey(fp))));
      return id === null ? undefined : standingApproval(await readApproval(id), fp, Date.now());
    },
  };
}

function fingerprintKey(fp: Fingerprint): string {
  return canonical(fp);
}
