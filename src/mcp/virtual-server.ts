/**
 * Virtual MCP servers: one endpoint (`/tools/<name>`) presenting the tools of several MCP tools,
 * named `<server>__<tool>`. Nothing is decided here: every message is re-sent, in process
 * (Fastify's inject, with the caller's headers and address), to the MCP tool it concerns, so each
 * call is authenticated, authorised, filtered, pinned, held and audited as that tool exactly as if
 * the agent had called it directly. This module only fans out, renames and merges.
 *
 * A virtual session (2025-11-25) holds one session per server, opened by the fan-out of
 * `initialize`; the servers' sessions stay bound to the caller by the pipeline, so a virtual session
 * id is worth nothing to anyone else. Tools only: other data methods, GET streams and server
 * requests are not relayed (refused with -32601 / 405).
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { LRUCache } from 'lru-cache';
import type { VirtualServer } from '../config/compile-mcp.js';
import { createParser } from 'eventsource-parser';
import { isObject } from './message.js';
import { readBounded } from './listing.js';

const SEPARATOR = '__';
const MAX_BODY = 1_000_000;
/** Headers a client's message carries that the servers' pipeline needs; nothing else is passed on. */
const PASSED = ['authorization', 'dpop', 'content-type', 'accept', 'mcp-protocol-version', 'origin', 'user-agent', 'traceparent'] as const;

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly text: string;
  /** The JSON-RPC message answering the request, from a JSON body or an event stream. */
  readonly message?: Record<string, unknown>;
}

export function registerVirtualServers(app: FastifyInstance, virtualServers: ReadonlyMap<string, VirtualServer>): void {
  for (const v of virtualServers.values()) {
    // Virtual session id → each server's session id (null: that server runs stateless or refused).
    const sessions = new LRUCache<string, Map<string, string | null>>({ max: 10_000, ttl: 24 * 3_600_000, updateAgeOnGet: true });

    async function send(request: FastifyRequest, server: string, body: Record<string, unknown> | undefined, session: string | null | undefined, method = 'POST'): Promise<Answer> {
      const headers: Record<string, string> = {};
      for (const h of PASSED) if (typeof request.headers[h] === 'string') headers[h] = request.headers[h] as string;
      if (session) headers['mcp-session-id'] = session;
      // SEP-2243 (2026-07-28): the standard headers describe the message as re-sent (a tool's own name).
      if (request.headers['mcp-method'] !== undefined && body && typeof body.method === 'string') {
        headers['mcp-method'] = body.method;
        const name = isObject(body.params) ? body.params.name : undefined;
        if (body.method === 'tools/call' && typeof name === 'string') headers['mcp-name'] = /^[\x20-\x7e]*$/.test(name) ? name : `=?base64?${Buffer.from(name).toString('base64')}?=`;
      }
      const res = await app.inject({ method: method as 'POST', url: `/tools/${server}`, headers, payload: body === undefined ? undefined : JSON.stringify(body), remoteAddress: request.ip });
      const out: Record<string, string> = {};
      for (const [k, val] of Object.entries(res.headers)) if (typeof val === 'string') out[k] = val;
      return { status: res.statusCode, headers: out, text: res.payload, message: body && 'id' in body ? answerOf(String(res.headers['content-type'] ?? ''), res.payload, body.id) : undefined };
    }

    /** Sends to every server at once; the answers in the servers' order. */
    const fanOut = (request: FastifyRequest, body: Record<string, unknown>, known?: Map<string, string | null>) =>
      Promise.all(v.servers.filter((s) => !known || known.has(s)).map(async (s) => [s, await send(request, s, body, known?.get(s))] as const));

    function relay(reply: FastifyReply, a: Answer): FastifyReply {
      for (const h of ['content-type', 'www-authenticate', 'retry-after', 'cache-control', 'vary']) if (a.headers[h]) reply.header(h, a.headers[h]);
      return reply.code(a.status).send(a.text);
    }

    const rpc = (reply: FastifyReply, status: number, id: unknown, payload: { result: unknown } | { error: { code: number; message: string } }, headers: Record<string, string> = {}) =>
      reply.code(status).headers({ 'content-type': 'application/json', 'cache-control': 'private, no-store', ...headers }).send(JSON.stringify({ jsonrpc: '2.0', id: id ?? null, ...payload }));

    async function post(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
      let body: unknown;
      try {
        body = JSON.parse((await readBounded(request.raw, MAX_BODY)) ?? '');
      } catch {
        return rpc(reply, 400, null, { error: { code: -32700, message: 'The body is not one JSON value within 1 MB.' } });
      }
      if (!isObject(body) || body.jsonrpc !== '2.0' || typeof body.method !== 'string') {
        return rpc(reply, 400, null, { error: { code: -32600, message: `The virtual server ${v.name} takes one JSON-RPC request or notification (no batches, no responses: it relays no server requests).` } });
      }
      const sid = request.headers['mcp-session-id'];
      const known = typeof sid === 'string' ? sessions.get(sid) : undefined;
      if (typeof sid === 'string' && !known) return rpc(reply, 404, body.id, { error: { code: -32001, message: 'Session not found' } });
      const id = body.id;
      const params = isObject(body.params) ? body.params : {};

      switch (body.method) {
        case 'initialize':
        case 'server/discover': {
          const answers = await fanOut(request, body);
          const ok = answers.filter(([, a]) => a.status === 200 && isObject(a.message?.result));
          if (ok.length === 0) return relay(reply, answers[0]![1]);
          const result = ok[0]![1].message!.result as Record<string, unknown>;
          const merged = { ...result, capabilities: { tools: { listChanged: false } }, serverInfo: { name: v.name, version: '1.0.0' }, instructions: `Tools of ${ok.map(([s]) => s).join(', ')}, named <server>${SEPARATOR}<tool>.` };
          if (body.method === 'server/discover') return rpc(reply, 200, id, { result: merged });
          const session = randomUUID();
          sessions.set(session, new Map(ok.map(([s, a]) => [s, a.headers['mcp-session-id'] ?? null])));
          return rpc(reply, 200, id, { result: merged }, { 'mcp-session-id': session });
        }
        case 'tools/list': {
          const answers = await fanOut(request, body, known);
          const ok = answers.filter(([, a]) => a.status === 200 && isObject(a.message?.result));
          if (ok.length === 0) return relay(reply, answers[0]![1]);
          const tools = ok.flatMap(([s, a]) => {
            const listed = (a.message!.result as { tools?: unknown }).tools;
            return Array.isArray(listed) ? listed.filter(isObject).map((t) => ({ ...t, name: `${s}${SEPARATOR}${String(t.name)}` })) : [];
          });
          return rpc(reply, 200, id, { result: { tools } });
        }
        case 'tools/call': {
          const name = typeof params.name === 'string' ? params.name : '';
          const server = v.servers.find((s) => name.startsWith(`${s}${SEPARATOR}`));
          if (!server || (known && !known.has(server))) return rpc(reply, 200, id, { error: { code: -32602, message: `${JSON.stringify(name.slice(0, 128))} is not a tool of ${v.name} (tools are named <server>${SEPARATOR}<tool>).` } });
          const forwarded = { ...body, params: { ...params, name: name.slice(server.length + SEPARATOR.length) } };
          return relay(reply, await send(request, server, forwarded, known?.get(server)));
        }
        case 'ping':
          return rpc(reply, 200, id, { result: {} });
        default:
          if (body.method.startsWith('notifications/')) {
            await fanOut(request, body, known);
            return reply.code(202).send();
          }
          return rpc(reply, 200, id, { error: { code: -32601, message: `The virtual server ${v.name} presents tools only; ${body.method.slice(0, 64)} is not relayed.` } });
      }
    }

    app.post(`/tools/${v.name}`, post);
    app.delete(`/tools/${v.name}`, async (request, reply) => {
      const sid = request.headers['mcp-session-id'];
      const known = typeof sid === 'string' ? sessions.get(sid) : undefined;
      if (!known) return reply.code(404).send();
      // Ended only when its servers accept the caller's DELETE: knowing the id is not enough.
      const answers = await Promise.all([...known].filter(([, s]) => s).map(([server, s]) => send(request, server, undefined, s, 'DELETE')));
      const refused = answers.find((a) => a.status >= 300 && a.status !== 404);
      if (refused) return relay(reply, refused);
      sessions.delete(sid as string);
      return reply.code(200).send();
    });
    app.get(`/tools/${v.name}`, (_request, reply) => reply.code(405).header('allow', 'POST, DELETE').send());
  }
}

/** The JSON-RPC message with this id in a JSON answer or an event stream, if any. */
function answerOf(type: string, text: string, id: unknown): Record<string, unknown> | undefined {
  const candidates: unknown[] = [];
  if (type.startsWith('text/event-stream')) {
    const parser = createParser({ onEvent: (e) => candidates.push(safeJson(e.data)) });
    parser.feed(`${text}\n\n`);
  } else candidates.push(safeJson(text));
  return candidates.find((m): m is Record<string, unknown> => isObject(m) && m.id === id);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
