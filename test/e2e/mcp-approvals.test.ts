/**
 * Approvals reach every MCP client without anything Portcullis-specific: a stock 2025-11-25 client
 * (official SDK 1.x) is released by repeating the identical call; a 2026-07-28 answer is
 * `input_required` the SDKs retry, and a client that cannot fulfil it ends in an error, never a
 * success — checked with the official Go SDK (test/clients/go-mcp) as well as the TypeScript ones.
 */
import { spawnSync, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollUntil } from '../helpers/policy.js';
import { connectClient, startV1Upstream, startV2Upstream, type McpUpstream, rejection } from '../helpers/mcp.js';
import { startMcpGateway, type McpGateway } from './mcp-fixtures.js';

const run = promisify(execFile);


const pendingFor = (g: McpGateway, id: string) => async () =>
  ((await g.admin('GET', '/admin/approvals')).json.approvals as any[]).filter((a) => a.call?.content?.id === id);

describe('MCP 2025-11-25: a held call is released by repeating it', () => {
  let up: McpUpstream;
  let g: McpGateway;
  beforeAll(async () => {
    up = await startV1Upstream();
    g = await startMcpGateway(up, {}, { approvals: { hold: '1s', ttl: '1m', input_required_wait: '1s' } });
  });
  afterAll(async () => {
    await g?.close();
    await up?.close();
  });

  it('names the approval and where to poll it, and repeats of the pending call wait on that one approval', async () => {
    const token = await g.token('itops-bot');
    const c = await connectClient('2025-11-25', g.url, token);
    const first = await rejection(c.callTool('delete_issue', { id: 'ISS-7' }));
    expect(first.code).toBe(-32053);
    const id = first.data.approval_id as string;
    expect(id).toMatch(/^apr-/);
    const url = `${g.gw.proxyUrl}/approvals/${id}`;
    expect(first.data.approval_url).toBe(url);
    expect(first.message).toContain(id);
    expect(first.message).toContain(`Poll GET ${url}`);
    const polled = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    expect(((await polled.json()) as any).status).toBe('pending');

    // A plain retry (what a stock client or a model does) joins the same approval.
    const again = await rejection(c.callTool('delete_issue', { id: 'ISS-7' }));
    expect(again.data.approval_id).toBe(id);
    expect(await pendingFor(g, 'ISS-7')()).toHaveLength(1);

    expect((await g.admin('POST', `/admin/approvals/${id}/approve`, { comment: 'ok' }, ['approvers'])).status).toBe(200);
    const res = await c.callTool('delete_issue', { id: 'ISS-7' });
    expect(res.content[0]!.text).toMatch(/\bISS-7$/);
    expect(up.calls().filter((n) => n === 'delete_issue')).toHaveLength(1);

    // One approval, one call: the next repeat asks again.
    const third = await rejection(c.callTool('delete_issue', { id: 'ISS-7' }));
    expect(third.code).toBe(-32053);
    expect(third.data.approval_id).not.toBe(id);
    expect(up.calls().filter((n) => n === 'delete_issue')).toHaveLength(1);
    await c.close();
  });

  it('releases a waiting repeat the moment a human approves, and never releases another call', async () => {
    const c = await connectClient('2025-11-25', g.url, await g.token('itops-bot'));
    const id = (await rejection(c.callTool('delete_issue', { id: 'ISS-8' }))).data.approval_id;
    const before = up.calls().filter((n) => n === 'delete_issue').length;
    // Other arguments are another call: their own approval, not this one's.
    const other = await rejection(c.callTool('delete_issue', { id: 'ISS-80' }));
    expect(other.data.approval_id).not.toBe(id);
    const waiting = c.callTool('delete_issue', { id: 'ISS-8' });
    await new Promise((r) => setTimeout(r, 200));
    await g.admin('POST', `/admin/approvals/${id}/approve`, {}, ['approvers']);
    expect((await waiting).content[0]!.text).toMatch(/\bISS-8$/);
    expect(up.calls().filter((n) => n === 'delete_issue')).toHaveLength(before + 1);
    await c.close();
  });

  it('refuses the repeat of a denied call with the approver’s refusal, without asking again', async () => {
    const c = await connectClient('2025-11-25', g.url, await g.token('itops-bot'));
    const id = (await rejection(c.callTool('delete_issue', { id: 'ISS-9' }))).data.approval_id;
    const before = up.calls().length;
    await g.admin('POST', `/admin/approvals/${id}/deny`, { comment: 'not this one' }, ['approvers']);
    const denied = await rejection(c.callTool('delete_issue', { id: 'ISS-9' }));
    expect(denied.code).toBe(-32054);
    expect(denied.data).toMatchObject({ error: 'approval_denied', approval_id: id, reasons: ['approval_rejected', 'not this one'] });
    expect(await pendingFor(g, 'ISS-9')()).toHaveLength(1);
    expect(up.calls()).toHaveLength(before);
    await c.close();
  });

  it('does not let another agent’s identical call use the approval', async () => {
    const c = await connectClient('2025-11-25', g.url, await g.token('itops-bot'));
    const id = (await rejection(c.callTool('delete_issue', { id: 'ISS-10' }))).data.approval_id;
    await g.admin('POST', `/admin/approvals/${id}/approve`, {}, ['approvers']);
    // kill-bot has other roles; whatever the policy says of its call, it is never this approval.
    const other = await connectClient('2025-11-25', g.url, await g.token('kill-bot'));
    const err = await rejection(other.callTool('delete_issue', { id: 'ISS-10' }));
    expect(err.data.approval_id).not.toBe(id);
    expect((await c.callTool('delete_issue', { id: 'ISS-10' })).content[0]!.text).toMatch(/\bISS-10$/);
    await other.close();
    await c.close();
  });
});

const GO_CLIENT = spawnSync('bash', ['scripts/go-mcp-client.sh'], { encoding: 'utf8' });
const GO_BIN = GO_CLIENT.status === 0 ? GO_CLIENT.stdout.trim() : '';
if (!GO_BIN) console.warn(`SKIP the Go SDK client tests: ${GO_CLIENT.stderr.trim() || 'scripts/go-mcp-client.sh failed'}`);

describe('MCP 2026-07-28: input_required that every SDK handles', () => {
  let up: McpUpstream;
  let g: McpGateway;
  beforeAll(async () => {
    up = await startV2Upstream();
    g = await startMcpGateway(up, {}, { approvals: { hold: '10s', ttl: '1m', input_required_wait: '1s' } });
  });
  afterAll(async () => {
    await g?.close();
    await up?.close();
  });

  it('answers a held call input_required with a requestState, nothing to fulfil, and an error for clients that ignore resultType', async () => {
    const res = await fetch(g.url, {
      method: 'POST',
      headers: { authorization: `Bearer ${await g.token('itops-bot')}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'delete_issue', arguments: { id: 'ISS-20' }, _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28' } } }),
    });
    expect(res.status).toBe(200);
    const { result } = (await res.json()) as any;
    const id = result._meta['dev.portcullis/approval'].approval_id;
    expect(result).toMatchObject({ resultType: 'input_required', inputRequests: {}, requestState: `portcullis.approval:${id}`, isError: true });
    expect(result.content[0].text).toContain(`${g.gw.proxyUrl}/approvals/${id}`);
    expect(up.calls()).not.toContain('delete_issue');
  });

  it.skipIf(!GO_BIN)('the official Go SDK gets an error, never an empty success, while nobody decides', async () => {
    const token = await g.token('itops-bot');
    const { stdout } = await run(GO_BIN, ['-url', g.url, '-token', token, 'call', 'delete_issue', '{"id":"ISS-21"}']);
    const out = JSON.parse(stdout);
    expect(out.result).toBeUndefined();
    expect(out.error).toMatch(/multi-round-trip/);
    expect(up.calls()).not.toContain('delete_issue');
    // Its retries waited on the one approval they are bound to.
    expect(await pendingFor(g, 'ISS-21')()).toHaveLength(1);
  });

  it.skipIf(!GO_BIN)('the official Go SDK completes the call once a human approves during its retries', async () => {
    const token = await g.token('itops-bot');
    const call = run(GO_BIN, ['-url', g.url, '-token', token, 'call', 'delete_issue', '{"id":"ISS-22"}']);
    const [pending] = await pollUntil(pendingFor(g, 'ISS-22'), (a) => a.length === 1);
    await g.admin('POST', `/admin/approvals/${pending.id}/approve`, {}, ['approvers']);
    const out = JSON.parse((await call).stdout);
    expect(out.error).toBeUndefined();
    expect(out.result.content[0].text).toMatch(/\bISS-22$/);
    expect(up.calls().filter((n) => n === 'delete_issue')).toHaveLength(1);
  });

  it.skipIf(!GO_BIN)('the official Go SDK speaking 2025-11-25 gets the approval as an error', async () => {
    const token = await g.token('itops-bot');
    const { stdout } = await run(GO_BIN, ['-url', g.url, '-token', token, '-protocol', '2025-11-25', 'call', 'delete_issue', '{"id":"ISS-23"}']);
    const out = JSON.parse(stdout);
    expect(out.result).toBeUndefined();
    expect(out.error).toMatch(/approval/);
  });
});
