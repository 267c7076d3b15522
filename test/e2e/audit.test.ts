import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestIssuer, type TestIssuer } from '../helpers/issuer.js';
import { startUpstream, type RecordingUpstream } from '../helpers/upstream.js';
import { startGateway, tempAudit, testConfig, type RunningGateway } from '../helpers/gateway.js';
import { send } from '../helpers/http.js';
import { runCli } from '../helpers/cli.js';
import { CRM_SECRET, crmTools } from './fixtures.js';

const BREAK_GLASS = 'audit-test-break-glass';
let issuer: TestIssuer;
let up: RecordingUpstream;
let gw: RunningGateway;
let auditPath: string;
let intentOnDiskBeforeForward: Record<string, boolean>;

const events = () => readFileSync(auditPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const eventsFor = (requestId: unknown) => events().filter((e) => e.request_id === requestId);
const settle = () => new Promise((r) => setTimeout(r, 60));

beforeAll(async () => {
  issuer = await createTestIssuer();
  intentOnDiskBeforeForward = {};
  up = await startUpstream((req, res) => {
    // What was on disk at the moment the upstream received the call.
    const id = String(req.headers['portcullis-request-id']);
    intentOnDiskBeforeForward[id] = readFileSync(auditPath, 'utf8').includes(`"request_id":"${id}"`);
    res.setHeader('content-type', 'application/json');
    res.end('{"ok":true}');
  });
  const audit = tempAudit({ checkpoint: { every: 5, interval: '1h' } });
  auditPath = (audit.sinks as { path: string }[])[0]!.path;
  const tools = crmTools(up);
  tools.crm = { ...tools.crm, audit: { capture_body: true, redact: ['card.number', 'password'] } } as typeof tools.crm;
  gw = await startGateway(testConfig(issuer, tools, { audit, admin: { break_glass: { sha256: createHash('sha256').update(BREAK_GLASS).digest('hex') } } }));
});
afterAll(async () => {
  await gw.close();
  await up.close();
});
beforeEach(() => {
  up.received.length = 0;
});

describe('every call is an audit event', () => {
  it('records an allowed call: who, what, decision, outcome, timing and the body digest, never the token', async () => {
    const token = await issuer.token('support-bot', 'crm:write', { task_id: 'T-9' });
    const body = JSON.stringify({ text: 'call back', card: { number: '4111111111111111', exp: '12/30' }, password: 'hunter2' });
    const res = await send(gw.proxyUrl, { method: 'POST', path: '/tools/crm/contacts/c-1/notes', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body });
    expect(res.status).toBe(200);
    await settle();
    const [e] = eventsFor(res.headers['portcullis-request-id']);
    expect(e).toMatchObject({
      v: 1,
      type: 'tool_call',
      task_id: 'T-9',
      agent: { id: 'support-bot', owner: 'alice@example.com' },
      user: null,
      delegation: ['support-bot'],
      tool: 'crm',
      operation: 'add-note',
      action: 'write',
      classification: 'confidential',
      decision: { result: 'allow', policy_revision: 'scope-only' },
      outcome: { result: 'ok', status: 200, error: null, upstream_status: 200 },
      client: { ip: '127.0.0.1' },
      request: {
        method: 'POST',
        path: '/tools/crm/contacts/c-1/notes',
        body_sha256: createHash('sha256').update(body).digest('hex'),
        body_bytes: Buffer.byteLength(body),
        body: { text: 'call back', card: { number: '[redacted]', exp: '12/30' }, password: '[redacted]' },
      },
    });
    expect(e.timing.duration_ms).toBeGreaterThan(0);
    const raw = readFileSync(auditPath, 'utf8');
    expect(raw).not.toContain(token);
    expect(raw).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}/);
    expect(raw).not.toContain(CRM_SECRET);
    expect(raw).not.toContain('4111111111111111');
  });

  it('records a bad token as an auth_failure with nothing of the token', async () => {
    const token = await issuer.sign({ sub: 'support-bot', scope: 'crm:read', aud: 'elsewhere' });
    const res = await send(gw.proxyUrl, { path: `/tools/crm/contacts/c-1?access_token=${token}`, headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(401);
    await settle();
    const [e] = eventsFor(res.headers['portcullis-request-id']);
    expect(e).toMatchObject({ type: 'auth_failure', outcome: { result: 'refused', status: 401, error: 'invalid_token', reason: 'token_in_query' }, request: { path: '/tools/crm/contacts/c-1' } });
    expect(JSON.stringify(e)).not.toContain(token.slice(0, 20));
  });

  it('records a refusal with its reason code', async () => {
    const res = await send(gw.proxyUrl, { path: '/tools/crm/contacts/c-1', headers: { authorization: `Bearer ${await issuer.token('support-bot', 'crm:write')}` } });
    expect(res.status).toBe(403);
    await settle();
    expect(eventsFor(res.headers['portcullis-request-id'])[0]).toMatchObject({
      type: 'tool_call',
      operation: 'get-contact',
      outcome: { result: 'refused', status: 403, error: 'insufficient_scope', reason: 'scope_missing' },
    });
  });

  it('writes and flushes a high-risk call to disk before forwarding it', async () => {
    const res = await send(gw.proxyUrl, { path: '/tools/crm/export', headers: { authorization: `Bearer ${await issuer.token('support-bot', 'crm:export')}` } });
    expect(res.status).toBe(200);
    const id = String(res.headers['portcullis-request-id']);
    expect(intentOnDiskBeforeForward[id]).toBe(true);
    await settle();
    expect(eventsFor(id).map((e) => [e.type, e.outcome.result])).toEqual([
      ['tool_call_intent', 'forwarding'],
      ['tool_call', 'ok'],
    ]);
  });

  it('records startup with the chain head', () => {
    expect(events()[0]).toMatchObject({ seq: 1, type: 'startup', tools: 1, agents: 3 });
  });
});

describe('reading the trail', () => {
  const admin = { authorization: `Bearer ${BREAK_GLASS}` };

  it('serves the chain head with its last checkpoint, and the public checkpoint keys', async () => {
    const head = (await send(gw.adminUrl, { path: '/admin/audit/head', headers: admin })).json();
    expect(head.chains[0]).toMatchObject({ seq: expect.any(Number), hash: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(head.chains[0].last_checkpoint).toMatchObject({ seq: expect.any(Number), signature: expect.any(String) });
    const keys = (await send(gw.adminUrl, { path: '/.well-known/portcullis-audit-keys.json' })).json();
    expect(keys.keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', kid: head.chains[0].last_checkpoint.kid });
    expect(keys.keys[0].d).toBeUndefined();
    expect((await send(gw.adminUrl, { path: '/admin/audit/head' })).status).toBe(401);
  });

  it('streams events live over SSE, and resumes from Last-Event-ID', async () => {
    const res = await request(`${gw.adminUrl}/admin/audit/stream`, { headers: admin });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/event-stream');
    const seen: Record<string, unknown>[] = [];
    const reading = (async () => {
      let buf = '';
      for await (const chunk of res.body) {
        buf += chunk.toString();
        for (const m of buf.matchAll(/^data: (.*)$/gm)) seen.push(JSON.parse(m[1]!));
        buf = buf.slice(buf.lastIndexOf('\n\n') + 2);
        if (seen.some((e) => e.type === 'tool_call' && (e as { operation?: string }).operation === 'list-contacts')) return;
      }
    })();
    const call = await send(gw.proxyUrl, { path: '/tools/crm/contacts', headers: { authorization: `Bearer ${await issuer.token('support-bot', 'crm:read')}` } });
    await Promise.race([reading, new Promise((r) => setTimeout(r, 3000))]);
    res.body.destroy();
    const e = seen.find((x) => x.request_id === call.headers['portcullis-request-id']) as { seq: number } | undefined;
    expect(e).toBeDefined();

    const resumed = await request(`${gw.adminUrl}/admin/audit/stream`, { headers: { ...admin, 'last-event-id': String(e!.seq - 1) } });
    const first = (await resumed.body[Symbol.asyncIterator]().next()).value.toString() as string;
    resumed.body.destroy();
    expect(first).toContain(`id: ${e!.seq}\n`);
  });

  it('`portcullis audit tail` prints the live stream as JSON lines', async () => {
    const { spawn } = await import('node:child_process');
    const { BIN } = await import('../helpers/cli.js');
    // --from-seq: whenever the tail connects, it starts from here, so the call below is never missed.
    const from = String(gw.gateway.audit()!.head().seq);
    const tail = spawn(process.execPath, [BIN, 'audit', 'tail', '--url', gw.adminUrl, '--from-seq', from], { env: { ...process.env, PORTCULLIS_ADMIN_TOKEN: BREAK_GLASS } });
    let out = '';
    tail.stdout.on('data', (d) => (out += d));
    try {
      const call = await send(gw.proxyUrl, { path: '/tools/crm/contacts', headers: { authorization: `Bearer ${await issuer.token('support-bot', 'crm:read')}` } });
      const id = String(call.headers['portcullis-request-id']);
      const deadline = Date.now() + 10_000;
      while (!out.includes(id) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const line = out.split('\n').find((l) => l.includes(`"request_id":"${id}"`));
      expect(JSON.parse(line!)).toMatchObject({ type: 'tool_call', request_id: id, operation: 'list-contacts' });
    } finally {
      tail.kill();
    }
  });

  it('`portcullis audit verify` passes on the live log and names the record when it is edited', async () => {
    const keysFile = join(mkdtempSync(join(tmpdir(), 'portcullis-keys-')), 'keys.json');
    writeFileSync(keysFile, (await send(gw.adminUrl, { path: '/.well-known/portcullis-audit-keys.json' })).text);
    const ok = await runCli(['audit', 'verify', auditPath, '--key', keysFile]);
    expect(ok.stdout).toMatch(/chain .*: seq 1\.\.\d+, \d+ records in 1 file\(s\), intact; last checkpoint at seq \d+/);
    expect(ok.stdout).toContain('checkpoint signatures verified');
    expect(ok.code).toBe(0);

    const copy = join(mkdtempSync(join(tmpdir(), 'portcullis-edit-')), 'audit.jsonl');
    const lines = readFileSync(auditPath, 'utf8').split('\n');
    const i = lines.findIndex((l) => l.includes('"agent":{"id":"support-bot"'));
    const seq = JSON.parse(lines[i]!).seq;
    lines[i] = lines[i]!.replace('"agent":{"id":"support-bot"', '"agent":{"id":"finance-bot"');
    writeFileSync(copy, lines.join('\n'));
    const bad = await runCli(['audit', 'verify', copy, '--key', keysFile]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain(`FAILED: ${copy}:${i + 1} seq ${seq}: hash does not match the record`);
  });
});

describe('when the local log cannot be written', () => {
  it('refuses calls with audit_unavailable and says so in /readyz; recovers, losing nothing, when the disk does', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-full-'));
    const path = join(dir, 'audit.jsonl');
    symlinkSync('/dev/full', path); // every write fails with ENOSPC
    const g = await startGateway(testConfig(issuer, crmTools(up), { audit: { ...tempAudit(), sinks: [{ type: 'file', path }] } }));
    try {
      const token = await issuer.token('support-bot', 'crm:read');
      await settle();
      const refused = await send(g.proxyUrl, { path: '/tools/crm/contacts', headers: { authorization: `Bearer ${token}` } });
      expect(refused.status).toBe(503);
      expect(refused.json()).toMatchObject({ error: 'audit_unavailable', reasons: ['audit_log_unwritable'] });
      expect(up.received).toHaveLength(0);
      const ready = await send(g.adminUrl, { path: '/readyz' });
      expect(ready.status).toBe(503);
      expect(ready.json().checks.audit_writable).toBe(false);

      // The disk comes back: the waiting events (startup, the refusal) are written in order.
      rmSync(path);
      writeFileSync(path, '');
      const deadline = Date.now() + 5000;
      while ((await send(g.adminUrl, { path: '/readyz' })).status !== 200 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect((await send(g.proxyUrl, { path: '/tools/crm/contacts', headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
      await settle();
      const written = readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      expect(written[0]).toMatchObject({ seq: 1, type: 'startup' });
      expect(written.find((e) => e.request_id === refused.headers['portcullis-request-id'])).toMatchObject({ outcome: { error: 'audit_unavailable' } });
      expect(written.map((e) => e.seq)).toEqual(written.map((_, i) => i + 1));
    } finally {
      await g.close();
    }
  });
});
