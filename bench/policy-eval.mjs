// In-process evaluation time of the shipped policy (opa-wasm), and the input-serialisation
// alternatives opa-wasm offers. Run alone with `node bench/policy-eval.mjs`; bench/run.mjs calls it.
import { readFileSync } from 'node:fs';
import { loadBundle } from '../dist/policy/bundle.js';
import { checkDecision } from '../dist/policy/engine.js';
import { createDecisionCache } from '../dist/policy/decision-cache.js';

const BUNDLE = new URL('../policies/build/bundle.tar.gz', import.meta.url);

export function sampleInput() {
  return {
    agent: { id: 'support-bot', roles: ['support_agent'], owner: 'alice@example.com', max_classification: 'confidential', trust: { score: 50, level: 'standard' } },
    user: { id: 'alice@example.com', roles: ['support'], clearance: null },
    delegation: ['support-bot', 'alice@example.com'],
    actors: [],
    token: { scopes: ['crm:read', 'crm:write', 'ticketing:read'], jti: '5f0c3c1e-8a7e-4a51-9d8e-3f1b2a7c9d10', iat: 1795000000, exp: 1795000300, task_id: 'task-42' },
    tool: { name: 'crm', classification: 'confidential' },
    operation: { name: 'get-contact', action: 'read', risk: 'low' },
    request: { method: 'GET', path: '/contacts/c-1', params: { id: 'c-1' }, query: { fields: ['name'] }, mcp: null },
    context: { time: new Date().toISOString().slice(0, 19) + 'Z', ip: '127.0.0.1' },
  };
}

function percentiles(samples) {
  samples.sort((a, b) => a - b);
  const at = (p) => samples[Math.min(samples.length - 1, Math.floor(p * samples.length))];
  return { p50_us: round(at(0.5)), p99_us: round(at(0.99)), p999_us: round(at(0.999)) };
}
const round = (x) => Math.round(x * 100) / 100;

function measure(fn, n) {
  for (let i = 0; i < 5000; i++) fn();
  const samples = new Array(n);
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    fn();
    samples[i] = Number(process.hrtime.bigint() - t) / 1000;
  }
  return percentiles(samples);
}

export async function policyEvalBench(n = 50_000) {
  const bundle = await loadBundle(readFileSync(BUNDLE), 'portcullis/decision');
  const input = sampleInput();
  const ep = bundle.entrypoint;
  const decision = checkDecision(bundle.policy.evaluate(input, ep), bundle.revision);
  if (!decision.allow) throw new Error(`the sample call should be allowed: ${decision.reasons}`);
  // The decision cache (src/policy/decision-cache.ts): a call that differs from one already decided
  // only in what the policy does not read (here the record id and the token id) costs its key.
  const cache = createDecisionCache(bundle.reads, 10_000);
  cache.set(cache.key(input), decision);
  let i = 0;
  const another = () => ({ ...input, token: { ...input.token, jti: `j-${++i}` }, request: { ...input.request, path: `/contacts/c-${i}`, params: { id: `c-${i}` } } });
  const rows = [
    ['evaluate(object): JSON.stringify + TextEncoder inside opa-wasm (what the gateway does)', () => bundle.policy.evaluate(input, ep)],
    ['evaluate(ArrayBuffer): JSON.stringify + Buffer.from by the caller', () => {
      const b = Buffer.from(JSON.stringify(input));
      bundle.policy.evaluate(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength), ep);
    }],
    ['JSON.stringify(input) alone', () => JSON.stringify(input)],
    ['evaluate + output check (the engine\'s whole decide, minus input building)', () => checkDecision(bundle.policy.evaluate(input, ep), bundle.revision)],
    ['decision cache hit: key of what the policy reads + lookup (another record, another token)', () => {
      if (cache.get(cache.key(another())) !== decision) throw new Error('expected a cache hit');
    }],
  ].map(([name, fn]) => ({ name, ...measure(fn, n) }));
  return { revision: bundle.revision, input_bytes: Buffer.byteLength(JSON.stringify(input)), rows };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await policyEvalBench();
  console.log(`shipped policy ${r.revision.slice(0, 19)}…, input ${r.input_bytes} bytes`);
  for (const row of r.rows) console.log(`${row.name.padEnd(90)} p50 ${row.p50_us} µs   p99 ${row.p99_us} µs   p99.9 ${row.p999_us} µs`);
}
