import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { logFiles, readLines } from '../../src/audit/log-files.js';
import { verifyAudit } from '../../src/audit/verify.js';
import { freePort, startCli } from '../helpers/cli.js';
import { createTestIssuer, type TestIssuer } from '../helpers/issuer.js';
import { buildPolicyBundle } from '../helpers/policy.js';
import { startUpstream } from '../helpers/upstream.js';
import { send } from '../helpers/http.js';
import { request as httpRequest } from 'node:http';

const ALLOW_ALL = 'package portcullis\n\nimport rego.v1\n\ndecision := {"allow": true, "approval_required": false, "reasons": ["crash test"]}\n';

/** A gateway.yaml in a fresh folder: one agent, a `warehouse` tool with these operations, an allow-all policy. */
async function crashConfig(issuer: TestIssuer, upstream: string, operations: unknown[], audit: Record<string, unknown> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-crash-'));
  const bundle = await buildPolicyBundle({ rego: ALLOW_ALL });
  const port = await freePort();
  const config = join(dir, 'gateway.yaml');
  writeFileSync(
    config,
    JSON.stringify({
      listen: { proxy: { port }, admin: { port: await freePort() } },
      auth: { issuers: [{ issuer: issuer.issuer, jwks_file: issuer.jwksFile, audiences: ['portcullis'] }] },
      agents: { 'finance-bot': { owner: 'carol@example.com', roles: ['finance_agent'], max_classification: 'regulated' } },
      tools: { warehouse: { upstream, classification: 'confidential', operations } },
      policy: { bundle, watch: false },
      audit: { sinks: [{ type: 'file', path: './audit/audit.jsonl' }], signing_key: './audit-key.pem', generate_signing_key: true, ...audit },
      logging: { level: 'warn' },
    }),
  );
  return { dir, port, config };
}

describe('a gateway killed under load (SIGKILL)', () => {
  it('leaves a log that verifies, with an event for every high-risk call the upstream received', async () => {
    const issuer = await createTestIssuer();
    const received = new Set<string>();
    const up = await startUpstream((req, res) => {
      if (req.url.endsWith('/export')) received.add(String(req.headers['portcullis-request-id']));
      res.end('{"exported":true}');
    });
    const { dir, port, config } = await crashConfig(issuer, up.url, [
      { name: 'export-view', method: 'GET', path: '/views/:view/export', action: 'export', risk: 'high' },
      { name: 'query-view', method: 'GET', path: '/views/:view', action: 'read' },
    ], { checkpoint: { every: 10, interval: '1h' } });
    const gw = startCli(['start', '--config', config], () => false);
    gw.readyLine.catch(() => undefined); // never "ready" by design: this test kills it
    const proxy = `http://127.0.0.1:${port}`;
    // Wait until it answers, then load it from 16 concurrent clients until the kill.
    const token = await issuer.token('finance-bot', 'warehouse:export warehouse:read');
    for (let i = 0; i < 100; i++) {
      try {
        await send(proxy, { path: '/tools/warehouse/views/v/export', headers: { authorization: `Bearer ${token}` } });
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    let killed = false;
    const clients = Array.from({ length: 16 }, async (_, c) => {
      for (let i = 0; !killed; i++) {
        const path = (c + i) % 3 === 0 ? '/tools/warehouse/views/v' : '/tools/warehouse/views/v/export';
        await send(proxy, { path, headers: { authorization: `Bearer ${token}` } }).catch(() => undefined);
      }
    });
    await new Promise((r) => setTimeout(r, 1500));
    gw.child.kill('SIGKILL');
    killed = true;
    await gw.exited;
    await Promise.all(clients);
    await up.close();

    const files = logFiles(join(dir, 'audit', 'audit.jsonl'));
    const report = verifyAudit(files);
    expect(report.error).toBeUndefined();
    expect(report.ok).toBe(true);

    const intents = new Set<string>();
    for (const f of files) for (const l of readLines(f)) if (l.record?.type === 'tool_call_intent') intents.add(String(l.record.request_id));
    expect(received.size).toBeGreaterThan(30);
    console.log(`crash test: ${received.size} high-risk calls reached the upstream, all with a durable intent; ${report.warnings.length} warning(s)`);
    const missing = [...received].filter((id) => !intents.has(id));
    expect(missing).toEqual([]);
  }, 60_000);

  it('loses no answered call: 20 kills at random moments under load, every request id a client saw an answer for is in the log', async () => {
    const issuer = await createTestIssuer();
    const up = await startUpstream((_req, res) => void res.end('{"ok":true}'));
    // The default group commit and sync interval: the window in which answered calls used to be lost.
    const { dir, port, config } = await crashConfig(issuer, up.url, [{ name: 'query-view', method: 'GET', path: '/views/:view', action: 'read' }]);
    const proxy = new URL(`http://127.0.0.1:${port}`);
    const token = await issuer.token('finance-bot', 'warehouse:read');
    const answered = new Set<string>();
    /** Resolves at the response's status line: the moment the client has its answer. */
    const callOnce = (path: string) =>
      new Promise<void>((resolve) => {
        const req = httpRequest({ host: proxy.hostname, port: proxy.port, path, headers: { authorization: `Bearer ${token}` }, agent: false }, (res) => {
          answered.add(String(res.headers['portcullis-request-id']));
          res.resume();
          res.on('end', resolve).on('error', () => resolve());
        });
        req.on('error', () => resolve());
        req.end();
      });
    for (let kill = 0; kill < 20; kill++) {
      const gw = startCli(['start', '--config', config], () => false, { cwd: dir });
      gw.readyLine.catch(() => undefined);
      for (let i = 0; i < 200; i++) {
        const ok = await send(proxy.origin, { path: '/tools/warehouse/views/warm', headers: { authorization: `Bearer ${token}` } }).then((r) => (answered.add(String(r.headers['portcullis-request-id'])), true), () => false);
        if (ok) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      let killed = false;
      const clients = Array.from({ length: 8 }, async (_, c) => {
        // A refused call is an answer too: every fourth is out of scope.
        for (let i = 0; !killed; i++) await callOnce((c + i) % 4 === 0 ? '/tools/warehouse/nope' : `/tools/warehouse/views/v${i}`);
      });
      await new Promise((r) => setTimeout(r, 100 + Math.random() * 400));
      gw.child.kill('SIGKILL');
      killed = true;
      await gw.exited;
      await Promise.all(clients);
    }
    await up.close();

    const files = logFiles(join(dir, 'audit', 'audit.jsonl'));
    const logged = new Set<string>();
    for (const f of files) for (const l of readLines(f)) if (l.record?.request_id) logged.add(String(l.record.request_id));
    const missing = [...answered].filter((id) => !logged.has(id));
    console.log(`kill test: 20 kills, ${answered.size} answered calls, ${missing.length} missing from the log`);
    expect(answered.size).toBeGreaterThan(500);
    expect(missing).toEqual([]);
    expect(verifyAudit(files).ok).toBe(true);
  }, 180_000);
});
