/**
 * The policy engine: compiled Rego evaluated in-process with opa-wasm. It is the gateway's Decider.
 * A new bundle is loaded and smoke-evaluated before an atomic swap; a bundle that fails keeps the
 * last good one serving. With no bundle loaded every call is refused (policy_unavailable) and
 * /readyz says not ready. Any evaluation error or malformed output is a refusal, never an allow.
 */
import type { Registry } from '../directory/registry.js';
import type { RuntimeConfig } from '../config/compile.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { CallContext, Decision } from '../pipeline/context.js';
import type { Decider } from '../pipeline/decide.js';
import { describe, loadBundle, type LoadedBundle } from './bundle.js';
import { fileBundleSource, httpBundleSource, type BundleSource } from './bundle-source.js';
import { createBundleVerifier, type BundleVerifier } from './bundle-signature.js';
import { canonicalUtc, createInputBuilder, type PolicyInput } from './input.js';
import { createDecisionCache, type DecisionCache } from './decision-cache.js';
import { createCallMemo, type CallMemo } from './call-memo.js';

export type ReloadTrigger = 'start' | 'watch' | 'poll' | 'admin' | 'signal';

export interface ReloadResult {
  readonly ok: boolean;
  /** The revision serving after the attempt (the old one when the new bundle failed). */
  readonly revision: string | null;
  readonly previous: string | null;
  readonly changed: boolean;
  readonly error?: string;
  readonly durationMs: number;
}

export interface PolicyStatus {
  readonly active: boolean;
  readonly revision: string | null;
  readonly loadedAt: string | null;
  readonly lastError: string | null;
  /** Whether the active bundle's decisions are cached, and why not when they are not. */
  readonly cache: { readonly enabled: boolean; readonly entries: number; readonly why?: string; readonly firstLevel: boolean };
}

export interface PolicyEngine extends Decider {
  start(): Promise<void>;
  reload(trigger: ReloadTrigger): Promise<ReloadResult>;
  status(): PolicyStatus;
  close(): void;
}

/** The output contract: {allow: bool, approval_required: bool, reasons: [string]}. */
export class PolicyOutputError extends Error {
  override readonly name = 'PolicyOutputError';
}

export function createPolicyEngine(
  config: RuntimeConfig,
  deps: { metrics: Metrics; logger: Logger; source?: BundleSource; onLoad?: (result: ReloadResult, trigger: ReloadTrigger) => void; registry?: Pick<Registry, 'get' | 'has' | 'values' | 'size' | 'generation'> },
): PolicyEngine {
  const { metrics, logger } = deps;
  const { entrypoint } = config.policy;
  const source = deps.source ?? (config.policy.remote ? httpBundleSource(config.policy.bundle, config.policy.download) : fileBundleSource(config.policy.bundle));
  const signing = config.policy.signing;
  let verifier: BundleVerifier | undefined;
  const buildInput = createInputBuilder(config, deps.registry);
  let current: LoadedBundle | undefined;
  // Swapped together with `current`: a new bundle starts with an empty cache and memo.
  let cache: DecisionCache | undefined;
  let memo: CallMemo | undefined;
  let cacheOff: string | undefined;
  let loadedAt: string | null = null;
  let lastError: string | null = null;
  let stopWatching: (() => void) | undefined;
  let queue: Promise<unknown> = Promise.resolve();

  const decided = { allow: metrics.policyDecisions.labels('allow'), deny: metrics.policyDecisions.labels('deny'), approval: metrics.policyDecisions.labels('approval') };
  const cacheHit = metrics.policyCache.labels('hit');
  const cacheMiss = metrics.policyCache.labels('miss');

  function decide(ctx: CallContext): Decision {
    const bundle = current;
    if (!bundle) {
      metrics.policyDecisions.labels('error').inc();
      throw new PolicyOutputError('no policy bundle is loaded');
    }
    const m = memo;
    const remembered = m?.get(ctx);
    if (remembered) {
      cacheHit.inc();
      count(remembered);
      return remembered;
    }
    const input = buildInput(ctx);
    const c = cache;
    const key = c?.key(input);
    if (key !== undefined) {
      const hit = c!.get(key);
      if (hit) {
        m?.set(ctx, input, hit);
        cacheHit.inc();
        count(hit);
        return hit;
      }
      cacheMiss.inc();
    }
    const started = performance.now();
    let decision: Decision;
    try {
      decision = evaluate(bundle, input);
    } catch (err) {
      metrics.policyDecisions.labels('error').inc();
      logger.error({ err: describe(err), revision: bundle.revision, request_id: ctx.requestId }, 'policy evaluation failed');
      throw err;
    }
    metrics.policyEval.observe((performance.now() - started) / 1000);
    if (key !== undefined) c!.set(key, decision);
    m?.set(ctx, input, decision);
    count(decision);
    return decision;
  }

  function count(d: Decision): void {
    (d.approvalRequired ? decided.approval : d.allow ? decided.allow : decided.deny).inc();
  }

  function evaluate(bundle: LoadedBundle, input: PolicyInput): Decision {
    let rs: unknown;
    try {
      rs = bundle.policy.evaluate(input, bundle.entrypoint);
    } catch (err) {
      throw new PolicyOutputError(`evaluation failed: ${describe(err)}`);
    }
    return checkDecision(rs, bundle.revision);
  }

  function reload(trigger: ReloadTrigger): Promise<ReloadResult> {
    // One load at a time: a watch event during an admin reload waits its turn.
    const next = queue.then(() => load(trigger)).then((r) => {
      if (r.changed || !r.ok) deps.onLoad?.(r, trigger);
      return r;
    });
    queue = next.catch(() => undefined);
    return next;
  }

  async function load(trigger: ReloadTrigger): Promise<ReloadResult> {
    const started = performance.now();
    const previous = current?.revision ?? null;
    try {
      const fetched = await source.fetch();
      if (fetched.kind === 'unchanged') return { ok: true, revision: previous, previous, changed: false, durationMs: performance.now() - started };
      if (signing) verifier ??= await createBundleVerifier(signing.publicKeyPem, signing.algorithm, signing.scope);
      const bundle = await loadBundle(fetched.archive, entrypoint, verifier);
      // Smoke test: the new policy must answer a well-formed decision before it serves a call.
      evaluate(bundle, smokeInput());
      current = bundle;
      ({ cache, why: cacheOff } = cacheFor(bundle));
      // The first level finds a principal by identity, which only the token cache makes recur.
      memo = cache && config.auth.tokenCache.enabled ? createCallMemo(bundle.reads!.paths, config, config.policy.decisionCache.maxEntries, deps.registry?.generation) : undefined;
      loadedAt = new Date().toISOString();
      lastError = null;
      metrics.policyBundle.reset();
      metrics.policyBundle.set({ revision: bundle.revision }, 1);
      metrics.policyReloads.inc({ result: 'success', trigger });
      metrics.policyLastReload.set({ result: 'success' }, Date.now() / 1000);
      const result = { ok: true, revision: bundle.revision, previous, changed: bundle.revision !== previous, durationMs: performance.now() - started };
      logger.info({ trigger, revision: bundle.revision, previous, bytes: bundle.bytes, ms: Math.round(result.durationMs), decision_cache: cache ? 'on' : `off: ${cacheOff}` }, 'policy bundle loaded');
      return result;
    } catch (err) {
      lastError = describe(err);
      metrics.policyReloads.inc({ result: 'failure', trigger });
      metrics.policyLastReload.set({ result: 'failure' }, Date.now() / 1000);
      logger.error({ trigger, error: lastError, kept_revision: previous }, previous ? 'policy bundle rejected; the previous one keeps serving' : 'policy bundle rejected; no policy is active');
      return { ok: false, revision: previous, previous, changed: false, error: lastError, durationMs: performance.now() - started };
    }
  }

  function cacheFor(bundle: LoadedBundle): { cache?: DecisionCache; why?: string } {
    const { enabled, maxEntries } = config.policy.decisionCache;
    if (!enabled) return { why: 'policy.decision_cache.enabled is false' };
    if (!bundle.reads) return { why: 'the bundle does not say what its policy reads (build it with portcullis policy build)' };
    const made = createDecisionCache(bundle.reads, maxEntries);
    return made ? { cache: made } : { why: `the policy calls ${bundle.reads.impure.join(', ')}, whose answers change between calls` };
  }

  async function start(): Promise<void> {
    await reload('start');
    if (config.policy.remote) stopWatching = source.watch(() => void reload('poll'), config.policy.pollIntervalMs);
    else if (config.policy.watch) stopWatching = source.watch(() => void reload('watch'), config.policy.pollIntervalMs);
  }

  return {
    decide,
    start,
    reload,
    status: () => ({
      active: current !== undefined,
      revision: current?.revision ?? null,
      loadedAt,
      lastError,
      cache: { enabled: cache !== undefined, entries: cache?.size() ?? 0, firstLevel: memo !== undefined, ...(current && !cache ? { why: cacheOff } : {}) },
    }),
    close: () => stopWatching?.(),
  };
}

export function checkDecision(rs: unknown, revision: string): Decision {
  if (!Array.isArray(rs) || rs.length !== 1) throw new PolicyOutputError(`expected one result, got ${Array.isArray(rs) ? rs.length : typeof rs}`);
  const out = (rs[0] as { result?: unknown }).result as Record<string, unknown> | undefined;
  if (typeof out !== 'object' || out === null) throw new PolicyOutputError('the decision is not an object');
  const { allow, approval_required: approvalRequired, reasons } = out;
  if (typeof allow !== 'boolean') throw new PolicyOutputError('"allow" is not a boolean');
  if (typeof approvalRequired !== 'boolean') throw new PolicyOutputError('"approval_required" is not a boolean');
  if (!Array.isArray(reasons) || !reasons.every((r) => typeof r === 'string')) throw new PolicyOutputError('"reasons" is not a list of strings');
  return { allow, approvalRequired, reasons, revision };
}

function smokeInput(): PolicyInput {
  return {
    agent: { id: 'portcullis-smoke-test', roles: [], owner: '', max_classification: 'public', risk_profile: null, trust: { score: 0, level: 'untrusted' } },
    user: null,
    delegation: ['portcullis-smoke-test'],
    actors: [],
    token: { scopes: [], jti: 'smoke', iat: 0, exp: 0, task_id: null },
    tool: { name: 'smoke', classification: 'public' },
    operation: { name: 'smoke', action: 'read', risk: 'low' },
    request: { method: 'GET', path: '/', params: {}, query: {}, mcp: null },
    context: { time: canonicalUtc(Date.now()), ip: '127.0.0.1' },
  };
}
