/**
 * Resources and prompts governed by name: `mcp_resource` URI patterns and `mcp_prompt` names are
 * operations, the policy sees `request.mcp.uri` / `request.mcp.prompt`, and the audit event names
 * them. Official SDK client and server (2025-11-25), and raw messages where a client would refuse
 * to send what an attacker sends.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEvents } from '../helpers/gateway.js';
import { startV1Upstream, type McpUpstream } from '../helpers/mcp.js';
import { buildPolicyBundle } from '../helpers/policy.js';
import { startMcpGateway, TRACKER_OPERATIONS, type McpGateway } from './mcp-fixtures.js';

// Allows every call except what names private data: a resource under memory://notes/private- and
// the summarise prompt about salaries. Decided on the URI, the prompt's name and its arguments.
const BY_NAME = `package portcullis

import rego.v1

mcp := input.request.mcp

private if startswith(mcp.uri, "memory://notes/private-")
private if {
  mcp.prompt == "summarise"
  mcp.arguments.topic == "salaries"
}

decision := {"allow": false, "approval_required": false, "reasons": ["names private data"]} if private
else := {"allow": true, "approval_required": false, "reasons": []}
`;

let up: McpUpstream;
let g: McpGateway;
let client: Client;

const OPERATIONS = [
  ...TRACKER_OPERATIONS,
  { name: 'read-notes', mcp_resource: 'memory://notes/*', action: 'read' },
  { name: 'read-graph', mcp_resource: 'memory://knowledge-graph', action: 'read' },
  { name: 'summarise', mcp_prompt: 'summarise', action: 'read' },
];

beforeAll(async () => {
  up = await startV1Upstream(undefined, { extras: true });
  const bundle = await buildPolicyBundle({ rego: BY_NAME });
  g = await startMcpGateway(up, { operations: OPERATIONS }, { policy: { bundle, watch: false } });
  client = new Client({ name: 'host', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(g.url), { requestInit: { headers: { authorization: `Bearer ${await g.token('support-bot', 'tracker:read')}` } } }));
}, 120_000);
afterAll(async () => {
  await client?.close();
  await g?.close();
  await up?.close();
});

const reads = () => up.received.filter((r) => r.body?.method === 'resources/read').map((r) => (r.body!.params as { uri: string }).uri);

/** One raw JSON-RPC message on the client's session, as an attacker would send it. */
async function raw(message: Record<string, unknown>): Promise<any> {
  const res = await fetch(g.url, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${await g.token('support-bot', 'tracker:read')}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2025-11-25',
      'mcp-session-id': (client.transport as StreamableHTTPClientTransport).sessionId!,
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 77, ...message }),
  });
  const text = await res.text();
  return JSON.parse(text.startsWith('{') ? text : text.split('\n').find((l) => l.startsWith('data: '))!.slice(6));
}

describe('resources by URI pattern', () => {
  it('reads a URI an operation covers, and the host is offered resources and prompts', async () => {
    expect(client.getServerCapabilities()).toMatchObject({ resources: expect.any(Object), prompts: expect.any(Object) });
    const note = await client.readResource({ uri: 'memory://notes/alpha' });
    expect(note.contents[0]).toMatchObject({ text: 'note memory://notes/alpha' });
    const graph = await client.readResource({ uri: 'memory://knowledge-graph' });
    expect(graph.contents[0]).toMatchObject({ text: 'graph' });
  });

  it('refuses a URI no operation covers (-32602); the server never sees it', async () => {
    await expect(client.readResource({ uri: 'memory://secrets/keys' })).rejects.toMatchObject({ code: -32602, data: { reasons: ['mcp_resource_unknown'] } });
    expect(reads()).not.toContain('memory://secrets/keys');
  });

  it('refuses dot segments and encodings that a server could resolve outside the pattern', async () => {
    for (const uri of ['memory://notes/../secrets/keys', 'memory://notes/%2e%2e/secrets/keys', 'memory://notes/%252e%252e/secrets/keys', 'memory://notes/..%2fsecrets/keys', 'memory://notes/a\\..\\b', 'memory://notes/ a']) {
      const r = await raw({ method: 'resources/read', params: { uri } });
      expect(r.error, uri).toMatchObject({ code: -32602, data: { reasons: [expect.stringMatching(/^mcp_resource_unknown$/)] } });
    }
    expect(reads().some((u) => u.includes('secrets'))).toBe(false);
  });

  it('lets the policy decide on the URI, and the audit event names it', async () => {
    await expect(client.readResource({ uri: 'memory://notes/private-hr' })).rejects.toMatchObject({ code: -32050, message: expect.stringContaining('names private data') });
    expect(reads()).not.toContain('memory://notes/private-hr');
    const events = (await auditEvents(g.gw)).filter((e) => e.type === 'tool_call' && e.mcp?.method === 'resources/read');
    const final = (uri: string) => events.filter((e) => e.mcp.uri === uri && e.outcome.result !== 'relaying').map((e) => [e.operation, e.outcome.result, e.outcome.reason ?? null]);
    expect(final('memory://notes/private-hr')).toEqual([['read-notes', 'refused', 'policy_denied']]);
    expect(final('memory://notes/alpha')).toEqual([['read-notes', 'ok', null]]);
  });

  it('refuses a read without a string uri as an invalid message', async () => {
    const r = await raw({ method: 'resources/read', params: { uri: 7 } });
    expect(r.error).toMatchObject({ code: -32600, data: { reasons: ['mcp_invalid_message'] } });
  });
});

describe('prompts by name', () => {
  it('gets a prompt an operation names, decided on its arguments', async () => {
    const ok = await client.getPrompt({ name: 'summarise', arguments: { topic: 'outages' } });
    expect(ok.messages[0]!.content).toMatchObject({ text: 'summarise outages' });
    await expect(client.getPrompt({ name: 'summarise', arguments: { topic: 'salaries' } })).rejects.toMatchObject({ code: -32050 });
    const events = (await auditEvents(g.gw)).filter((e) => e.type === 'tool_call' && e.mcp?.method === 'prompts/get');
    expect(events.filter((e) => e.outcome.result !== 'relaying').map((e) => [e.mcp.prompt, e.outcome.result])).toEqual([['summarise', 'ok'], ['summarise', 'refused']]);
    expect(up.received.some((r) => JSON.stringify(r.body ?? {}).includes('salaries'))).toBe(false);
  });

  it('refuses a prompt no operation names (-32602), look-alikes included', async () => {
    for (const name of ['triage', 'Summarise', 'summarise ']) {
      await expect(client.getPrompt({ name })).rejects.toMatchObject({ code: -32602, data: { reasons: ['mcp_prompt_unknown'] } });
    }
    expect(up.received.some((r) => r.body?.method === 'prompts/get' && (r.body.params as { name: string }).name !== 'summarise')).toBe(false);
  });
});
