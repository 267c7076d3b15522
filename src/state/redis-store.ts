/**
 * The shared store: Redis holds the kills, revocations, trust inputs and the registry's records;
 * every change is published, and each replica applies it to its in-memory snapshot (pub/sub, not
 * polling). The request path reads only the snapshot. A replica that cannot confirm its snapshot —
 * subscription lost, Redis unreachable, or a change it missed — for longer than
 * `state.max_staleness` reports itself unhealthy and the gateway refuses calls (fail closed) until
 * it has resynchronised, which it does by itself when Redis answers again. Commands carry timeouts
 * and fail fast instead of queueing.
 */
import type { RedisConnection } from '../config/compile.js';
import type { Logger } from '../observability/logger.js';
import { pinKey, type ToolPin } from '../mcp/pins.js';
import { DirectorySnapshot, recordKey, type DirectoryRecord } from '../directory/records.js';
import { ANNOUNCE, connect, DIRECTORY_WRITE, redisLocation, storeKeys } from './redis-connection.js';
import { createRedisApprovals } from './redis-approvals.js';
import { createSharedRateLimiter } from './redis-rate.js';
import { attestationKey, MAX_SIGNALS_PER_AGENT, StateSnapshot, type Attestation, type Kill, type Revocation, type StateChange, type StateStore, type TrustOverride, type TrustSignal } from './store.js';

const SIGNAL_BATCH_MS = 50;
const MAX_OUTBOX = 10_000;

export interface RedisStoreOptions {
  readonly connection: RedisConnection;
  readonly maxStalenessMs: number;
  /** How long behaviour signals are kept (trust.window). */
  readonly signalRetentionMs?: number;
  /** A shared rate-limit check slower than this is decided by the local limiter instead. */
  readonly rateTimeoutMs?: number;
  /** Told whenever a rate limit is decided locally because Redis did not answer. */
  readonly onRateFallback?: () => void;
}

/** Published as `<version>|<json>` (ANNOUNCE): the version is known only once Redis bumps it. */
type Message = { origin: string; change: StateChange; dv?: number };

export function createRedisStore(opts: RedisStoreOptions, logger: Logger): StateStore {
  const keys = storeKeys(opts.connection.prefix);
  const retentionMs = opts.signalRetentionMs ?? 600_000;
  const commandTimeout = Math.max(250, Math.floor(opts.maxStalenessMs / 4));
  const cmd = connect(opts.connection, commandTimeout);
  const sub = connect(opts.connection, commandTimeout);
  // Rate limits sit on the request path: their own connection, with their own short timeout.
  const rl = connect(opts.connection, opts.rateTimeoutMs ?? 50);
  const takeRate = createSharedRateLimiter(rl, keys.rate, logger, opts.onRateFallback);
  const snap = new StateSnapshot(retentionMs);
  const directory = new DirectorySnapshot();
  const listeners = new Set<(c: StateChange) => void>();
  const origin = Math.random().toString(36).slice(2);
  const approvals = createRedisApprovals({ cmd, keys, logger, emit: (c) => emit(c), announce: (approval) => `0|${JSON.stringify({ origin, change: { type: 'approval', approval } } satisfies Message)}` });
  let version = -1;
  // The registry's own version: a resynchronisation reloads the registry only when it moved.
  let directoryVersion = -1;
  let confirmedAt = 0;
  let resyncing: Promise<void> | undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  let closed = false;
  let wasHealthy = false;
  let subscribed = false;
  // Why the snapshot cannot be confirmed right now (for /readyz), naming Redis without its password.
  let problem: string | null = null;
  const where = redisLocation(opts.connection);
  const describe = (err: unknown) => `Redis at ${where}: ${(err as Error).message || String(err)}`;
  const outbox: TrustSignal[] = [];
  let flushTimer: NodeJS.Timeout | undefined;

  for (const c of [cmd, sub, rl]) c.on('error', () => undefined); // reported through health, not as crashes

  function emit(change: StateChange): void {
    for (const l of listeners) l(change);
  }

  function apply(change: StateChange): void {
    if (change.type === 'kill') snap.applyKill(change.kill);
    else if (change.type === 'revive') snap.removeKill(change.kill.id);
    else if (change.type === 'revoke') snap.applyRevocation(change.revocation);
    else if (change.type === 'pin') snap.applyPin(change.pin);
    else if (change.type === 'signals') snap.applySignals(change.signals);
    else if (change.type === 'attestation') snap.applyAttestation(change.attestation);
    else if (change.type === 'trust_override') snap.applyOverride(change.agent, change.override);
    else if (change.type === 'directory') directory.apply(change.writes);
    // Approvals are not in the snapshot: they are read from Redis when needed.
  }

  /** Reloads everything from Redis: the only way back from a missed message or a lost subscription. */
  async function resync(): Promise<void> {
    resyncing ??= (async () => {
      // The version first (one connection: Redis runs these in order): a change landing while the
      // rest is read is then both in the snapshot and newer than the version, and applying it again
      // when its message comes is harmless; none can be in the version and missing from the snapshot.
      const [v, kills, revocations, pins, attestations, overrides, signalAgents, dv] = await Promise.all([
        cmd.get(keys.version),
        cmd.hgetall(keys.kills),
        cmd.hgetall(keys.revocations),
        cmd.hgetall(keys.pins),
        cmd.hgetall(keys.attestations),
        cmd.hgetall(keys.overrides),
        cmd.smembers(keys.signalAgents),
        cmd.get(keys.directoryVersion),
      ]);
      const moved = Number(dv ?? 0) !== directoryVersion;
      const records = moved ? await cmd.hgetall(keys.directory) : {};
      const signalLists = await Promise.all(signalAgents.map((a) => cmd.lrange(keys.signals(a), 0, -1)));
      const fresh = new StateSnapshot();
      for (const json of Object.values(kills)) fresh.applyKill(JSON.parse(json) as Kill);
      const expired: string[] = [];
      for (const [field, json] of Object.entries(revocations)) {
        const r = JSON.parse(json) as Revocation;
        if (r.until < Date.now()) expired.push(field);
        else fresh.applyRevocation(r);
      }
      // Entries no token can outlive any more go (best effort; every replica may try).
      if (expired.length > 0) void cmd.hdel(keys.revocations, ...expired).catch(() => undefined);
      const before = new Set(snap.kills.keys());
      snap.clear();
      for (const k of fresh.kills.values()) snap.applyKill(k);
      for (const r of fresh.revocations()) snap.applyRevocation(r);
      for (const json of Object.values(pins)) snap.applyPin(JSON.parse(json) as ToolPin);
      for (const json of Object.values(attestations)) snap.applyAttestation(JSON.parse(json) as Attestation);
      for (const json of Object.values(overrides)) {
        const o = JSON.parse(json) as TrustOverride;
        snap.applyOverride(o.agent, o);
      }
      const gone: string[] = [];
      signalLists.forEach((list, i) => {
        if (list.length === 0) gone.push(signalAgents[i]!);
        snap.applySignals(list.map((json) => JSON.parse(json) as TrustSignal));
      });
      // Agents whose signals all expired leave the index (best effort).
      if (gone.length > 0) void cmd.srem(keys.signalAgents, ...gone).catch(() => undefined);
      snap.applySignals(outbox); // this replica's, not sent yet
      snap.prune();
      if (moved) {
        directory.load(Object.values(records).map((json) => JSON.parse(json) as DirectoryRecord));
        directoryVersion = Number(dv ?? 0);
      }
      version = Number(v ?? 0);
      confirmedAt = Date.now();
      // Kills learnt by resync must still cut what is in flight.
      for (const k of snap.kills.values()) if (!before.has(k.id)) emit({ type: 'kill', kill: k });
      if (moved) emit({ type: 'directory_reset' });
    })().finally(() => {
      resyncing = undefined;
    });
    return resyncing;
  }

  /** Confirms the snapshot: both connections up and no change missed (else resync). */
  async function check(): Promise<void> {
    if (closed) return;
    // A connection whose first attempt failed is not retried by ioredis: start it again.
    for (const c of [cmd, sub, rl]) if (c.status === 'wait' || c.status === 'end') void c.connect().catch(() => undefined);
    try {
      if (sub.status !== 'ready') throw new Error(`subscriber connection ${sub.status}`);
      if (!subscribed) await establish();
      const v = Number((await cmd.get(keys.version)) ?? 0);
      if (v !== version) await resync();
      else confirmedAt = Date.now();
    } catch (err) {
      problem = describe(err);
      if (wasHealthy && Date.now() - confirmedAt > opts.maxStalenessMs) {
        logger.error({ redis: where, error: problem }, 'state store out of touch: refusing calls until kills and revocations are confirmed');
        wasHealthy = false;
      }
      return;
    }
    problem = null;
    if (!wasHealthy) logger.info({ redis: where, version }, 'state store in touch: kills and revocations confirmed');
    wasHealthy = true;
  }

  /** Subscribes (once) and loads the snapshot: what makes the replica ready. */
  async function establish(): Promise<void> {
    if (!subscribed) {
      await sub.subscribe(keys.channel);
      subscribed = true;
    }
    await resync();
    problem = null;
  }

  /** Sends the batched signals: stored per agent (capped, expiring with the window) and published. */
  async function flushSignals(): Promise<void> {
    flushTimer = undefined;
    if (outbox.length === 0 || closed) return;
    const batch = outbox.splice(0, outbox.length);
    const byAgent = new Map<string, TrustSignal[]>();
    for (const sig of batch) {
      const list = byAgent.get(sig.agent);
      if (list) list.push(sig);
      else byAgent.set(sig.agent, [sig]);
    }
    try {
      await write({ type: 'signals', signals: batch }, (m) => {
        for (const [agent, list] of byAgent) {
          const key = keys.signals(agent);
          m.rpush(key, ...list.map((sig) => JSON.stringify(sig)));
          m.ltrim(key, -MAX_SIGNALS_PER_AGENT, -1);
          m.pexpire(key, retentionMs);
          m.sadd(keys.signalAgents, agent);
        }
      }, { applied: true });
    } catch (err) {
      // Kept for the next batch; this replica already counts them.
      outbox.unshift(...batch.slice(-MAX_OUTBOX));
      if (outbox.length > MAX_OUTBOX) outbox.splice(0, outbox.length - MAX_OUTBOX);
      logger.warn({ error: (err as Error).message, signals: batch.length }, 'trust signals not shared yet: Redis does not answer');
      if (!closed) flushTimer ??= setTimeout(() => void flushSignals(), 1_000).unref();
    }
  }

  /** Stores a change with the version bump, applies it here (unless already applied), then publishes it. */
  async function write(change: StateChange, mutate: (m: ReturnType<typeof cmd.multi>) => void, how: { applied?: boolean } = {}): Promise<void> {
    const m = cmd.multi();
    mutate(m);
    m.eval(ANNOUNCE, 2, keys.version, keys.channel, JSON.stringify({ origin, change } satisfies Message));
    const res = await m.exec();
    const failed = res?.find(([e]) => e);
    if (!res || failed) throw failed?.[0] ?? new Error('the state store did not answer');
    const v = Number(res.at(-1)![1]);
    // Stored and announced: apply it here too (others apply it from the message).
    if (!how.applied) apply(change);
    if (v === version + 1) version = v;
    if (!how.applied) emit(change);
  }

  return {
    async start() {
      sub.on('message', (_channel: string, raw: string) => {
        const bar = raw.indexOf('|');
        const v = Number(raw.slice(0, bar));
        let msg: Message;
        try {
          msg = JSON.parse(raw.slice(bar + 1)) as Message;
        } catch {
          return;
        }
        // Approval changes wake held calls (the waiter re-reads Redis); they are not snapshot state.
        if (msg.change.type === 'approval') {
          if (msg.origin !== origin) emit(msg.change);
          return;
        }
        // Known already: this replica's own write, or one a resynchronisation loaded.
        if (v <= version) return;
        if (v !== version + 1) {
          // A gap: something was missed. Trust Redis, not the message.
          void resync().catch(() => undefined);
          return;
        }
        version = v;
        confirmedAt = Date.now();
        if (msg.dv !== undefined) directoryVersion = msg.dv;
        if (msg.origin === origin) return; // applied locally
        apply(msg.change);
        emit(msg.change);
      });
      // After a reconnect the subscription is restored by ioredis; what happened meanwhile is not.
      sub.on('ready', () => void establish().catch(() => undefined));
      heartbeat = setInterval(() => void check(), Math.max(100, Math.floor(opts.maxStalenessMs / 3)));
      heartbeat.unref();
      // A replica starts whatever Redis does: slow or absent, it is up but not ready (calls refused
      // with state_stale, /readyz says why) and becomes ready by itself when Redis answers.
      await Promise.allSettled([cmd.connect(), sub.connect(), rl.connect()]);
      try {
        await establish();
      } catch (err) {
        problem = describe(err);
        logger.error({ redis: where, error: problem }, 'Redis does not answer at start: not ready, refusing calls until kills and revocations are confirmed');
      }
    },
    async close() {
      clearTimeout(flushTimer);
      await flushSignals(); // best effort: what Redis does not take now is lost with this replica
      closed = true;
      clearInterval(heartbeat);
      sub.disconnect();
      cmd.disconnect();
      rl.disconnect();
    },
    healthy: () => Date.now() - confirmedAt <= opts.maxStalenessMs,
    problem: () => (Date.now() - confirmedAt <= opts.maxStalenessMs ? null : problem ?? `Redis at ${where}: the snapshot is not confirmed yet`),
    addKill: (kill) => write({ type: 'kill', kill }, (m) => m.hset(keys.kills, kill.id, JSON.stringify(kill))),
    async removeKill(id) {
      const json = await cmd.hget(keys.kills, id);
      if (!json) return undefined;
      const kill = JSON.parse(json) as Kill;
      await write({ type: 'revive', kill }, (m) => m.hdel(keys.kills, id));
      return kill;
    },
    kills: () => [...snap.kills.values()],
    addRevocation(revocation) {
      const field = revocation.kind === 'jti' ? `jti:${revocation.jti}` : `agent:${revocation.agent}`;
      return write({ type: 'revoke', revocation }, (m) => m.hset(keys.revocations, field, JSON.stringify(revocation)));
    },
    ...approvals,
    toolPin: (tool, name) => snap.pins.get(pinKey(tool, name)),
    toolPins: () => [...snap.pins.values()],
    setToolPin: (pin) => write({ type: 'pin', pin }, (m) => m.hset(keys.pins, pinKey(pin.tool, pin.name), JSON.stringify(pin))),
    addSignals(signals) {
      snap.applySignals(signals);
      emit({ type: 'signals', signals });
      outbox.push(...signals);
      if (outbox.length > MAX_OUTBOX) outbox.splice(0, outbox.length - MAX_OUTBOX);
      flushTimer ??= setTimeout(() => void flushSignals(), SIGNAL_BATCH_MS).unref();
    },
    signals: (agent) => snap.signals.get(agent) ?? [],
    setAttestation: (attestation) => write({ type: 'attestation', attestation }, (m) => m.hset(keys.attestations, attestationKey(attestation), JSON.stringify(attestation))),
    attestations: (agent) => snap.attestationList(agent),
    setTrustOverride: (agent, override) =>
      write({ type: 'trust_override', agent, override }, (m) => (override ? m.hset(keys.overrides, agent, JSON.stringify(override)) : m.hdel(keys.overrides, agent))),
    trustOverride: (agent) => snap.overrides.get(agent),
    trustSubjects: () => snap.trustSubjects(),
    takeRate,
    async claimOnce(key, ttlMs) {
      return (await cmd.set(keys.claim(key), '1', 'PX', ttlMs, 'NX')) === 'OK';
    },
    async bindOwner(key, owner, ttlMs) {
      // SET NX GET (Redis 7): one round trip, and two replicas binding at once agree on the winner.
      const held = (await cmd.call('SET', keys.owner(key), owner, 'PX', String(ttlMs), 'NX', 'GET')) as string | null;
      return held ?? owner;
    },
    async ownerOf(key, ttlMs) {
      return (await cmd.call('GETEX', keys.owner(key), 'PX', String(ttlMs))) as string | null;
    },
    async unbindOwner(key) {
      await cmd.del(keys.owner(key));
    },
    async writeDirectory(writes) {
      const args = writes.flatMap((w) => [recordKey(w.kind, w.id), String(w.expect), w.record ? JSON.stringify(w.record) : '']);
      const message = JSON.stringify({ origin, change: { type: 'directory', writes } } satisfies Message);
      // Checked, stored and announced in one script: two provisioners racing get one winner.
      const [why, at, dv] = (await cmd.eval(DIRECTORY_WRITE, 5, keys.version, keys.channel, keys.directory, keys.unique, keys.directoryVersion, message, writes.length, ...args)) as [string, number, number];
      if (why !== 'ok') return { ok: false, why: why as 'version' | 'uniqueness', index: at - 1 };
      directory.apply(writes);
      if (at === version + 1) {
        version = at;
        directoryVersion = dv;
      }
      emit({ type: 'directory', writes });
      return { ok: true };
    },
    directory: () => directory,
    killFor: (call) => snap.killFor(call),
    isRevoked: (t) => snap.isRevoked(t),
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

