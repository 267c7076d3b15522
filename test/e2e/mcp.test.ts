/**
 * MCP through the gateway, end to end, for both protocol revisions in use: a real server and a
 * real client from the official SDKs (1.x speaks 2025-11-25, 2.x speaks 2026-07-28), the shipped
 * policy, and assertions on what the server did or did not receive.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollUntil } from '../helpers/policy.js';
import { connectClient, CREDENTIAL, REVISIONS, startV1Upstream, startV2Upstream, type McpUpstream, type Revision, rejection } from '../helpers/mcp.js';
import { startMcpGateway, type McpGateway } from './mcp-fixtures.js';


describe.each(REVISIONS)('MCP %s through the gateway', (revision: Revision) => {
  let up: McpUpstream;
  let g: McpGateway;
  const connect = async (agent: string, scope?: string) => connectClient(revision, g.url, await g.token(agent, scope));

  beforeAll(async () => {
    up = revision === '2025-11-25' ? await startV1Upstream() : await startV2Upstream();
    g = await startMcpGateway(up);
  });
  afterAll(async () => {
    await g.close();
    await up.close();
  });

  it('lists only the tools the agent may call', async () => {
    const support = await connect('support-bot');
    const names = (await support.listTools()).map((t) => t.name).sort();
    expect(names).toEqual(['add_comment', 'create_issue', 'generate_report', 'get_issue', 'search_issues', 'share_issue', 'slow_stream']);
    await support.close();
    const sales = await connect('sales-bot', 'tracker:read');
    expect((await sales.listTools()).map((t) => t.name).sort()).toEqual(['get_issue', 'search_issues']);
    await sales.close();
    // The server listed everything, including a tool no operation names: the gateway hid it.
    expect(up.received.some((r) => r.body?.method === 'tools/list')).toBe(true);
  });

  it('forwards an allowed call with the tool credential, never the agent token', async () => {
    const c = await connect('support-bot');
    const res = await c.callTool('create_issue', { title: 'Printer on fire', priority: 'high' });
    expect(res.content[0]!.text).toContain('Printer on fire');
    const seen = up.received.filter((r) => r.body?.method === 'tools/call').at(-1)!;
    expect(seen.headers.authorization).toBe(CREDENTIAL.value);
    expect(seen.headers['portcullis-agent']).toBe('support-bot');
    expect(seen.raw).not.toContain('Bearer ey');
    await c.close();
  });

  it('refuses a call the policy forbids with an MCP error; the server never sees it', async () => {
    const c = await connect('support-bot');
    const err = await rejection(c.callTool('delete_issue', { id: 'ISS-1' }));
    expect(err.code).toBe(-32050);
    expect(err.data).toMatchObject({ error: 'forbidden', reasons: expect.arrayContaining(['policy_denied']) });
    expect(up.calls()).not.toContain('delete_issue');
    await c.close();
  });

  it('refuses a forbidden argument value, naming the argument; an allowed value passes', async () => {
    const c = await connect('support-bot');
    const err = await rejection(c.callTool('share_issue', { id: 'ISS-1', email: 'mallory@evil.test' }));
    expect(err.code).toBe(-32050);
    expect(err.data.reasons).toContain('argument email of share_issue: mallory@evil.test is outside the allowed domains (example.com)');
    // Hosts show the message: it names the reason too.
    expect(err.message).toContain('The policy does not permit this call: argument email of share_issue: mallory@evil.test is outside the allowed domains');
    expect(up.received.some((r) => r.raw.includes('evil.test'))).toBe(false);
    const ok = await c.callTool('share_issue', { id: 'ISS-1', email: 'dana@example.com' });
    expect(ok.content[0]!.text).toBe('shared ISS-1 with dana@example.com');
    await c.close();
  });

  it('refuses an unknown tool (-32602) and a call outside the token scope (-32051)', async () => {
    const c = await connect('support-bot', 'tracker:read');
    expect((await rejection(c.callTool('drop_database', {}))).code).toBe(-32602);
    const scope = await rejection(c.callTool('create_issue', { title: 'x' }));
    expect(scope.code).toBe(-32051);
    expect(scope.data.error).toBe('insufficient_scope');
    expect(up.calls()).not.toContain('drop_database');
    await c.close();
  });

  it('holds a high-risk call until a human approves it, then forwards it once', async () => {
    const c = await connect('itops-bot');
    const before = up.calls().filter((n) => n === 'delete_issue').length;
    const call = c.callTool('delete_issue', { id: 'ISS-3' }, { timeout: 30_000 });
    const pending = await pollUntil(
      async () => ((await g.admin('GET', '/admin/approvals?status=pending')).json.approvals as any[]).find((a) => a.fingerprint.path === '/delete_issue'),
      (a) => a !== undefined,
    );
    expect(pending.fingerprint).toMatchObject({ agent: 'itops-bot', tool: 'tracker', operation: 'delete_issue', method: 'tools/call' });
    // The approver sees the tool call's arguments, not only their digest.
    expect(pending.call).toMatchObject({ tool: 'tracker', operation: 'delete_issue', mcp: { method: 'tools/call', tool: 'delete_issue' }, content: { id: 'ISS-3' }, content_note: 'complete' });
    expect(up.calls().filter((n) => n === 'delete_issue').length).toBe(before);
    // Decide after approvals.input_required_wait (1 s): a 2026-07-28 client has then been answered
    // input_required at least once and is retrying; a 2025-11-25 client is still held (hold: 10 s).
    await new Promise((r) => setTimeout(r, 1500));
    const legs = g.gw.logs.filter((l) => l.msg === 'call' && l.operation === 'delete_issue' && l.reason === 'approval_required').length;
    if (revision === '2026-07-28') expect(legs).toBeGreaterThanOrEqual(1);
    else expect(legs).toBe(0);
    const approved = await g.admin('POST', `/admin/approvals/${pending.id}/approve`, { comment: 'cleanup ok' }, ['approvers']);
    expect(approved.status).toBe(200);
    const res = await call;
    expect(res.content[0]!.text).toBe('deleted ISS-3');
    expect(up.calls().filter((n) => n === 'delete_issue').length).toBe(before + 1);
    // The gateway's own requestState (2026-07-28 retries) never reaches the server.
    expect(up.received.some((r) => r.raw.includes('portcullis.approval:'))).toBe(false);
    await c.close();
  });

  it('streams a long result through intact, with its progress notifications', async () => {
    const c = await connect('support-bot');
    const progress: number[] = [];
    const res = await c.callTool('generate_report', { rows: 4000 }, { onprogress: (p) => progress.push(p.progress) });
    const lines = res.content[0]!.text.split('\n');
    expect(lines).toHaveLength(4000);
    expect(lines[0]).toMatch(/^000001 ISS-1 /);
    expect(lines[3999]).toMatch(/^004000 ISS-/);
    expect(progress).toEqual([1000, 2000, 3000, 4000]);
    await c.close();
  });

  it('cuts the open stream of an agent that is killed', async () => {
    const c = await connect('kill-bot');
    let ticks = 0;
    const call = rejection(c.callTool('slow_stream', { seconds: 20 }, { onprogress: () => void ticks++, timeout: 15_000 }));
    await pollUntil(async () => ticks, (n) => n >= 2);
    const started = Date.now();
    const kill = await g.admin('POST', '/admin/kill', { target: { agent: 'kill-bot' }, reason: 'test: runaway stream' });
    expect(kill.status).toBe(201);
    const err = await call;
    expect(Date.now() - started).toBeLessThan(5000);
    expect(err.code).toBe(-32052);
    expect(err.data).toMatchObject({ error: 'killed', reasons: ['killed_agent'] });
    const after = ticks;
    await new Promise((r) => setTimeout(r, 300));
    expect(ticks).toBe(after);
    expect((await g.admin('DELETE', `/admin/kill/${kill.json.id}`)).status).toBe(200);
    await c.close().catch(() => undefined);
  });
});

describe('MCP 2025-11-25 sessions: GET stream and DELETE through the gateway', () => {
  let up: McpUpstream;
  let g: McpGateway;
  beforeAll(async () => {
    up = await startV1Upstream();
    g = await startMcpGateway(up);
  });
  afterAll(async () => {
    await g.close();
    await up.close();
  });

  it('relays the session, keeps an idle GET stream open, cuts it on a kill, and ends the session with DELETE', async () => {
    const auth = { authorization: `Bearer ${await g.token('kill-bot')}` };
    const post = { ...auth, accept: 'application/json, text/event-stream', 'content-type': 'application/json' };
    const init = await fetch(g.url, { method: 'POST', headers: post, body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }) });
    expect(init.status).toBe(200);
    await init.text();
    const session = { 'mcp-session-id': init.headers.get('mcp-session-id')!, 'mcp-protocol-version': '2025-11-25' };
    expect(session['mcp-session-id']).toBeTruthy();
    expect((await fetch(g.url, { method: 'POST', headers: { ...post, ...session }, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) })).status).toBe(202);
    // A refused notification is 400, never 404 (which a client reads as "session gone").
    const refused = await fetch(g.url, { method: 'POST', headers: { ...post, ...session }, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/unheard_of' }) });
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32601 } });

    const stream = await fetch(g.url, { method: 'GET', headers: { ...auth, ...session, accept: 'text/event-stream' } });
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toContain('text/event-stream');
    let state = 'open';
    void (async () => {
      try {
        for await (const _ of stream.body!) void _;
        state = 'ended';
      } catch {
        state = 'cut';
      }
    })();
    // Longer than the tool's timeout (5 s in the fixture): a listening stream has no gap limit.
    await new Promise((r) => setTimeout(r, 5500));
    expect(state).toBe('open');
    const kill = await g.admin('POST', '/admin/kill', { target: { agent: 'kill-bot' }, reason: 'test: open stream' });
    await pollUntil(async () => state, (s) => s !== 'open', 3000);
    expect(state).not.toBe('open');
    expect((await g.admin('DELETE', `/admin/kill/${kill.json.id}`)).status).toBe(200);

    const del = await fetch(g.url, { method: 'DELETE', headers: { ...auth, ...session } });
    expect(del.status).toBe(200);
    expect(up.received.some((r) => r.method === 'DELETE' && r.headers['mcp-session-id'] === session['mcp-session-id'])).toBe(true);
  }, 15_000);
});
