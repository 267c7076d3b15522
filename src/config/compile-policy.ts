/**
 * The policy section's compiled form, with the bundle's provenance rules checked once: a remote
 * bundle must be signed (OPA bundle signing) unless `policy.require_signature: false` says
 * otherwise, is fetched over https (plain http only from loopback or `download.allow_http_hosts`),
 * authenticated (bearer or mTLS) when configured, and bounded in size.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError } from './load.js';
import type { RawConfig } from './schema.js';
import { requireDuration, requireSize } from './units.js';

export interface PolicyConfig {
  /** A file path (resolved) or an http(s) URL. */
  readonly bundle: string;
  readonly remote: boolean;
  readonly entrypoint: string;
  readonly watch: boolean;
  readonly pollIntervalMs: number;
  /** Decisions kept by the parts of the input the policy reads (src/policy/decision-cache.ts). */
  readonly decisionCache: { readonly enabled: boolean; readonly maxEntries: number };
  /** Set when every bundle must carry a valid OPA signature by this key. */
  readonly signing?: { readonly publicKeyPem: string; readonly algorithm: string; readonly scope?: string };
  readonly download: {
    readonly bearerToken?: string;
    readonly certFile?: string;
    readonly keyFile?: string;
    readonly caFile?: string;
    readonly maxBytes: number;
  };
}

const LOOPBACK = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])$/i;

export function compilePolicy(raw: RawConfig, baseDir: string): PolicyConfig {
  const p = raw.policy;
  const remote = /^https?:\/\//.test(p.bundle);
  if (remote) {
    const url = new URL(p.bundle);
    if (url.protocol === 'http:' && !LOOPBACK.test(url.hostname) && !p.download.allow_http_hosts.includes(url.hostname)) {
      throw new ConfigError('policy.bundle', `fetches over plain http from ${url.hostname}: use https, or name the host in policy.download.allow_http_hosts`);
    }
  }
  const required = p.require_signature ?? (remote || p.signing !== undefined);
  if (required && !p.signing) {
    throw new ConfigError('policy.signing', `${remote ? 'a remote bundle' : 'the bundle'} must be signed: set policy.signing.public_key, or policy.require_signature: false to accept unsigned bundles`);
  }
  let signing: PolicyConfig['signing'];
  if (p.signing && required) {
    const path = resolve(baseDir, p.signing.public_key);
    let pem: string;
    try {
      pem = readFileSync(path, 'utf8');
    } catch (err) {
      throw new ConfigError('policy.signing.public_key', `cannot be read (${(err as Error).message})`);
    }
    signing = { publicKeyPem: pem, algorithm: p.signing.algorithm, scope: p.signing.scope };
  }
  const d = p.download;
  if ((d.cert_file === undefined) !== (d.key_file === undefined)) throw new ConfigError('policy.download', 'cert_file and key_file go together (mTLS)');
  const file = (f: string | undefined) => (f === undefined ? undefined : resolve(baseDir, f));
  return {
    bundle: remote ? p.bundle : resolve(baseDir, p.bundle),
    remote,
    entrypoint: p.entrypoint,
    watch: p.watch,
    pollIntervalMs: requireDuration(p.poll_interval, 'policy.poll_interval'),
    decisionCache: { enabled: p.decision_cache.enabled, maxEntries: p.decision_cache.max_entries },
    signing,
    download: { bearerToken: d.bearer_token, certFile: file(d.cert_file), keyFile: file(d.key_file), caFile: file(d.ca_file), maxBytes: requireSize(d.max_bytes, 'policy.download.max_bytes') },
  };
}
