/**
 * The policy input document (SPEC "Policy"; docs/policies.md field by field). Parts that do not
 * change between calls — the agent's registry entry, the tool, the operation — are built once and
 * reused, so a call only allocates what is its own. Fields are only ever added (versioned contract).
 */
import type { AgentLookup } from '../directory/registry.js';
import type { AgentEntry, OperationRoute, RuntimeConfig, ToolRoute } from '../config/compile.js';
import type { CallContext } from '../pipeline/context.js';
import { baselineFor, type TrustNow } from '../trust/score.js';

export interface PolicyInput {
  agent: { id: string; roles: readonly string[]; owner: string; max_classification: string; risk_profile: string | null; trust: { score: number; level: string } };
  user: { id: string; roles: readonly string[]; clearance: string | null } | null;
  delegation: readonly string[];
  actors: readonly { id: string; type: 'agent'; registered: boolean; roles: readonly string[] }[];
  token: { scopes: readonly string[]; jti: string; iat: number; exp: number; task_id: string | null };
  tool: { name: string; classification: string };
  operation: { name: string; action: string; risk: string };
  request: {
    method: string;
    path: string;
    params: Readonly<Record<string, string>>;
    query: Record<string, string[]>;
    mcp: { method: string; tool: string | null; arguments: Record<string, unknown> | null; uri: string | null; prompt: string | null; revision: string | null } | null;
  };
  context: { time: string; ip: string };
}

export type InputBuilder = (ctx: CallContext) => PolicyInput;

export function createInputBuilder(config: RuntimeConfig, registry: AgentLookup = config.agents): InputBuilder {
  // By entry, built on first use: a registry change makes a new entry (and the old one's input goes with it).
  const agents = new WeakMap<AgentEntry, Omit<PolicyInput['agent'], 'trust'>>();
  const agentPart = (a: AgentEntry) => {
    let part = agents.get(a);
    if (part === undefined) agents.set(a, (part = agentInput(a)));
    return part;
  };
  const tools = new Map<ToolRoute, PolicyInput['tool']>();
  const ops = new Map<OperationRoute, PolicyInput['operation']>();
  for (const t of config.tools.values()) {
    tools.set(t, Object.freeze({ name: t.name, classification: t.classification }));
    for (const op of t.operations) ops.set(op, Object.freeze({ name: op.name, action: op.action, risk: op.risk }));
  }

  return function buildInput(ctx: CallContext): PolicyInput {
    const p = ctx.principal!;
    const agent = ctx.agent!;
    const trust = trustInput(ctx, config);
    return {
      agent: { ...agentPart(agent), trust },
      user: p.userId === null ? null : { id: p.userId, roles: p.userRoles, clearance: p.userClearance },
      delegation: p.delegation,
      // Intermediate actors of a delegation chain (neither the presenting agent nor the user).
      actors: p.delegation.length > 2 ? p.delegation.slice(1, -1).map((id) => actorInput(registry, id)) : [],
      token: { scopes: [...p.scopes], jti: p.jti, iat: p.iat, exp: p.exp, task_id: p.taskId },
      tool: tools.get(ctx.tool!)!,
      operation: ops.get(ctx.operation!)!,
      request: {
        method: ctx.method,
        path: '/' + (ctx.segments ?? []).join('/'),
        params: ctx.params ?? {},
        query: parseQuery(ctx.query ?? ''),
        mcp: ctx.mcp?.method === undefined ? null : { method: ctx.mcp.method, tool: ctx.mcp.tool ?? null, arguments: ctx.mcp.arguments ?? null, uri: ctx.mcp.uri ?? null, prompt: ctx.mcp.prompt ?? null, revision: ctx.mcp.revision },
      },
      context: { time: currentTime(), ip: ctx.clientIp },
    };
  };
}

/** The live score the guard read (src/trust); its resting value where no guard ran (policy eval). */
export function trustInput(ctx: CallContext, config: RuntimeConfig): TrustNow {
  const agent = ctx.agent!;
  return ctx.trust ?? { score: baselineFor(agent.trustLevel, config.trust.levels), level: agent.trustLevel };
}

// The policy compares times to the second: one string per second, not one Date per call.
let second = -1;
let time = '';

/** `context.time` for a call made now: the same string object all through one second. */
export function currentTime(): string {
  const ms = Date.now();
  const s = Math.floor(ms / 1000);
  if (s !== second) {
    second = s;
    time = canonicalUtc(ms);
  }
  return time;
}

/**
 * What a policy reading these paths reads of a call beyond its principal, its agent's registry
 * entry, its tool and its operation — the parts of the input fixed for one token calling one
 * operation while a config serves. undefined when it reads a part that only the whole input
 * document can stand for (the request's method, path, params or query, or the input itself), or a
 * part this function does not know: a field added to PolicyInput must be placed here before the
 * first level of the decision cache (call-memo.ts) can serve a policy that reads it.
 */
export interface CallReads {
  readonly time: boolean;
  readonly ip: boolean;
  readonly trustLevel: boolean;
  readonly trustScore: boolean;
  /** `request.mcp`: null for a plain HTTP call, the JSON-RPC message's own for an MCP one. */
  readonly mcp: boolean;
}

/** Top-level parts built from the principal, the registry and the route alone. */
const FIXED = new Set(['user', 'delegation', 'actors', 'token', 'tool', 'operation']);
/** `agent.*` from the registry entry (agentInput); `agent.trust` is the call's. */
const FIXED_AGENT = new Set(['id', 'roles', 'owner', 'max_classification', 'risk_profile']);

export function callReads(paths: readonly (readonly string[])[] | null): CallReads | undefined {
  if (paths === null) return undefined;
  const r = { time: false, ip: false, trustLevel: false, trustScore: false, mcp: false };
  for (const [head, sub, leaf] of paths) {
    if (FIXED.has(head!)) continue;
    if (head === 'agent') {
      if (sub !== undefined && FIXED_AGENT.has(sub)) continue;
      if (sub !== undefined && sub !== 'trust') return undefined;
      if (leaf === undefined || leaf === 'level') r.trustLevel = true;
      if (leaf === undefined || leaf === 'score') r.trustScore = true;
      if (leaf !== undefined && leaf !== 'level' && leaf !== 'score') return undefined;
    } else if (head === 'context') {
      if (sub === undefined || sub === 'time') r.time = true;
      if (sub === undefined || sub === 'ip') r.ip = true;
      if (sub !== undefined && sub !== 'time' && sub !== 'ip') return undefined;
    } else if (head === 'request' && sub === 'mcp') {
      r.mcp = true;
    } else {
      return undefined;
    }
  }
  return r;
}

function agentInput(a: AgentEntry): Omit<PolicyInput['agent'], 'trust'> {
  return Object.freeze({ id: a.id, roles: a.roles, owner: a.owner, max_classification: a.maxClassification, risk_profile: a.riskProfile });
}

function actorInput(registry: AgentLookup, id: string): PolicyInput['actors'][number] {
  const entry = registry.get(id);
  return { id, type: 'agent', registered: entry !== undefined && entry.status === 'active', roles: entry?.roles ?? [] };
}

/** Repeated keys keep every value, in order (the shape OPA-Envoy's `parsed_query` uses). */
function parseQuery(query: string): Record<string, string[]> {
  // No prototype: a key named __proto__ or constructor is just a key.
  const out = Object.create(null) as Record<string, string[]>;
  if (query === '') return out;
  for (const [k, v] of new URLSearchParams(query)) (out[k] ??= []).push(v);
  return out;
}

/** `YYYY-MM-DDTHH:MM:SSZ`: the one format the policy compares timestamps in (see policies/portcullis.rego). */
export function canonicalUtc(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19) + 'Z';
}
