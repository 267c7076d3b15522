/** The `audit` section → runtime form: exactly one file sink (the record of truth) plus shipping sinks. */
import { resolve } from 'node:path';
import { ConfigError } from './load.js';
import { parseDuration, parseSize } from './units.js';
import type { RawConfig } from './schema.js';

export type ShippingSink =
  | { readonly type: 'http'; readonly name: string; readonly url: string; readonly headers: Readonly<Record<string, string>>; readonly batchSize: number; readonly timeoutMs: number }
  | { readonly type: 'redis'; readonly name: string; readonly url: string; readonly stream: string; readonly maxlen: number | null }
  | { readonly type: 'stdout'; readonly name: string };

export interface AuditConfig {
  readonly path: string;
  readonly chain?: string;
  readonly signingKey: string;
  readonly generateSigningKey: boolean;
  readonly groupCommitMs: number;
  /** The longest a written ordinary record waits for fdatasync (durable ones never wait). */
  readonly syncIntervalMs: number;
  readonly rotateBytes: number;
  readonly rotateAgeMs: number;
  readonly checkpointEvery: number;
  readonly checkpointIntervalMs: number;
  readonly sinks: readonly ShippingSink[];
}

export function compileAudit(raw: RawConfig, baseDir: string): AuditConfig {
  const a = raw.audit;
  let path: string | undefined;
  const sinks: ShippingSink[] = [];
  const names = new Set<string>();
  a.sinks.forEach((s: Record<string, unknown>, i: number) => {
    const at = `audit.sinks.${i}`;
    const type = s.type;
    const name = typeof s.name === 'string' ? s.name : type === 'file' ? 'file' : `${String(type)}-${i}`;
    if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new ConfigError(`${at}.name`, 'may only contain letters, digits, ".", "_" and "-"');
    if (names.has(name)) throw new ConfigError(`${at}.name`, `two sinks are named ${JSON.stringify(name)}`);
    names.add(name);
    const known = (keys: string[]) => {
      for (const k of Object.keys(s)) if (!['type', 'name', ...keys].includes(k)) throw new ConfigError(`${at}.${k}`, `unknown key for a ${String(type)} sink`);
    };
    if (type === 'file') {
      known(['path']);
      if (path !== undefined) throw new ConfigError(at, 'only one file sink: it is the record of truth the others are fed from');
      if (typeof s.path !== 'string' || s.path === '') throw new ConfigError(`${at}.path`, 'is required');
      path = resolve(baseDir, s.path);
    } else if (type === 'http') {
      known(['url', 'headers', 'batch_size', 'timeout']);
      if (typeof s.url !== 'string' || !/^https?:\/\//.test(s.url)) throw new ConfigError(`${at}.url`, 'must be an http:// or https:// URL');
      const headers = (s.headers ?? {}) as Record<string, unknown>;
      for (const [k, v] of Object.entries(headers)) if (typeof v !== 'string') throw new ConfigError(`${at}.headers.${k}`, 'must be a string');
      const batch = s.batch_size ?? 500;
      if (!Number.isInteger(batch) || (batch as number) < 1) throw new ConfigError(`${at}.batch_size`, 'must be a positive integer');
      sinks.push({ type, name, url: s.url, headers: headers as Record<string, string>, batchSize: batch as number, timeoutMs: duration(s.timeout ?? '10s', `${at}.timeout`) });
    } else if (type === 'redis') {
      known(['url', 'stream', 'maxlen']);
      const url = s.url ?? raw.state.redis.url;
      if (typeof url !== 'string' || !/^rediss?:\/\//.test(url)) throw new ConfigError(`${at}.url`, 'must be a redis:// or rediss:// URL');
      const stream = s.stream ?? `${raw.state.redis.prefix}audit`;
      if (typeof stream !== 'string' || stream === '') throw new ConfigError(`${at}.stream`, 'must be a stream key');
      const maxlen = s.maxlen ?? null;
      if (maxlen !== null && (!Number.isInteger(maxlen) || (maxlen as number) < 1)) throw new ConfigError(`${at}.maxlen`, 'must be a positive integer');
      sinks.push({ type, name, url, stream, maxlen: maxlen as number | null });
    } else if (type === 'stdout') {
      known([]);
      sinks.push({ type, name });
    } else {
      throw new ConfigError(`${at}.type`, `must be one of file, http, redis, stdout (got ${JSON.stringify(type)})`);
    }
  });
  if (path === undefined) throw new ConfigError('audit.sinks', 'needs a file sink: the local log is the record of truth');
  return {
    path,
    chain: a.chain,
    signingKey: resolve(baseDir, a.signing_key),
    generateSigningKey: a.generate_signing_key ?? raw.dev.issuer,
    groupCommitMs: duration(a.group_commit, 'audit.group_commit'),
    syncIntervalMs: duration(a.sync_interval, 'audit.sync_interval'),
    rotateBytes: size(a.rotate.max_bytes, 'audit.rotate.max_bytes'),
    rotateAgeMs: duration(a.rotate.max_age, 'audit.rotate.max_age'),
    checkpointEvery: a.checkpoint.every,
    checkpointIntervalMs: duration(a.checkpoint.interval, 'audit.checkpoint.interval'),
    sinks,
  };
}

function duration(v: unknown, at: string): number {
  const ms = typeof v === 'string' || typeof v === 'number' ? parseDuration(v) : undefined;
  if (ms === undefined) throw new ConfigError(at, `is not a duration like 500ms, 5s, 15m or 1h (got ${JSON.stringify(v)})`);
  return ms;
}

function size(v: string | number, at: string): number {
  const b = parseSize(v);
  if (b === undefined || b <= 0) throw new ConfigError(at, `is not a size like 64kb or 1mb (got ${JSON.stringify(v)})`);
  return b;
}
