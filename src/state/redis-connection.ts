/**
 * What the Redis store (redis-store.ts) runs against Redis: one connection of the configured kind
 * (standalone, Sentinel, Cluster) that fails fast instead of queueing, and the Lua scripts that make
 * approval transitions and shared rate limits atomic.
 */
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { RedisConnection } from '../config/compile.js';

// Approval transitions run inside Redis, so two approvers (or two replicas using one approval) get
// exactly one outcome. They are not snapshot state, so they do not move the snapshot's version: a
// waiter re-reads the record when told of a change. Each approval is a hash: the immutable record as JSON, its status fields,
// its expiry and its fingerprint in canonical form.
export const DECIDE = `
local s = redis.call('HMGET', KEYS[1], 'status', 'expires_at')
if not s[1] then return {'unknown'} end
if s[1] ~= 'pending' then return {'not_pending'} end
if tonumber(s[2]) <= tonumber(ARGV[4]) then
  redis.call('HSET', KEYS[1], 'status', 'expired')
  return {'expired', 1}
end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'decided_by', ARGV[2], 'comment', ARGV[3], 'decided_at', ARGV[5])
return {'ok', 1}`;

export const CONSUME = `
local s = redis.call('HMGET', KEYS[1], 'status', 'expires_at', 'fp')
if not s[1] then return {'unknown'} end
if s[1] ~= 'approved' then return {'not_approved'} end
if tonumber(s[2]) <= tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], 'status', 'expired')
  return {'expired', 1}
end
if s[3] ~= ARGV[1] then return {'mismatch'} end
redis.call('HSET', KEYS[1], 'status', 'used')
return {'ok', 1}`;

// GCRA over several limits at once (src/trust/gcra.ts has the same arithmetic): Redis's own clock,
// so replicas with skewed clocks share one timeline; all limits are taken, or none.
export const GCRA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local worst, worstIndex = 0, 0
local nextTats = {}
for i = 1, #KEYS do
  local interval = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', KEYS[i]) or now)
  if tat < now then tat = now end
  local allowAt = tat - (burst - 1) * interval
  if allowAt > now and allowAt - now > worst then worst = allowAt - now; worstIndex = i end
  nextTats[i] = tat + interval
end
if worstIndex > 0 then return {0, worstIndex, math.ceil(worst)} end
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], tostring(nextTats[i]), 'PX', math.ceil(nextTats[i] - now) + 1000)
end
return {1, 0, 0}`;

// The version bump and the announcement in one step, inside the change's MULTI: replicas then
// receive changes in version order, so a change applies as it arrives instead of looking like a gap
// (which costs a full resynchronisation) when two replicas write at once.
export const ANNOUNCE = `
local v = redis.call('INCR', KEYS[1])
redis.call('PUBLISH', KEYS[2], v .. '|' .. ARGV[1])
return v`;

// Registry writes (src/directory/records.ts): every change must replace the version it names and
// take no unique value another record holds; then all are stored, the unique index follows, and the
// change is announced like any other, with the registry's own version (`dv`) spliced into the
// message: a resynchronisation reloads the registry (100,000 agents: a second of work) only when
// that moved. ARGV: the message, the number of changes, then per change its field, the expected
// version (0: absent) and the record's JSON ('' deletes).
export const DIRECTORY_WRITE = `
local n = tonumber(ARGV[2])
local olds = {}
for i = 1, n do
  local field, expect, json = ARGV[3 * i], tonumber(ARGV[3 * i + 1]), ARGV[3 * i + 2]
  local old = redis.call('HGET', KEYS[3], field)
  local current = 0
  if old then old = cjson.decode(old); current = old.version end
  if current ~= expect then return {'version', i} end
  olds[i] = old
  if json ~= '' then
    for _, k in ipairs(cjson.decode(json).unique) do
      local holder = redis.call('HGET', KEYS[4], k)
      if holder and holder ~= field then return {'uniqueness', i} end
    end
  end
end
for i = 1, n do
  local field, json = ARGV[3 * i], ARGV[3 * i + 2]
  if olds[i] then
    for _, k in ipairs(olds[i].unique) do
      if redis.call('HGET', KEYS[4], k) == field then redis.call('HDEL', KEYS[4], k) end
    end
  end
  if json == '' then
    redis.call('HDEL', KEYS[3], field)
  else
    redis.call('HSET', KEYS[3], field, json)
    for _, k in ipairs(cjson.decode(json).unique) do redis.call('HSET', KEYS[4], k, field) end
  end
end
local dv = redis.call('INCR', KEYS[5])
local v = redis.call('INCR', KEYS[1])
redis.call('PUBLISH', KEYS[2], v .. '|{"dv":' .. dv .. ',' .. string.sub(ARGV[1], 2))
return {'ok', v, dv}`;

/** Opens one connection of the configured kind, failing fast instead of queueing commands. */
export function connect(c: RedisConnection, commandTimeout: number): Redis | Cluster {
  const base: RedisOptions = {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout,
    connectTimeout: 2_000,
    retryStrategy: (times: number) => Math.min(100 * times, 1_000),
  };
  if (c.mode === 'cluster') {
    return new Cluster(c.nodes.map((u) => ({ host: new URL(u).hostname, port: Number(new URL(u).port || 6379) })), {
      lazyConnect: true,
      enableOfflineQueue: false,
      clusterRetryStrategy: (times: number) => Math.min(100 * times, 1_000),
      redisOptions: { ...base, lazyConnect: undefined },
    });
  }
  if (c.mode === 'sentinel') {
    const u = new URL(c.url);
    return new Redis({ ...base, sentinels: [...c.sentinels], name: c.name, password: u.password || undefined, db: Number(u.pathname.slice(1) || 0) });
  }
  return new Redis(c.url, base);
}

/** Where the store's Redis is, for messages: the URL without its password, or the Sentinel/Cluster nodes. */
export function redisLocation(c: RedisConnection): string {
  if (c.mode === 'cluster') return `cluster ${c.nodes.map(withoutPassword).join(', ')}`;
  if (c.mode === 'sentinel') return `sentinel ${c.sentinels.map((s) => `${s.host}:${s.port}`).join(', ')} (master ${c.name})`;
  return withoutPassword(c.url);
}

function withoutPassword(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return 'an unparseable URL';
  }
}

/** The store's keys. Every one carries one hash tag, so that a Cluster keeps them in one slot (Lua and MULTI need it). */
export function storeKeys(prefix: string) {
  const tag = `{${prefix}}`;
  return {
    kills: `${tag}kills`,
    revocations: `${tag}revocations`,
    version: `${tag}version`,
    channel: `${tag}changes`,
    approvals: `${tag}approvals`,
    pins: `${tag}mcp-pins`,
    approval: (id: string) => `${tag}approval:${id}`,
    /** The latest approval of one exact call, by the sha256 of its canonical fingerprint. */
    approvalOf: (fingerprintSha256: string) => `${tag}approval-of:${fingerprintSha256}`,
    signals: (agent: string) => `${tag}trust:signals:${agent}`,
    signalAgents: `${tag}trust:signal-agents`,
    attestations: `${tag}trust:attestations`,
    overrides: `${tag}trust:overrides`,
    rate: (key: string) => `${tag}rate:${key}`,
    claim: (key: string) => `${tag}claim:${key}`,
    owner: (key: string) => `${tag}owner:${key}`,
    directory: `${tag}directory`,
    unique: `${tag}directory:unique`,
    directoryVersion: `${tag}directory:version`,
  };
}
