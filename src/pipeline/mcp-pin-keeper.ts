/**
 * MCP tool pins, kept as definitions are seen: the first sighting pins a tool, another definition
 * is recorded as changed (hidden and refused on every replica), a return to the approved one is a
 * revert, and a pin over the reviewed parts only is re-pinned whole (src/mcp/pins.ts).
 *
 * A server that announces `notifications/tools/list_changed` is listed again by the gateway at
 * once, with the session and credential of the exchange that carried the notice, so that a changed
 * definition is refused from the notice on rather than from the client's next list. Calls to that
 * server wait for the re-list (bounded by the tool's timeout) before their pin is checked.
 */
import { randomUUID } from 'node:crypto';
import type { ToolRoute } from '../config/compile.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { filterListing } from '../mcp/listing.js';
import { isObject } from '../mcp/message.js';
import { definitionDigest, legacyDigest, pinVerdict, type ToolPin } from '../mcp/pins.js';
import { PROTOCOL_VERSION_META_KEY } from '../mcp/protocol.js';
import type { StateStore } from '../state/store.js';
import type { AuditPort, CallContext } from './context.js';
import type { Upstreams } from './forward.js';

export interface PinKeeper {
  /** Checks a listed definition against its pin; false when it is hidden and refused. */
  pinned(tool: ToolRoute, name: string, definition: Record<string, unknown>): Promise<boolean>;
  /** The server announced its tool list changed: list it again now. */
  listChanged(ctx: CallContext): void;
  /** The re-list in flight for this tool, if any (a call waits for it before its pin is checked). */
  relisting(tool: string): Promise<void> | undefined;
}

export function createPinKeeper(deps: { state: StateStore; audit: AuditPort; metrics: Metrics; logger: Logger; upstreams: Pick<Upstreams, 'request'> }): PinKeeper {
  const { state, audit, metrics } = deps;
  const inflight = new Map<string, Promise<void>>();

  /** Checks a listed definition against its pin, recording first sightings, changes and reverts. */
  async function pinned(tool: ToolRoute, name: string, definition: Record<string, unknown>): Promise<boolean> {
    const digest = definitionDigest(definition);
    let configPin = tool.mcp!.pins.get(name);
    let stored = state.toolPin(tool.name, name);
    const now = new Date().toISOString();
    if (configPin !== undefined && configPin !== digest && configPin === legacyDigest(definition)) {
      // A gateway.yaml pin over the reviewed parts only still holds, but leaves _meta and icons open.
      deps.logger.warn({ tool: tool.name, name, pin: configPin, definition: digest }, 'MCP tool pin in gateway.yaml covers only part of the definition; pin the whole one');
      configPin = digest;
    }
    if (stored && stored.covers !== 'definition' && configPin === undefined) {
      // A pin taken over the reviewed parts only: the same definition is re-pinned whole; any other stays changed.
      const same = stored.status === 'approved' && stored.digest === legacyDigest(definition);
      if (same) {
        stored = { ...stored, digest, covers: 'definition' };
        await record(stored, 'upgraded', legacyDigest(definition));
      }
    }
    const verdict = pinVerdict(configPin, stored, digest);
    if (verdict === 'new') {
      await record({ tool: tool.name, name, digest, status: 'approved', first_seen: now, approved_by: 'first-seen', approved_at: now, covers: 'definition' }, 'first_seen', null);
      return true;
    }
    if (verdict === 'ok') {
      // The server went back to the approved definition: calls to it are no longer refused.
      if (stored?.status === 'changed') {
        await record({ tool: tool.name, name, digest, status: 'approved', first_seen: stored.first_seen, approved_by: stored.approved_by, approved_at: stored.approved_at, covers: 'definition' }, 'reverted', stored.observed ?? null);
      }
      return true;
    }
    // Changed: recorded once per new definition, so that every replica refuses its calls too.
    if (stored?.status !== 'changed' || stored.observed !== digest) {
      const approved = configPin ?? stored!.digest;
      await record(
        { tool: tool.name, name, digest: approved, status: 'changed', observed: digest, changed_at: now, first_seen: stored?.first_seen ?? now, approved_by: stored?.approved_by ?? 'gateway.yaml', approved_at: stored?.approved_at ?? now, ...(stored?.covers ? { covers: stored.covers } : {}) },
        'changed',
        approved,
      );
    }
    return false;
  }

  async function record(pin: ToolPin, action: 'first_seen' | 'changed' | 'reverted' | 'upgraded', previous: string | null): Promise<void> {
    try {
      await state.setToolPin(pin);
    } catch (err) {
      // The list is still filtered by what is known; the pin is recorded on a later list.
      deps.logger.warn({ error: (err as Error).message, tool: pin.tool, name: pin.name }, 'MCP tool pin not stored');
      return;
    }
    metrics.mcpPinChanges.inc({ tool: pin.tool, action });
    audit.record('mcp_tool_pin', { action, tool: pin.tool, name: pin.name, pinned: previous ?? pin.digest, observed: pin.observed ?? pin.digest });
  }

  /** Lists the server's tools as the gateway (its credential, the notice's session) and checks each configured one. */
  async function relist(ctx: CallContext): Promise<void> {
    const tool = ctx.tool!;
    const mcp = ctx.mcp!;
    const message = { jsonrpc: '2.0', id: `portcullis-relist-${randomUUID()}`, method: 'tools/list', params: mcp.modern && mcp.revision ? { _meta: { [PROTOCOL_VERSION_META_KEY]: mcp.revision } } : {} };
    const res = await deps.upstreams.request(ctx, message);
    const out = await filterListing(res.headers, res.body as NodeJS.ReadableStream, {
      id: message.id,
      maxBytes: tool.mcp!.maxListBytes,
      modern: mcp.modern,
      async filter(tools) {
        for (const t of tools) if (isObject(t) && typeof t.name === 'string' && tool.mcp!.tools.has(t.name)) await pinned(tool, t.name, t);
        return [];
      },
    });
    if (!Buffer.isBuffer(out.body)) for await (const _ of out.body as AsyncIterable<unknown>);
  }

  return {
    pinned,
    listChanged(ctx) {
      const name = ctx.tool!.name;
      if (inflight.has(name)) return;
      const done = relist(ctx)
        .catch((err: Error) => deps.logger.warn({ tool: name, error: err.message }, 'MCP tool list could not be re-checked after list_changed; the next list checks it'))
        .finally(() => inflight.delete(name));
      inflight.set(name, done);
    },
    relisting: (tool) => inflight.get(tool),
  };
}
