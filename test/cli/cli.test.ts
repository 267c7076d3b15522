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
    const ports = { proxy: await freePort(), admin: await freePort(), sso: await freePort() };
    let yaml = readFileSync(new URL('../../gateway.yaml', import.meta.url), 'utf8')
      .replace('port: 8080', `port: ${ports.proxy}`)
      .replace('issuer: http://127.0.0.1:8080', `issuer: http://127.0.0.1:${ports.proxy}`)
      .replace('sso_port: 8083', `sso_port: ${ports.sso}`)
      .replaceAll('./examples/agents/', fileURLToPath(new URL('../../examples/agents/', import.meta.url)))
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
      // dev.sso: the console's sign-in goes to the development IdP.
      const login = await fetch(`http://127.0.0.1:${ports.admin}/console/login`, { redirect: 'manual' });
      expect(login.status).toBe(302);
      expect(login.headers.get('location')).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${ports.sso}/auth\\?`));

      // README's first call: a client assertion signed with the bundled example key, then /oauth2/token.
      const key = fileURLToPath(new URL('../../examples/agents/support-bot.key.pem', import.meta.url));
      const assertion = await runCli(['agents', 'assert', '--agent', 'support-bot', '--key', key, '--aud', proxy]);
      expect(assertion.code).toBe(0);
      const form = new URLSearchParams({
        grant_type: 'client_credentials',
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: assertion.stdout.trim(),
        scope: 'ticketing:read ticketing:write',
        task_id: 'T-1',
      });
      const issued = await send(proxy, { method: 'POST', path: '/oauth2/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString() });
      expect(issued.status).toBe(200);
      expect(issued.json()).toMatchObject({ token_type: 'Bearer', expires_in: 300, scope: 'ticketing:read ticketing:write' });
      const token = issued.json().access_token as string;
      expect(token.split('.')).toHaveLength(3);
      const minted = await runCli(['token', 'mint', '--config', config, '--agent', 'support-bot', '--scope', 'ticketing:read ticketing:write', '--task', 'T-2', '--verbose']);
      expect(minted.code).toBe(0);
      expect(minted.stderr).toMatch(/^jti [0-9a-f-]{36} \(revoke: portcullis revoke --jti [0-9a-f-]{36}\), expires \d{4}-\d\d-\d\dT/);
      // A token the gateway would refuse, or that covers nothing, is minted with a warning.
      const odd = await runCli(['token', 'mint', '--config', config, '--agent', 'suport-bot', '--scope', 'tickets:read']);
      expect(odd.code).toBe(0);
      expect(odd.stderr).toContain('warning: agent "suport-bot" is not in the registry of this config');
      expect(odd.stderr).toContain('warning: scope "tickets:read" names no tool of this config');
      expect((await send(proxy, { path: '/tools/ticketing/tickets', headers: { authorization: `Bearer ${minted.stdout.trim()}` } })).status).toBe(200);

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

describe('portcullis agents keygen | secret | assert', () => {
  it('keygen writes a key pair and prints the JWKS; assert signs a client assertion with it', async () => {
    const dir = tempDir();
    const r = await runCli(['agents', 'keygen', '--agent', 'new-bot', '--out', dir, '--alg', 'ES256']);
    expect(r.code).toBe(0);
    const jwks = JSON.parse(r.stdout) as { keys: { kty: string; crv: string; kid: string; d?: string }[] };
    expect(jwks.keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256' });
    expect(jwks.keys[0]!.d).toBeUndefined();
    expect(JSON.parse(readFileSync(join(dir, 'new-bot.jwks.json'), 'utf8'))).toEqual(jwks);
    expect((await runCli(['agents', 'keygen', '--agent', 'new-bot', '--out', dir])).code).toBe(2);
    const a = await runCli(['agents', 'assert', '--agent', 'new-bot', '--key', join(dir, 'new-bot.key.pem'), '--aud', 'https://gw.example.com']);
    expect(a.code).toBe(0);
    const [header, payload] = a.stdout.trim().split('.').slice(0, 2).map((p) => JSON.parse(Buffer.from(p!, 'base64url').toString('utf8')) as Record<string, unknown>);
    expect(header).toMatchObject({ alg: 'ES256', kid: jwks.keys[0]!.kid });
    expect(payload).toMatchObject({ iss: 'new-bot', sub: 'new-bot', aud: 'https://gw.example.com' });
  });

  it('secret prints a secret once and a hash the config accepts', async () => {
    const r = await runCli(['agents', 'secret', '--agent', 'new-bot']);
    expect(r.code).toBe(0);
    const secret = /client_secret: (\S+)/.exec(r.stdout)![1]!;
    const hash = /"(\$scrypt\$[^"]+)"/.exec(r.stdout)![1]!;
    expect(secret.length).toBeGreaterThanOrEqual(43);
    const { createSecretVerifier } = await import('../../src/identity/client-secrets.js');
    expect(await createSecretVerifier({ cacheTtlMs: 0 }).verify('new-bot', secret, [hash])).toBe(true);
    expect((await runCli(['agents', 'secret'])).code).toBe(2);
  });
});
