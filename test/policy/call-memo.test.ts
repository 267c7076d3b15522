import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Principal } from '../../src/auth/principal.js';
import type { RuntimeConfig } from '../../src/config/compile.js';
import { loadBundle } from '../../src/policy/bundle.js';
import { createCallMemo } from '../../src/policy/call-memo.js';
import { checkDecision, createPolicyEngine } from '../../src/policy/engine.js';
import { callReads, createInputBuilder } from '../../src/policy/input.js';
import { fileBundleSource } from '../../src/policy/bundle-source.js';
import { createLogger } from '../../src/observability/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { CallAbort } from '../../src/pipeline/call-abort.js';
import type { CallContext, Decision } from '../../src/pipeline/context.js';
import type { McpCall } from '../../src/mcp/protocol.js';
import { buildPolicyBundle, SHIPPED_BUNDLE } from '../helpers/policy.js';
import { shippedCatalogue } from '../e2e/shipped-catalogue.js';

// The repo's gateway.yaml; the issuer and upstream are never contacted here.
const config: RuntimeConfig = shippedCatalogue({ issuer: 'https://idp.test', jwksFile: '/nonexistent/jwks.json' } as never, { url: 'http://127.0.0.1:9' } as never, {});

function principal(agentId: string, user: { id: string; roles: string[] } | null, scopes: string[], jti: string): Principal {
  return {
    agentId,
    userId: user?.id ?? null,
    userRoles: user?.roles ?? [],
    userClearance: null,
    delegation: user ? [agentId, user.id] : [agentId],
    actors: [agentId],
    scopes: new Set(scopes),
    jti,
    issuer: 'https://idp.test',
    iat: 0,
    exp: 0,
    taskId: null,
    agentVersion: null,
    parents: [],
    jkt: null,
  };
}

function call(p: Principal, tool: string, op: string, extra: Partial<CallContext> = {}): CallContext {
  const t = config.tools.get(tool)!;
  return {
    requestId: 'r',
    startedAt: 0,
    method: 'GET',
    url: `/tools/${tool}/x`,
    clientIp: '127.0.0.1',
    raw: undefined as never,
    abort: new CallAbort(),
    principal: p,
    agent: config.agents.get(p.agentId)!,
    tool: t,
    operation: t.operations.find((o) => o.name === op)!,
    params: {},
    segments: ['x'],
    ...extra,
  };
}

/** A seeded generator, so a failure can be replayed. */
function random(seed: number) {
  let s = seed >>> 0;
  return <T>(xs: readonly T[]): T => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return xs[(s >>> 16) % xs.length]!;
  };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('what a policy reads of the call itself', () => {
  it('finds the time, the trust level and the MCP message in the shipped policy', async () => {
    const bundle = await loadBundle(readFileSync(SHIPPED_BUNDLE), 'portcullis/decision');
    expect(callReads(bundle.reads!.paths)).toEqual({ time: true, ip: false, trustLevel: true, trustScore: false, mcp: true });
  });

  it('splits whole parts into what they hold', () => {
    expect(callReads([['agent'], ['context']])).toEqual({ time: true, ip: true, trustLevel: true, trustScore: true, mcp: false });
    expect(callReads([['agent', 'trust', 'score'], ['context', 'ip'], ['user'], ['token', 'jti']])).toEqual({ time: false, ip: true, trustLevel: false, trustScore: true, mcp: false });
  });

  it('gives up on what only the whole input stands for, and on what it does not know', () => {
    for (const paths of [null, [['request']], [['request', 'path']], [['request', 'params', 'id']], [['request', 'query']], [['request', 'method']], [['context', 'region']], [['agent', 'mood']], [['agent', 'trust', 'history']], [['something_new']]]) {
      expect(callReads(paths), JSON.stringify(paths)).toBeUndefined();
    }
  });

  // callReads places every part of the input document by name. A field added to PolicyInput must be
  // placed there too (fixed for a principal and an operation, or the call's own): this fails until it is.
  it('knows every part the input builder writes', () => {
    const p = principal('support-bot', { id: 'alice@example.com', roles: ['support'] }, ['crm:read'], 'j');
    const input = createInputBuilder(config)(call(p, 'crm', 'get-contact', { trust: { score: 80, level: 'trusted' } }));
    expect(Object.keys(input).sort()).toEqual(['actors', 'agent', 'context', 'delegation', 'operation', 'request', 'token', 'tool', 'user']);
    expect(Object.keys(input.agent).sort()).toEqual(['id', 'max_classification', 'owner', 'risk_profile', 'roles', 'trust']);
    expect(Object.keys(input.agent.trust).sort()).toEqual(['level', 'score']);
    expect(Object.keys(input.context).sort()).toEqual(['ip', 'time']);
  });
});

describe('the decision cache\'s first level never answers differently from an evaluation', () => {
  it('agrees with a fresh evaluation of the shipped policy on 3,000 varied calls, a sixth of them answered from it', async () => {
    const bundle = await loadBundle(readFileSync(SHIPPED_BUNDLE), 'portcullis/decision');
    const memo = createCallMemo(bundle.reads!.paths, config, 10_000)!;
    const buildInput = createInputBuilder(config);
    const pick = random(11);
    // Tokens are reused, as the token cache reuses their principals.
    const principals = [
      principal('support-bot', null, ['crm:read', 'crm:write', 'ticketing:read', 'tracker:read', 'tracker:write'], 'a'),
      principal('support-bot', { id: 'alice@example.com', roles: ['support'] }, ['crm:read', 'crm:export'], 'b'),
      principal('finance-bot', null, ['payments:read', 'payments:write', 'payments:approve', 'payments:admin'], 'c'),
      principal('sales-bot', { id: 'bob@example.com', roles: ['sales'] }, ['crm:read', 'crm:write', 'crm:export', 'email:write'], 'd'),
      principal('itops-bot', null, ['ticketing:read', 'ticketing:write', 'warehouse:read', 'warehouse:export'], 'e'),
    ];
    const routes = [
      ['crm', 'get-contact'], ['crm', 'add-note'], ['crm', 'export'], ['payments', 'create-payment'], ['payments', 'update-bank'],
      ['ticketing', 'create-ticket'], ['warehouse', 'export-view'], ['email', 'send'], ['tracker', 'create_issue'],
    ] as const;
    const levels = ['untrusted', 'provisional', 'standard', 'elevated', 'trusted'] as const;
    const mcps: (McpCall | undefined)[] = [
      undefined,
      undefined,
      { transport: 'message', kind: 'request', method: 'tools/call', tool: 'create_issue', arguments: { priority: 9 }, revision: null, modern: false, session: null },
      { transport: 'message', kind: 'request', method: 'tools/call', tool: 'create_issue', arguments: { priority: 1 }, revision: null, modern: false, session: null },
    ];
    let hits = 0;
    const outcomes = new Set<string>();
    for (let i = 0; i < 3000; i++) {
      const [tool, op] = pick(routes);
      const ctx = call(pick(principals), tool, op, {
        trust: { score: pick([10, 40, 60, 85]), level: pick(levels) },
        clientIp: pick(['10.0.0.1', '127.0.0.1']),
        mcp: tool === 'tracker' ? pick(mcps) : undefined,
      });
      const input = buildInput(ctx);
      const fresh = checkDecision(bundle.policy.evaluate(input, bundle.entrypoint), bundle.revision);
      outcomes.add(`${fresh.allow}/${fresh.approvalRequired}`);
      const remembered = memo.get(ctx);
      if (remembered) {
        hits++;
        expect(remembered, `call ${i}: ${JSON.stringify(input)}`).toEqual(fresh);
      } else {
        memo.set(ctx, input, fresh);
      }
    }
    // One entry per principal and operation, and the level moves at random here: ≈ 1 in 5 is a hit.
    expect(hits).toBeGreaterThan(400);
    // Allowed, denied and held calls all went through it.
    expect(outcomes.size).toBe(3);
  });

  it('compares the client address and the trust score when the policy reads them', async () => {
    const file = await buildPolicyBundle({
      rego: `package portcullis
default allow := false
allow if {
  input.context.ip == "10.0.0.1"
  input.agent.trust.score >= 50
}
decision := {"allow": allow, "approval_required": false, "reasons": []}`,
    });
    const bundle = await loadBundle(readFileSync(file), 'portcullis/decision');
    const memo = createCallMemo(bundle.reads!.paths, config, 100)!;
    expect(memo).toBeDefined();
    const buildInput = createInputBuilder(config);
    const p = principal('support-bot', null, ['crm:read'], 'a');
    const decide = (ctx: CallContext): boolean => {
      const m = memo.get(ctx);
      if (m) return m.allow;
      const input = buildInput(ctx);
      const d = checkDecision(bundle.policy.evaluate(input, bundle.entrypoint), bundle.revision);
      memo.set(ctx, input, d);
      return d.allow;
    };
    const at = (clientIp: string, score: number) => call(p, 'crm', 'get-contact', { clientIp, trust: { score, level: 'standard' } });
    expect(decide(at('10.0.0.1', 60))).toBe(true);
    expect(decide(at('10.0.0.1', 60))).toBe(true);
    expect(decide(at('10.0.0.2', 60))).toBe(false);
    expect(decide(at('10.0.0.1', 40))).toBe(false);
    expect(decide(at('10.0.0.1', 60))).toBe(true);
  }, 120_000);

  it('forgets what it holds when the second turns', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-12-03T10:00:00.100Z'));
    const memo = createCallMemo([['context', 'time'], ['agent', 'id']], config, 100)!;
    const buildInput = createInputBuilder(config);
    const ctx = call(principal('support-bot', null, ['crm:read'], 'a'), 'crm', 'get-contact');
    const d: Decision = { allow: true, approvalRequired: false, reasons: [], revision: 'r' };
    expect(memo.get(ctx)).toBeUndefined();
    memo.set(ctx, buildInput(ctx), d);
    vi.setSystemTime(new Date('2026-12-03T10:00:00.900Z'));
    expect(memo.get(ctx)).toBe(d);
    vi.setSystemTime(new Date('2026-12-03T10:00:01.000Z'));
    expect(memo.get(ctx)).toBeUndefined();
    // An entry made on an input from another second is not served, even when set in this one.
    vi.setSystemTime(new Date('2026-12-03T10:00:00.500Z'));
    const old = buildInput(ctx);
    vi.setSystemTime(new Date('2026-12-03T10:00:01.500Z'));
    memo.set(ctx, old, d);
    expect(memo.get(ctx)).toBeUndefined();
  });

  it('tells principals, operations and registry entries apart, and stays within its bound', () => {
    const memo = createCallMemo([['agent', 'id'], ['operation', 'name']], config, 2)!;
    const buildInput = createInputBuilder(config);
    const d = (n: string): Decision => ({ allow: true, approvalRequired: false, reasons: [n], revision: 'r' });
    const a = principal('support-bot', null, ['crm:read'], 'a');
    const b = principal('support-bot', null, ['crm:read'], 'b');
    const c = principal('support-bot', null, ['crm:read'], 'c');
    const get = call(a, 'crm', 'get-contact');
    memo.set(get, buildInput(get), d('a-get'));
    expect(memo.get(call(a, 'crm', 'get-contact'))).toEqual(d('a-get'));
    expect(memo.get(call(a, 'crm', 'list-contacts'))).toBeUndefined();
    expect(memo.get(call(b, 'crm', 'get-contact'))).toBeUndefined();
    // The same principal under another registry entry (a config the memo was not made for).
    expect(memo.get({ ...get, agent: { ...get.agent! } })).toBeUndefined();
    const bGet = call(b, 'crm', 'get-contact');
    memo.set(bGet, buildInput(bGet), d('b-get'));
    const cGet = call(c, 'crm', 'get-contact');
    memo.set(cGet, buildInput(cGet), d('c-get')); // a third principal: the memo starts over
    expect(memo.get(call(a, 'crm', 'get-contact'))).toBeUndefined();
    expect(memo.get(call(c, 'crm', 'get-contact'))).toEqual(d('c-get'));
  });

  it('is not made for a policy that reads the request path, or with no bound', () => {
    expect(createCallMemo([['request', 'path']], config, 100)).toBeUndefined();
    expect(createCallMemo(null, config, 100)).toBeUndefined();
    expect(createCallMemo([['agent', 'id']], config, 0)).toBeUndefined();
  });
});

describe('the policy engine with its first level', () => {
  const engine = (bundle: string, cfg: RuntimeConfig = config) => {
    const metrics = createMetrics({ defaultMetrics: false });
    return createPolicyEngine(cfg, { metrics, logger: createLogger({ level: 'silent' }), source: fileBundleSource(bundle) });
  };

  it('answers a reused token from it, and starts empty on a reload', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const file = join(mkdtempSync(join(tmpdir(), 'portcullis-memo-reload-')), 'bundle.tar.gz');
    writeFileSync(file, readFileSync(SHIPPED_BUNDLE));
    const e = engine(file);
    await e.start();
    expect(e.status().cache.firstLevel).toBe(true);
    const p = principal('support-bot', null, ['crm:read', 'crm:write'], 'a');
    const ctx = () => call(p, 'crm', 'add-note', { trust: { score: 60, level: 'standard' } });
    const first = e.decide(ctx()) as Decision;
    expect(first.allow).toBe(true);
    expect(e.decide(ctx())).toBe(first);
    writeFileSync(file, readFileSync(await buildPolicyBundle({ editData: (y) => y.replace('crm: { read: "*", write: [add-note] }', 'crm: { read: "*" }') })));
    expect((await e.reload('admin')).changed).toBe(true);
    expect((e.decide(ctx()) as Decision).allow).toBe(false);
  }, 120_000);

  it('has none when the token cache is off (no principal is seen twice) or the decision cache is', async () => {
    const noTokenCache = engine(SHIPPED_BUNDLE, { ...config, auth: { ...config.auth, tokenCache: { ...config.auth.tokenCache, enabled: false } } });
    await noTokenCache.start();
    expect(noTokenCache.status().cache).toMatchObject({ enabled: true, firstLevel: false });
    const noCache = engine(SHIPPED_BUNDLE, { ...config, policy: { ...config.policy, decisionCache: { ...config.policy.decisionCache, enabled: false } } });
    await noCache.start();
    expect(noCache.status().cache).toMatchObject({ enabled: false, firstLevel: false });
  });
});
