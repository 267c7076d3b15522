/**
 * A stock MCP host connects, reads the server's capabilities and discovers what they offer. Through
 * the gateway it is offered only what this caller may use — so it does not ask for the rest — and a
 * discovery it asks for anyway is refused without costing the agent trust (official SDK client and
 * server, 2025-11-25).
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CREDENTIAL, startV1Upstream, type McpUpstream } from '../helpers/mcp.js';
import { startMcpGateway, TRACKER_OPERATIONS, type McpGateway } from './mcp-fixtures.js';

let up: McpUpstream;
let g: McpGateway;

beforeAll(async () => {
  up = await startV1Upstream(undefined, { extras: true });
  g = await startMcpGateway(up, { operations: [...TRACKER_OPERATIONS, { name: 'list_resources', mcp_method: 'resources/list', action: 'read' }] });
});
afterAll(async () => {
  await g.close();
  await up.close();
});

async function connect(url: string, headers: Record<string, string>): Promise<Client> {
  const c = new Client({ name: 'host', version: '1.0.0' });
  await c.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
  return c;
}

describe('capabilities a caller is offered', () => {
  it('passes what the caller may use and strips the rest (direct: everything)', async () => {
    const direct = await connect(up.url, { [CREDENTIAL.header]: CREDENTIAL.value });
    expect(Object.keys(direct.getServerCapabilities()!).sort()).toEqual(expect.arrayContaining(['prompts', 'resources', 'tools']));
    await direct.close();

    const reader = await connect(g.url, { authorization: `Bearer ${await g.token('support-bot', 'tracker:read')}` });
    const caps = reader.getServerCapabilities()!;
    expect(caps.tools).toBeDefined();
    expect(caps.resources).toBeDefined(); // list_resources names resources/list, and tracker:read covers it
    expect(caps.prompts).toBeUndefined(); // no operation names a prompts method
    expect((caps as Record<string, unknown>).tasks).toBeUndefined();
    await reader.close();

    const writer = await connect(g.url, { authorization: `Bearer ${await g.token('support-bot', 'tracker:write')}` });
    expect(writer.getServerCapabilities()!.resources).toBeUndefined(); // the token's scope does not cover it
    await writer.close();
  });

  it('refuses a discovery nobody offered (-32601), without lowering the agent\'s trust', async () => {
    const before = (await g.admin('GET', '/admin/agents/itops-bot/trust')).json;
    for (let i = 0; i < 4; i++) {
      const c = await connect(g.url, { authorization: `Bearer ${await g.token('itops-bot', 'tracker:read')}` });
      await expect(c.listPrompts()).rejects.toMatchObject({ code: -32601 });
      await c.close();
    }
    const after = (await g.admin('GET', '/admin/agents/itops-bot/trust')).json;
    expect(after.score).toBe(before.score);
    expect(after.level).toBe(before.level);
    expect(up.received.some((r) => r.body?.method === 'prompts/list')).toBe(false);
  });
});
