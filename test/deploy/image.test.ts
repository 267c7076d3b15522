/**
 * The container image, checked without a Docker daemon (CI builds it where one runs): the Dockerfile
 * runs as a non-root user, has a health check, copies only paths that exist, and starts the
 * production example configuration, which compiles and has no development setting in it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileConfig } from '../../src/config/compile.js';
import { parseConfig } from '../../src/config/load.js';

const root = new URL('../../', import.meta.url).pathname;
const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
const lines = dockerfile.split('\n').filter((l) => l.trim() && !l.trim().startsWith('#'));
const finalStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
const DOCKER = spawnSync('docker', ['info'], { stdio: 'ignore' }).status === 0;
if (!DOCKER) console.warn('SKIP building the container image: no Docker daemon on this machine (the Dockerfile itself is checked)');

describe('the Dockerfile', () => {
  it('builds on a maintained Node.js LTS line and runs as a non-root user with a health check', () => {
    const froms = lines.filter((l) => l.startsWith('FROM ')).map((l) => l.split(/\s+/)[1]!);
    expect(froms.length).toBeGreaterThan(0);
    for (const f of froms) expect(f).toMatch(/^node:(24|26)-/);
    const user = /^USER\s+(\S+)/m.exec(finalStage)?.[1];
    expect(user).toBeDefined();
    expect(['root', '0']).not.toContain(user);
    expect(finalStage).toMatch(/^HEALTHCHECK .*\n?.*\/healthz/m);
    expect(finalStage).toContain('CMD ["start", "--config", "/etc/portcullis/gateway.yaml"]');
  });

  it('copies only paths that exist, never local state, keys or the development config', () => {
    for (const l of lines.filter((x) => x.startsWith('COPY ') && !x.includes('--from='))) {
      const sources = l.split(/\s+/).slice(1, -1);
      for (const s of sources) expect(existsSync(join(root, s)), `${l}: ${s}`).toBe(true);
    }
    expect(dockerfile).not.toMatch(/COPY [^\n]*gateway\.yaml \.\//);
    const ignored = readFileSync(join(root, '.dockerignore'), 'utf8').split('\n');
    for (const p of ['node_modules', '.portcullis', 'audit-keys.json', '.git']) expect(ignored).toContain(p);
  });

  it.skipIf(!DOCKER)('builds with Docker where a daemon runs', () => {
    expect(spawnSync('docker', ['build', '-q', '-t', 'portcullis:test', root], { stdio: 'inherit', timeout: 600_000 }).status).toBe(0);
  });
});

describe('the production example configuration', () => {
  const text = readFileSync(join(root, 'deploy/gateway.production.yaml'), 'utf8');
  const env = { PORTCULLIS_PUBLIC_URL: 'https://gw.example.com', TICKETING_URL: 'https://tickets.example.com', REDIS_URL: 'redis://redis:6379', ADMIN_ISSUER: 'https://sso.example.com', ADMIN_JWKS_URI: 'https://sso.example.com/jwks' };
  /** The file compiled with its mounts in place (a secret file, an agent's JWKS) and this environment. */
  const compile = (extra: Record<string, string> = {}) => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-prod-'));
    const secret = join(dir, 'ticketing-token');
    writeFileSync(secret, 'tickets-secret');
    const mounted = text.replaceAll('/etc/portcullis/secrets/ticketing-token', secret).replaceAll('/etc/portcullis/agents/support-bot.jwks.json', join(root, 'examples/agents/support-bot.jwks.json'));
    return compileConfig(parseConfig(mounted, { env: { ...env, ...extra }, baseDir: dir }), dir);
  };

  it('has no development setting and no example credential', () => {
    expect(text).not.toMatch(/dev-[a-z]+-token|examples\/agents|:-dev-/);
    const c = compile();
    expect(c.dev).toMatchObject({ issuer: false, exampleTools: false, sso: false });
    expect(c.tokenService?.issuer).toBe('https://gw.example.com');
    expect(c.state.store).toBe('redis');
  });

  it('listens on all interfaces, or where PORTCULLIS_HOST says', () => {
    expect(compile().listen.proxy.host).toBe('0.0.0.0');
    expect(compile({ PORTCULLIS_HOST: '127.0.0.1' }).listen.proxy.host).toBe('127.0.0.1');
  });
});
