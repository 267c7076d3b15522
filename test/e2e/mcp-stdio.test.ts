/**
 * An MCP server run by the gateway over stdio: one process per session, started with exactly the
 * configured environment, every message through the same pipeline as an HTTP MCP server (official
 * SDK 1.x client and server).
 */
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollUntil } from '../helpers/policy.js';
import { startMcpGateway, type McpGateway } from './mcp-fixtures.js';

const SERVER = fileURLToPath(new URL('../fixtures/stdio-mcp-server.mjs', import.meta.url));
let g: McpGateway;

beforeAll(async () => {
  g = await startMcpGateway({ url: 'unused' } as never, {
    upstream: { command: 'node', args: [SERVER], env: { NOTES_TOKEN: 'stdio-secret' }, max_sessions: 3 },
    credentials: undefined,
    operations: ['whoami', 'echo', 'count', 'crash'].map((name) => ({ name, mcp_tool: name, action: 'read' })),
  });
});
afterAll(async () => {
  await g?.close();
});

async function connect(agent = 'support-bot'): Promise<Client> {
  const c = new Client({ name: 'host', version: '1' });
  await c.connect(new StreamableHTTPClientTransport(new URL(g.url), { requestInit: { headers: { authorization: `Bearer ${await g.token(agent, 'tracker:read')}` } } }));
  return c;
}
/** Ends the session (DELETE), which ends its process. */
const end = async (c: Client) => {
  await (c.transport as StreamableHTTPClientTransport).terminateSession();
  await c.close();
};
const whoami = async (c: Client) => JSON.parse(((await c.callTool({ name: 'whoami', arguments: {} })) as { content: { text: string }[] }).content[0]!.text);

describe('a stdio MCP server behind the gateway', () => {
  it('lists and calls its tools through the pipeline: filtered, with progress relayed', async () => {
    const c = await connect();
    expect((await c.listTools()).tools.map((t) => t.name).sort()).toEqual(['count', 'crash', 'echo', 'whoami']);
    expect(((await c.callTool({ name: 'echo', arguments: { text: 'hi' } })) as { content: { text: string }[] }).content[0]!.text).toBe('hi');
    const progress: number[] = [];
    await c.callTool({ name: 'count', arguments: { to: 3 } }, undefined, { onprogress: (p) => void progress.push(p.progress) });
    expect(progress).toEqual([1, 2, 3]);
    await expect(c.callTool({ name: 'wipe', arguments: {} })).rejects.toMatchObject({ code: -32602 });
    expect((await whoami(c)).calls).not.toContain('wipe');
    await end(c);
  });

  it('starts the server with exactly the configured environment, nothing of the gateway’s', async () => {
    process.env.PORTCULLIS_TEST_GATEWAY_SECRET = 'must-not-leak';
    const c = await connect();
    const me = await whoami(c);
    expect(me.secret_ok).toBe(true);
    expect(me.env).toEqual(['NOTES_TOKEN']);
    await end(c);
  });

  it('gives each session its own process, ends it with the session, and bounds how many run', async () => {
    const a = await connect();
    const b = await connect('kill-bot');
    const [pa, pb] = [(await whoami(a)).pid, (await whoami(b)).pid];
    expect(pa).not.toBe(pb);
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    await end(a);
    await pollUntil(async () => alive(pa), (x) => !x);
    expect(alive(pb)).toBe(true);
    const c = await connect();
    const d = await connect();
    // max_sessions: 3 — a fourth session is refused, not a fourth process started.
    await expect(connect()).rejects.toThrow(/503/);
    for (const x of [b, c, d]) await end(x);
    await pollUntil(async () => alive(pb), (x) => !x);
  });

  it('answers a session whose process died as gone (404), so the client starts anew', async () => {
    const c = await connect();
    await c.callTool({ name: 'crash', arguments: {} }).catch(() => undefined);
    const sid = (c.transport as StreamableHTTPClientTransport).sessionId!;
    const res = await pollUntil(
      async () => (await fetch(g.url, { method: 'POST', headers: { authorization: `Bearer ${await g.token('support-bot', 'tracker:read')}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' }, body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'ping' }) })).status,
      (s) => s === 404,
    );
    expect(res).toBe(404);
    const fresh = await connect();
    expect((await whoami(fresh)).pid).toBeGreaterThan(0);
    await end(fresh);
  });
});
