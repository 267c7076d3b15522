import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { freePort, runCli, startCli } from '../helpers/cli.js';
import { connectClient, REVISIONS } from '../helpers/mcp.js';
import { send } from '../helpers/http.js';

function tempDir() {
  return mkdtempSync(join(tmpdir(), 'portcullis-cli-'));
}

describe('portcullis CLI basics', () => {
  it('prints usage with --help and exits 0', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('usage: portcullis <command>');
  });

  it.each([
    [['frobnicate'], /unknown command "frobnicate"/],
    [['start', '--bogus'], /portcullis start: Unknown option '--bogus'/],
    [['token', 'mint', '--config', 'gateway.yaml'], /--agent is required/],
    [['token', 'burn'], /expected `portcullis token mint`/],
    [['token', 'mint', '--agent', 'x', '--ttl', 'forever'], /--ttl: not a duration/],
  ])('%j: one clear line, exit 2', async (args, message) => {
    const r = await runCli(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it.each([['start'], ['token']])('%s --help prints its usage', async (cmd) => {
    const r = await runCli([cmd, '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`portcullis ${cmd}`);
  });
});

describe('portcullis start', () => {
  it('exits 2 on a config error, naming the key, before anything listens', async () => {
    const dir = tempDir();
    const port = await freePort();
    writeFileSync(join(dir, 'gateway.yaml'), `listen: { proxy: { port: ${port} } }\ntools:\n  crm: { upstream: http://x, classification: top-secret, operations: [] }\n`);
    const r = await runCli(['start', '--config', join(dir, 'gateway.yaml')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/config error at tools\.crm\.classification: must be one of public, internal, confidential, regulated/);
    expect(r.stdout).not.toContain('listening');
  });

  it('runs the repo gateway.yaml (the embedded default): mint a token, call an example tool, see a refusal, stop on SIGTERM', async () => {
    const dir = tempDir();
    const ports = { proxy: await freePort(), admin: await freePort() };
    let yaml = readFileSync(new URL('../../gateway.yaml', import.meta.url), 'utf8')
      .replace('port: 8080', `port: ${ports.proxy}`)
      .replace('port: 8081', `port: ${ports.admin}`)
      .replace('./policies/build/bundle.tar.gz', fileURLToPath(new URL('../../policies/build/bundle.tar.gz', import.meta.url)));
    for (const p of ['9101', '9102', '9103', '9104', '9105', '9106']) yaml = yaml.replace(`127.0.0.1:${p}`, `127.0.0.1:${await freePort()}`);
    writeFileSync(join(dir, 'gateway.yaml'), yaml);
    const config = join(dir, 'gateway.yaml');

    const gw = startCli(['start', '--config', config], (l) => l.msg === 'portcullis listening');
    try {
      const ready = await gw.readyLine;
      const proxy = ready.proxy as string;
      expect(proxy).toBe(`http://127.0.0.1:${ports.proxy}`);
      expect(gw.stderr()).toContain('token mint --agent support-bot');

      const minted = await runCli(['token', 'mint', '--config', config, '--agent', 'support-bot', '--scope', 'ticketing:read ticketing:write', '--task', 'T-1']);
      expect(minted.code).toBe(0);
      const token = minted.stdout.trim();
      expect(token.split('.')).toHaveLength(3);

      const ok = await send(proxy, { path: '/tools/ticketing/tickets', headers: { authorization: `Bearer ${token}` } });
      expect(ok.status).toBe(200);
      expect(ok.json().tickets.length).toBeGreaterThan(0);

      const created = await send(proxy, {
        method: 'POST',
        path: '/tools/ticketing/tickets',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ title: 'Printer on fire' }),
      });
      expect(created.status).toBe(201);
      expect(created.json().comments[0].by).toBe('support-bot');

      const refused = await send(proxy, { path: '/tools/payments/payments', headers: { authorization: `Bearer ${token}` } });
      expect(refused.status).toBe(403);
      expect(refused.json()).toMatchObject({ error: 'insufficient_scope' });

      // The example MCP server (tracker), through the gateway, with both SDK generations.
      const mcpToken = (await runCli(['token', 'mint', '--config', config, '--agent', 'support-bot', '--scope', 'tracker:read tracker:write'])).stdout.trim();
      for (const revision of REVISIONS) {
        const c = await connectClient(revision, `${proxy}/tools/tracker`, mcpToken);
        const names = (await c.listTools()).map((t) => t.name);
        expect(names).toContain('create_issue');
        expect(names).not.toContain('delete_issue');
        expect((await c.callTool('search_issues', { query: 'vpn' })).content[0]!.text).toContain('ISS-1');
        await c.close();
      }

      const delegated = await runCli(['token', 'mint', '--config', config, '--agent', 'support-bot', '--user', 'alice@example.com', '--roles', 'support', '--scope', 'crm:read']);
      const viaUser = await send(proxy, { path: '/tools/crm/contacts/c-1', headers: { authorization: `Bearer ${delegated.stdout.trim()}` } });
      expect(viaUser.status).toBe(200);
      expect(viaUser.json().name).toBe('Ada Moreau');

      const admin = await runCli(['token', 'mint', '--config', config, '--admin', '--subject', 'erin@example.com', '--groups', 'sec-ops']);
      const who = await send(`http://127.0.0.1:${ports.admin}`, { path: '/admin/whoami', headers: { authorization: `Bearer ${admin.stdout.trim()}` } });
      expect(who.json()).toMatchObject({ subject: 'erin@example.com', roles: ['operator'] });

      // SIGHUP reloads the policy bundle.
      gw.child.kill('SIGHUP');
      const deadline = Date.now() + 5000;
      while (!gw.lines.some((l) => l.msg === 'policy bundle loaded' && l.trigger === 'signal') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(gw.lines.some((l) => l.msg === 'policy bundle loaded' && l.trigger === 'signal')).toBe(true);

      const line = gw.lines.find((l) => l.msg === 'call' && l.task_id === 'T-1');
      expect(line).toMatchObject({ agent: 'support-bot', tool: 'ticketing', status: 200 });
      expect(JSON.stringify(gw.lines)).not.toContain(token);
    } finally {
      gw.child.kill('SIGTERM');
    }
    expect(await gw.exited).toBe(0);
    expect(gw.lines.at(-1)).toMatchObject({ msg: 'portcullis stopped' });
  });
});
