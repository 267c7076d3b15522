/**
 * Stage 2c — an MCP session belongs to the principal that opened it. The upstream server hands out
 * `Mcp-Session-Id` on initialize; the gateway binds it (per tool, in the shared state store) to the
 * agent and the user of that call before the client sees it. Any later message, listening stream or
 * DELETE naming the session must come from the same agent and user: another principal presenting it
 * — to run tools in it, read its notifications, answer its elicitation or end it — is refused and
 * audited (`mcp_session_foreign`). A session the gateway never saw opened is refused as MCP's
 * "session not found" (404), so the client starts a new one through the gateway.
 */
import { GatewayError } from '../errors.js';
import { stored, type StateStore } from '../state/store.js';
import type { CallContext } from './context.js';
import { discardBody, type UpstreamResponse } from './forward.js';

/** Sliding: a session unused this long is forgotten (its client re-initialises). */
const SESSION_TTL_MS = 24 * 60 * 60 * 1000;
const MAX_SESSION_ID = 256;

export function createMcpSessions(state: StateStore) {
  const key = (ctx: CallContext, id: string) => `mcp-session:${ctx.tool!.name}:${id}`;
  const ownerOf = (ctx: CallContext) => `${ctx.principal!.agentId}\n${ctx.principal!.userId ?? ''}`;

  /** The stage: a presented session must be this principal's. Synchronous when none is presented. */
  function check(ctx: CallContext): Promise<void> | undefined {
    const id = ctx.mcp?.session;
    if (id === undefined || id === null) return undefined;
    if (id.length > MAX_SESSION_ID || !/^[\x21-\x7e]+$/.test(id)) {
      throw new GatewayError('mcp_invalid_message', 'Mcp-Session-Id must be visible ASCII, at most 256 characters (MCP transport).');
    }
    return stored(state.ownerOf(key(ctx, id), SESSION_TTL_MS), 'The MCP session could not be checked').then((owner) => {
      if (owner === null) throw new GatewayError('mcp_session_unknown', 'No MCP session by that id was opened through this gateway; start a new one with initialize.');
      if (owner !== ownerOf(ctx)) throw new GatewayError('mcp_session_foreign', 'That MCP session belongs to another agent or user.');
    });
  }

  /** After the upstream answered: binds a session it opened, forgets one it ended. */
  async function settle(ctx: CallContext, res: UpstreamResponse): Promise<void> {
    const mcp = ctx.mcp!;
    if (mcp.transport === 'session-end' && res.status < 300 && mcp.session) {
      await state.unbindOwner(key(ctx, mcp.session)).catch(() => undefined);
      return;
    }
    const opened = res.headers['mcp-session-id'];
    if (typeof opened !== 'string' || opened === mcp.session) return;
    try {
      const owner = await stored(state.bindOwner(key(ctx, opened), ownerOf(ctx), SESSION_TTL_MS), 'The MCP session could not be bound to its principal');
      // An upstream handing out an id already bound to someone else must not join them.
      if (owner !== ownerOf(ctx)) throw new GatewayError('mcp_session_foreign', 'The upstream answered with a session that belongs to another agent or user.');
    } catch (err) {
      // The answer is not relayed: release its connection.
      discardBody(res.body);
      throw err;
    }
  }

  return { check, settle };
}
