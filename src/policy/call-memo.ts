/**
 * The decision cache's first level: the last decision for each principal and operation, found by
 * object identity and a few comparisons instead of building the input document and its key
 * (decision-cache.ts). The token cache hands every call of one token the same Principal, and the
 * registry entry, tool and operation are frozen config, so within one config the input parts built
 * from them are the same for every such call (input.ts). What the policy reads of the call itself
 * (`callReads`: the time to the second, the client address, the trust level or score, an MCP
 * message) is compared against what the remembered decision was made on, taken from the very input
 * it was evaluated on. A policy that reads anything else of the call (the request's path, params or
 * query, or the whole input) gets no first level; its calls go to the keyed cache as before.
 *
 * Bounded twice: emptied when the second turns (so at most one second's principals are held), and
 * when it reaches `maxPrincipals`. One per loaded bundle, like the keyed cache.
 */
import type { AgentEntry, OperationRoute, RuntimeConfig, ToolRoute } from '../config/compile.js';
import type { Principal } from '../auth/principal.js';
import type { CallContext, Decision } from '../pipeline/context.js';
import { callReads, currentTime, trustInput, type PolicyInput } from './input.js';

export interface CallMemo {
  /** The decision remembered for this call's principal and operation, if it was made on what this call would show the policy. */
  get(ctx: CallContext): Decision | undefined;
  /** Remembers `decision`, made on `input` (built for `ctx`). */
  set(ctx: CallContext, input: PolicyInput, decision: Decision): void;
}

interface Entry {
  readonly agent: AgentEntry;
  readonly tool: ToolRoute;
  readonly time: string;
  readonly ip: string;
  readonly level: string;
  readonly score: number;
  readonly decision: Decision;
}

export function createCallMemo(paths: readonly (readonly string[])[] | null, config: RuntimeConfig, maxPrincipals: number, generation: () => number = () => 0): CallMemo | undefined {
  const reads = callReads(paths);
  if (!reads || maxPrincipals < 1) return undefined;
  const trust = reads.trustLevel || reads.trustScore;
  const byPrincipal = new Map<Principal, Map<OperationRoute, Entry>>();
  let second = '';
  let gen = generation();

  /** Empties the memo when the second has turned since it last looked; the current second. */
  const turn = (): string => {
    const time = currentTime();
    // A registry change (an intermediate actor's roles, say) forgets everything remembered before it.
    if (time !== second || generation() !== gen) {
      byPrincipal.clear();
      second = time;
      gen = generation();
    }
    return time;
  };
  /** Whether the policy would see `request.mcp` as null, the one value of it the memo holds. */
  const plain = (ctx: CallContext) => !reads.mcp || ctx.mcp?.method === undefined;

  return {
    get(ctx) {
      const time = turn();
      const e = byPrincipal.get(ctx.principal!)?.get(ctx.operation!);
      if (e === undefined || e.agent !== ctx.agent || e.tool !== ctx.tool || !plain(ctx)) return undefined;
      if (reads.time && e.time !== time) return undefined;
      if (reads.ip && e.ip !== ctx.clientIp) return undefined;
      if (trust) {
        const t = trustInput(ctx, config);
        if ((reads.trustLevel && e.level !== t.level) || (reads.trustScore && e.score !== t.score)) return undefined;
      }
      return e.decision;
    },
    set(ctx, input, decision) {
      if (!plain(ctx)) return;
      turn();
      const p = ctx.principal!;
      let ops = byPrincipal.get(p);
      if (ops === undefined) {
        if (byPrincipal.size >= maxPrincipals) byPrincipal.clear();
        byPrincipal.set(p, (ops = new Map()));
      }
      const { time, ip } = input.context;
      const { level, score } = input.agent.trust;
      ops.set(ctx.operation!, { agent: ctx.agent!, tool: ctx.tool!, time, ip, level, score, decision });
    },
  };
}
