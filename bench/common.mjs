// What the bench scripts share: the signing key and tokens the gateway accepts, the scenarios, the
// ladder's steps, the EXTRA parser, pinning and the median.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';

/**
 * An issuer for one run: its JWKS written to `<dir>/jwks.json` (the gateway's JWKS_FILE) and `mint()`,
 * which signs a fresh token for support-bot (or `agent`; crm:read crm:write, plus `claims`) living `ttl` seconds — at most 900,
 * auth.max_token_ttl, so a long run mints one per configuration start.
 */
export async function benchIssuer(dir) {
  const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  const jwksFile = join(dir, 'jwks.json');
  writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'bench', alg: 'EdDSA' }] }));
  let minted = 0;
  const mint = (ttl = 900, agent = 'support-bot', claims = {}) => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ scope: 'crm:read crm:write', task_id: 'bench-task', ...claims })
      .setProtectedHeader({ alg: 'EdDSA', kid: 'bench' })
      .setIssuer('https://idp.bench').setAudience('portcullis').setSubject(agent).setJti(`bench-${++minted}`)
      .setIssuedAt(now).setExpirationTime(now + ttl).sign(privateKey);
  };
  return { jwksFile, mint };
}

/** Portcullis one feature at a time (bench/servers/gateway.mjs variables), up to the default. */
export const LADDER = [
  ['portcullis: routing + token, cache off', { TOKEN_CACHE: 'off', POLICY: 'off', AUDIT: 'off', OBSERVABILITY: 'off' }],
  ['portcullis: routing + token, cache on', { POLICY: 'off', AUDIT: 'off', OBSERVABILITY: 'off' }],
  ['portcullis: + policy', { AUDIT: 'off', OBSERVABILITY: 'off' }],
  ['portcullis: + audit (memory)', { AUDIT: 'memory', OBSERVABILITY: 'off' }],
  ['portcullis: + audit (file, group commit)', { OBSERVABILITY: 'off' }],
  ['portcullis: + metrics and logs = default', {}],
];
export const DEFAULT = 'portcullis: + metrics and logs = default';

/** EXTRA='logs at warn:LOG_LEVEL=warn;no metrics:OBSERVABILITY=off' → [['portcullis: logs at warn', {LOG_LEVEL: 'warn'}], …] */
export function extraConfigs(spec = '') {
  return spec.split(';').filter((s) => s.trim()).map((one) => {
    const at = one.indexOf(':');
    if (at < 1) throw new Error(`EXTRA: "${one}" is not <name>:VAR=value,…`);
    const vars = Object.fromEntries(one.slice(at + 1).split(',').filter(Boolean).map((kv) => {
      const eq = kv.indexOf('=');
      if (eq < 1) throw new Error(`EXTRA: "${kv}" is not VAR=value`);
      return [kv.slice(0, eq).trim(), kv.slice(eq + 1)];
    }));
    const label = one.slice(0, at).trim();
    return [vars.SERVER === 'bare' ? `bare @fastify/http-proxy: ${label}` : `portcullis: ${label}`, vars];
  });
}

/** The middle value; with an even count, the mean of the two middle ones. */
export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * A 95% confidence interval for the median of `xs`, free of any assumption about their distribution:
 * the k-th smallest and k-th largest values, k the largest with P(Binomial(n, ½) < k) ≤ 2.5%
 * (n = 6: the whole range; n = 12: the 3rd to the 10th). Undefined under 6 values, where even the
 * whole range covers the median less often than 95%.
 */
export function medianCi(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  let k = 0;
  let pmf = 0.5 ** n; // P(X = j), from j = 0
  let below = 0; // P(X ≤ j)
  for (let j = 0; j < n; j++) {
    below += pmf;
    if (below > 0.025) break;
    k = j + 1;
    pmf = (pmf * (n - j)) / (j + 1);
  }
  return k === 0 ? undefined : [s[k - 1], s[n - k]];
}

/** The calls a run can make (SCENARIO=): method, tool path, JSON body size, upstream delay. */
export const SCENARIOS = {
  get: { method: 'GET', path: '/tools/crm/contacts/c-1', bytes: 0, delay: 0, label: 'GET, 1 KB JSON answer' },
  json: { method: 'POST', path: '/tools/crm/contacts/c-1/notes', bytes: 2048, delay: 0, label: 'POST 2 KB JSON, 1 KB JSON answer' },
  '64k': { method: 'POST', path: '/tools/crm/contacts/c-1/notes', bytes: 65536, delay: 0, label: 'POST 64 KB JSON, 1 KB JSON answer' },
  slow: { method: 'POST', path: '/tools/crm/contacts/c-1/notes', bytes: 2048, delay: 5, label: 'POST 2 KB JSON, upstream takes 5 ms' },
};

/** Pins a process and all its threads to one core; false when taskset failed or is missing. */
export function taskset(pid, core) {
  return spawnSync('taskset', ['-a', '-p', '-c', String(core), String(pid)], { stdio: 'ignore' }).status === 0;
}

/** The p-th percentile (nearest rank) of `xs`. */
export function percentile(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

/** `p50 …, p99 …, max … (n samples)` of latencies in ms. */
export function latencies(xs) {
  return `p50 ${percentile(xs, 50).toFixed(1)} ms, p99 ${percentile(xs, 99).toFixed(1)} ms, max ${Math.max(...xs).toFixed(1)} ms (${xs.length} samples)`;
}
