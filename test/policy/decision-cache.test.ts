import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { opaBinary, opaOutput, runOpa } from '../../src/cli/opa.js';
import { compileConfig } from '../../src/config/compile.js';
import { validate } from '../../src/config/load.js';
import { loadBundle } from '../../src/policy/bundle.js';
import { createDecisionCache } from '../../src/policy/decision-cache.js';
import { checkDecision, createPolicyEngine } from '../../src/policy/engine.js';
import { inputReads } from '../../src/policy/input-reads.js';
import type { PolicyInput } from '../../src/policy/input.js';
import { fileBundleSource } from '../../src/policy/bundle-source.js';
import { createLogger } from '../../src/observability/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { CallAbort } from '../../src/pipeline/call-abort.js';
import type { CallContext, Decision } from '../../src/pipeline/context.js';
import { createTestIssuer, type TestIssuer } from '../helpers/issuer.js';
import { startUpstream, type RecordingUpstream } from '../helpers/upstream.js';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { send } from '../helpers/http.js';
import { buildPolicyBundle, SHIPPED_BUNDLE } from '../helpers/policy.js';
import { shippedCatalogue } from '../e2e/shipped-catalogue.js';

function readsOf(rego: string) {
  const file = join(mkdtempSync(join(tmpdir(), 'portcullis-reads-')), 'p.rego');
  writeFileSync(file, rego);
  return inputReads([JSON.parse(opaOutput(['parse', '--format', 'json', file]))]);
}

describe('what a policy reads of its input (from the Rego syntax tree)', () => {
  it('takes the constant prefix of each input reference, indexes included', () => {
    const r = readsOf(`package p
allow if input.a.b == 1
x := input.c[_]
y if input.d[input.e.f] == 2
z := input.a.b.c`);
    expect(r).toEqual({ paths: [['a', 'b'], ['c'], ['d'], ['e', 'f']], impure: [] });
  });

  it('reads the whole input when input is passed as a value', () => {
    expect(readsOf('package p\nx := object.get(input, "a", 0)').paths).toBeNull();
    expect(readsOf('package p\nx := walk(input)').paths).toBeNull();
  });

  it('follows an import of part of the input', () => {
    expect(readsOf('package p\nimport input.request as r\nallow if r.params.id == "1"').paths).toEqual([['request']]);
  });

  it('marks a policy that reads the clock or the network as impure', () => {
    expect(readsOf('package p\nallow if time.now_ns() > input.t').impure).toEqual(['time.now_ns']);
    expect(readsOf('package p\nx := http.send({"method": "GET", "url": input.u})').impure).toEqual(['http.send']);
    expect(readsOf('package p\nx := time.parse_rfc3339_ns(input.t)').impure).toEqual([]);
  });

  it('finds that the shipped policy reads neither path parameters, the token id nor the client address', async () => {
    const bundle = await loadBundle(readFileSync(SHIPPED_BUNDLE), 'portcullis/decision');
    const paths = bundle.reads!.paths!.map((p) => p.join('.'));
    expect(bundle.reads!.impure).toEqual([]);
    expect(paths).toContain('agent.id');
    expect(paths).toContain('context.time');
    for (const unread of ['request.params', 'request.path', 'token.jti', 'context.ip', 'agent.trust.score']) expect(paths).not.toContain(unread);
  });
});

/** A seeded generator, so a failure can be replayed. */
function random(seed: number) {
  let s = seed >>> 0;
  return <T>(xs: readonly T[]): T => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return xs[(s >>> 16) % xs.length]!;
  };
}

describe('the decision cache never answers differently from an evaluation', () => {
  it('agrees with a fresh evaluation on 3,000 varied inputs, a third of them cache hits', async () => {
    const bundle = await loadBundle(readFileSync(SHIPPED_BUNDLE), 'portcullis/decision');
    const cache = createDecisionCache(bundle.reads!, 10_000)!;
    const pick = random(7);
    const agents = [
      ['support-bot', ['support_agent']],
      ['finance-bot', ['finance_agent']],
      ['sales-bot', ['sales_ops_agent']],
      ['intern-bot', ['support_agent', 'it_ops_agent']],
    ] as const;
    const tools: readonly (readonly [string, string, readonly (readonly [string, string, string])[]])[] = [
      ['crm', 'confidential', [['get-contact', 'read', 'low'], ['add-note', 'write', 'low'], ['export', 'export', 'high']]],
      ['payments', 'regulated', [['list-payments', 'read', 'low'], ['create-payment', 'write', 'high']]],
      ['ticketing', 'internal', [['list-tickets', 'read', 'low'], ['create-ticket', 'write', 'low']]],
    ];
    const users = [null, { id: 'alice@example.com', roles: ['support'], clearance: null }, { id: 'eve@example.com', roles: ['it_ops'], clearance: 'internal' }];
    let hits = 0;
    for (let i = 0; i < 3000; i++) {
      const [id, roles] = pick(agents);
      const ceiling = pick(['internal', 'confidential', 'regulated']);
      const [tool, usual, ops] = pick(tools);
      const classification = pick([usual, usual, 'public', 'regulated']);
      const [op, action, risk] = pick(ops);
      const user = pick(users);
      const input: PolicyInput = {
        agent: { id, roles, owner: 'alice@example.com', max_classification: ceiling, risk_profile: pick([null, 'high']), trust: { score: pick([10, 35, 55, 75, 95]), level: pick(['provisional', 'standard', 'trusted']) } },
        user,
        delegation: user ? [user.id, id] : [id],
        actors: [],
        token: { scopes: [`${tool}:${action}`], jti: `j-${i}`, iat: 0, exp: 0, task_id: pick([null, 't-1']) },
        tool: { name: tool, classification },
        operation: { name: op, action, risk },
        request: { method: 'GET', path: `/x/${i}`, params: { id: `c-${i}` }, query: {}, mcp: null },
        context: { time: pick(['2026-12-02T10:00:00Z', '2026-12-02T10:00:01Z']), ip: pick(['10.0.0.1', '127.0.0.1']) },
      };
      const fresh = checkDecision(bundle.policy.evaluate(input, bundle.entrypoint), bundle.revision);
      const key = cache.key(input)!;
      const cached = cache.get(key);
      if (cached) {
        hits++;
        expect(cached, `input ${i}`).toEqual(fresh);
      } else {
        cache.set(key, fresh);
      }
    }
    expect(hits).toBeGreaterThan(500);
  });

  it('keeps null and absent apart, and drops keys too long to be worth keeping', () => {
    const cache = createDecisionCache({ paths: [['user', 'id'], ['request', 'mcp']], impure: [] }, 10)!;
    const base = { request: { mcp: null } } as unknown as PolicyInput;
    expect(cache.key({ ...base, user: null })).not.toBe(cache.key({ ...base, user: { id: null } } as unknown as PolicyInput));
    const big = { user: null, request: { mcp: { method: 'tools/call', tool: 't', arguments: { blob: 'x'.repeat(5000) }, revision: null } } } as unknown as PolicyInput;
    expect(cache.key(big)).toBeUndefined();
  });

  // (opa-wasm itself implements none of these builtins today: such a bundle fails to load.)
  it('is not made for a policy that calls an impure builtin', () => {
    expect(createDecisionCache({ paths: [['a']], impure: ['time.now_ns'] }, 10)).toBeUndefined();
  });
});

describe('the policy engine and its cache', () => {
  const raw = validate({
    auth: { issuers: [{ issuer: 'https://idp.test', jwks_file: '/nonexistent/jwks.json', audiences: ['portcullis'] }] },
    agents: { 'support-bot': { owner: 'alice@example.com', roles: ['support_agent'], max_classification: 'confidential' } },
    tools: { crm: { upstream: 'http://127.0.0.1:9', classification: 'confidential', operations: [{ name: 'get-contact', method: 'GET', path: '/contacts/:id', action: 'read' }] } },
  });
  const config = compileConfig(raw, process.cwd());
  const ctx = (id: string): CallContext => {
    const tool = config.tools.get('crm')!;
    return {
      requestId: id,
      startedAt: 0,
      method: 'GET',
      url: `/tools/crm/contacts/${id}`,
      clientIp: '127.0.0.1',
      raw: undefined as never,
      abort: new CallAbort(),
      principal: { agentId: 'support-bot', userId: null, userRoles: [], userClearance: null, delegation: ['support-bot'], scopes: new Set(['crm:read']), jti: id, iat: 0, exp: 0, taskId: null } as never,
      agent: config.agents.get('support-bot')!,
      tool,
      operation: tool.operations[0]!,
      params: { id },
      segments: ['contacts', id],
    };
  };
  const engine = (bundle: string, cache = true) => {
    const metrics = createMetrics({ defaultMetrics: false });
    const cfg = { ...config, policy: { ...config.policy, decisionCache: { enabled: cache, maxEntries: 100 } } };
    const e = createPolicyEngine(cfg, { metrics, logger: createLogger({ level: 'silent' }), source: fileBundleSource(bundle) });
    return { e, metrics };
  };
  const count = async (metrics: ReturnType<typeof createMetrics>, name: string, label: string) => {
    const m = (await metrics.registry.getSingleMetric(name)!.get()).values.find((v) => Object.values(v.labels).includes(label));
    return m?.value ?? 0;
  };

  it('evaluates once for calls that differ only in what the policy does not read', async () => {
    const { e, metrics } = engine(SHIPPED_BUNDLE);
    await e.start();
    const decisions = ['c-1', 'c-2', 'c-3', 'c-4'].map((id) => e.decide(ctx(id)));
    for (const d of decisions) expect(d).toMatchObject({ allow: true, approvalRequired: false });
    expect(await count(metrics, 'portcullis_policy_cache_total', 'miss')).toBeLessThanOrEqual(2); // 2: a second boundary
    expect(await count(metrics, 'portcullis_policy_cache_total', 'hit')).toBeGreaterThanOrEqual(2);
    expect(e.status().cache).toMatchObject({ enabled: true });
    expect(e.status().cache.entries).toBeGreaterThan(0);
  });

  it('starts empty on every reload, so a changed policy is never answered from the old one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-reload-'));
    const file = join(dir, 'bundle.tar.gz');
    writeFileSync(file, readFileSync(SHIPPED_BUNDLE));
    const { e } = engine(file);
    await e.start();
    expect((e.decide(ctx('c-1')) as Decision).allow).toBe(true);
    expect(e.status().cache.entries).toBe(1);
    writeFileSync(file, readFileSync(await buildPolicyBundle({ editData: (y) => y.replace('crm: { read: "*", write: [add-note] }', 'crm: { write: [add-note] }') })));
    expect((await e.reload('admin')).changed).toBe(true);
    expect(e.status().cache.entries).toBe(0);
    expect((e.decide(ctx('c-1')) as Decision).allow).toBe(false);
  }, 120_000);

  it('is off, and says why, for a bundle built by plain opa build or when disabled', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-plain-'));
    const plain = join(dir, 'plain.tar.gz');
    expect(runOpa(['build', '-t', 'wasm', '-e', 'portcullis/decision', '--ignore', '*_test.rego', '--ignore', 'build', '-o', plain, join(SHIPPED_BUNDLE, '..', '..')])).toBe(0);
    const a = engine(plain).e;
    await a.start();
    expect(a.status().cache).toMatchObject({ enabled: false, why: expect.stringContaining('portcullis policy build') });

    const c = engine(SHIPPED_BUNDLE, false).e;
    await c.start();
    c.decide(ctx('c-1'));
    expect(c.status().cache).toMatchObject({ enabled: false, entries: 0, why: expect.stringContaining('decision_cache.enabled') });
  }, 120_000);
});

describe('the decision cache through the whole gateway', () => {
  let issuer: TestIssuer;
  let up: RecordingUpstream;
  let gw: RunningGateway;
  beforeAll(async () => {
    issuer = await createTestIssuer();
    up = await startUpstream();
    gw = await startGateway(
      shippedCatalogue(issuer, up, { bundle: SHIPPED_BUNDLE }, {
        agents: { 'intern-bot': { owner: 'alice@example.com', roles: ['support_agent'], max_classification: 'internal' } },
        breakGlass: BREAK_GLASS,
      }),
      { policy: true },
    );
  });
  afterAll(async () => {
    await gw.close();
    await up.close();
  });
  const BREAK_GLASS = 'break-glass-decision-cache-0f1e2d3c';
  const get = (token: string, path: string) => send(gw.proxyUrl, { method: 'GET', path, headers: { authorization: `Bearer ${token}` } });

  it('serves an agent reading many records from one decision, and never lends it to another caller', async () => {
    const support = await issuer.token('support-bot', 'crm:read');
    // (gateway.yaml's rate limit for an agent on one tool allows a burst of 20.)
    for (let i = 0; i < 12; i++) expect((await get(support, `/tools/crm/contacts/c-${i}`)).status).toBe(200);
    const cache = await gw.gateway.metrics.registry.getSingleMetricAsString('portcullis_policy_cache_total');
    expect(Number(/result="hit"} (\d+)/.exec(cache)?.[1])).toBeGreaterThanOrEqual(9);

    // Same tool, operation and path, a moment later: an agent whose ceiling is below the tool's…
    const intern = await get(await issuer.token('intern-bot', 'crm:read'), '/tools/crm/contacts/c-1');
    expect(intern.status).toBe(403);
    expect(intern.json().reasons).toContain("tool crm is confidential, above agent intern-bot's ceiling internal");
    // …and the same agent acting for a user whose roles do not grant it.
    const eve = await issuer.sign({ sub: 'eve@example.com', act: { sub: 'support-bot' }, roles: ['it_ops'], scope: 'crm:read' });
    expect((await get(eve, '/tools/crm/contacts/c-1')).status).toBe(403);
    expect((await get(support, '/tools/crm/contacts/c-1')).status).toBe(200);

    const status = await send(gw.adminUrl, { path: '/admin/policy', headers: { authorization: `Bearer ${BREAK_GLASS}` } });
    expect(status.json().decision_cache).toMatchObject({ enabled: true });
    expect(status.json().decision_cache.entries).toBeGreaterThanOrEqual(3);
  });
});
