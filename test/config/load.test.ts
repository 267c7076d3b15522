import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileConfig } from '../../src/config/compile.js';
import { ConfigError, loadConfigFile, parseConfig } from '../../src/config/load.js';

const BASE = `
auth:
  issuers: [{ issuer: https://idp.example.com, jwks_uri: https://idp.example.com/jwks.json, audiences: [portcullis] }]
agents:
  support-bot: { owner: alice@example.com, roles: [support_agent], max_classification: confidential }
tools:
  crm:
    upstream: http://127.0.0.1:9101
    classification: confidential
    operations:
      - { name: get-contact, method: GET, path: /contacts/:id, action: read }
`;

function compile(yaml: string, env: Record<string, string> = {}, baseDir = process.cwd()) {
  return compileConfig(parseConfig(yaml, { env, baseDir }), baseDir);
}

describe('a valid config', () => {
  it('fills defaults and compiles', () => {
    const c = compile(BASE);
    expect(c.listen.proxy).toMatchObject({ host: '127.0.0.1', port: 8080, timeouts: { headersMs: 10_000, bodyMs: 30_000, idleMs: 5_000 } });
    expect(c.listen.proxy.publicUrl).toBeUndefined();
    expect(c.listen.admin).toEqual({ host: '127.0.0.1', port: 8081 });
    expect(c.auth.maxTokenTtlSec).toBe(900);
    expect(c.auth.clockToleranceSec).toBe(5);
    const crm = c.tools.get('crm')!;
    expect(crm).toMatchObject({ protocol: 'http', timeoutMs: 10_000, maxBodyBytes: 1_000_000, origin: 'http://127.0.0.1:9101', basePath: '' });
    expect(crm.operations[0]).toMatchObject({ scope: 'crm:read', risk: 'low' });
    expect(c.agents.get('support-bot')).toMatchObject({ status: 'active', maxClassification: 'confidential' });
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(crm.operations[0])).toBe(true);
  });

  it('accepts the whole example from the SPEC', () => {
    const spec = readFileSync(new URL('../../docs/examples/spec-gateway.yaml', import.meta.url), 'utf8');
    const c = compile(spec, { CRM_TOKEN: 'x' });
    expect([...c.tools.keys()]).toEqual(['crm', 'tracker']);
  });

  it('accepts the repo gateway.yaml (the embedded default)', () => {
    const text = readFileSync(new URL('../../gateway.yaml', import.meta.url), 'utf8');
    const c = compile(text);
    expect([...c.agents.keys()]).toEqual(['support-bot', 'sales-bot', 'finance-bot', 'itops-bot']);
    expect([...c.tools.keys()]).toEqual(['crm', 'ticketing', 'email', 'payments', 'warehouse', 'tracker']);
    expect(c.tools.get('tracker')!.protocol).toBe('mcp');
    expect([...c.tools.get('tracker')!.mcp!.tools.keys()]).toContain('create_issue');
  });
});

describe('secret substitution', () => {
  it('substitutes ${env:NAME}', () => {
    const c = compile(BASE.replace('classification: confidential\n    operations', 'classification: confidential\n    credentials: { header: authorization, value: "Bearer ${env:CRM_TOKEN}" }\n    operations'), { CRM_TOKEN: 's3cret' });
    expect(c.tools.get('crm')!.credential).toEqual({ header: 'authorization', value: 'Bearer s3cret' });
  });

  it('falls back to ${env:NAME:-default}', () => {
    const c = compile(BASE.replace('classification: confidential\n    operations', 'classification: confidential\n    credentials: { header: x-api-key, value: "${env:NOPE:-dev-key}" }\n    operations'));
    expect(c.tools.get('crm')!.credential!.value).toBe('dev-key');
  });

  it('reads ${file:PATH} relative to the config file, without the trailing newline', () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-cfg-'));
    writeFileSync(join(dir, 'crm.secret'), 'from-a-file\n');
    writeFileSync(join(dir, 'gateway.yaml'), BASE.replace('classification: confidential\n    operations', 'classification: confidential\n    credentials: { header: x-api-key, value: "${file:crm.secret}" }\n    operations'));
    const { raw, baseDir } = loadConfigFile(join(dir, 'gateway.yaml'), {});
    expect(compileConfig(raw, baseDir).tools.get('crm')!.credential!.value).toBe('from-a-file');
  });

  it('cannot inject YAML structure through a substituted value', () => {
    const c = compile(BASE.replace('owner: alice@example.com', 'owner: "${env:OWNER}"'), { OWNER: 'x\nstatus: retired' });
    expect(c.agents.get('support-bot')!.status).toBe('active');
  });
});

describe('config errors name the key path and the problem', () => {
  const cases: [string, (y: string) => string, string, RegExp][] = [
    ['a typo in a key', (y) => y.replace('upstream:', 'upstreem:'), 'tools.crm.upstreem', /unknown key/],
    ['a missing required key', (y) => y.replace('    classification: confidential\n    operations', '    operations'), 'tools.crm.classification', /required|one of/],
    ['an unknown classification', (y) => y.replace('classification: confidential\n    operations', 'classification: secret\n    operations'), 'tools.crm.classification', /one of public, internal, confidential, regulated/],
    ['an unknown action', (y) => y.replace('action: read', 'action: delete'), 'tools.crm.operations.0.action', /one of read, write, export, admin, approve/],
    ['a non-URL upstream', (y) => y.replace('http://127.0.0.1:9101', 'ftp://x'), 'tools.crm.upstream', /an http:\/\/ or https:\/\/ URL, or \{ command, args, env \}/],
    ['an upstream with a query', (y) => y.replace('http://127.0.0.1:9101', 'http://127.0.0.1:9101/?key=1'), 'tools.crm.upstream', /query/],
    ['a bad duration', (y) => `${y}\nshutdown: { grace: soon }\n`, 'shutdown.grace', /duration/],
    ['a bad tool timeout', (y) => y.replace('classification: confidential\n    operations', 'classification: confidential\n    timeout: 10 parsecs\n    operations'), 'tools.crm.timeout', /duration/],
    ['a bad size', (y) => `${y}\nlimits: { max_body: huge }\n`, 'limits.max_body', /size/],
    ['a port out of range', (y) => `${y}\nlisten: { proxy: { port: 70000 } }\n`, 'listen.proxy.port', /65535/],
    ['an issuer with both jwks_uri and jwks_file', (y) => y.replace('jwks_uri: https://idp.example.com/jwks.json', 'jwks_uri: https://idp.example.com/jwks.json, jwks_file: ./k.json'), 'auth.issuers.0', /exactly one/],
    ['an http operation without a path', (y) => y.replace(', path: /contacts/:id', ''), 'tools.crm.operations.0.path', /required/],
    ['a duplicate operation name', (y) => y.replace('      - { name: get-contact, method: GET, path: /contacts/:id, action: read }', '      - { name: get-contact, method: GET, path: /contacts/:id, action: read }\n      - { name: get-contact, method: GET, path: /x, action: read }'), 'tools.crm.operations.1.name', /duplicate/],
    ['a stdio server that is not an MCP tool', (y) => y.replace('upstream: http://127.0.0.1:9101', 'upstream: { command: node }'), 'tools.crm.upstream', /protocol: mcp/],
    ['a stdio command not on PATH', (y) => y.replace('upstream: http://127.0.0.1:9101', 'upstream: { command: no-such-mcp-server }\n    protocol: mcp').replace('method: GET, path: /contacts/:id', 'mcp_tool: get'), 'tools.crm.upstream.command', /not an executable file on the gateway's PATH/],
    ['an mcp operation naming two selectors', (y) => y.replace('classification: confidential\n    operations', 'classification: confidential\n    protocol: mcp\n    operations').replace('method: GET, path: /contacts/:id', 'mcp_tool: get, mcp_prompt: p'), 'tools.crm.operations.0.mcp_tool', /exactly one of mcp_tool, mcp_resource, mcp_prompt, mcp_method/],
    ['a resource pattern with a dot segment', (y) => y.replace('classification: confidential\n    operations', 'classification: confidential\n    protocol: mcp\n    operations').replace('method: GET, path: /contacts/:id', 'mcp_resource: "memory://notes/../*"'), 'tools.crm.operations.0.mcp_resource', /dot segment/],
    ['a `*` that is not last', (y) => y.replace('/contacts/:id', '/contacts/*/x'), 'tools.crm.operations.0.path', /last segment/],
    ['a credential header the gateway owns', (y) => y.replace('classification: confidential\n    operations', 'classification: confidential\n    credentials: { header: Portcullis-Agent, value: x }\n    operations'), 'tools.crm.credentials.header', /cannot inject/],
    ['an unset environment variable', (y) => y.replace('classification: confidential\n    operations', 'classification: confidential\n    credentials: { header: authorization, value: "${env:NOT_SET_ANYWHERE}" }\n    operations'), 'tools.crm.credentials.value', /NOT_SET_ANYWHERE is not set/],
    ['a missing secret file', (y) => y.replace('classification: confidential\n    operations', 'classification: confidential\n    credentials: { header: authorization, value: "${file:/nonexistent/secret}" }\n    operations'), 'tools.crm.credentials.value', /cannot read secret file/],
    ['an unknown agent status', (y) => y.replace('max_classification: confidential }', 'max_classification: confidential, status: paused }'), 'agents.support-bot.status', /one of active, suspended, retired/],
    ['a role_map to an unknown role', (y) => `${y}\nadmin: { auth: { role_map: { sec-ops: superuser } } }\n`, 'admin.auth.role_map.sec-ops', /one of operator, approver, auditor, admin/],
    ['no trusted issuer at all', (y) => y.replace(/auth:\n  issuers: \[.*\]\n/, ''), 'auth.issuers', /at least one/],
    ['a bad log level', (y) => `${y}\nlogging: { level: loud }\n`, 'logging.level', /one of/],
    ['a tool name that cannot be a path segment', (y) => y.replace('  crm:\n', '  "c/rm":\n'), 'tools.c/rm', /unknown key|match/],
  ];

  it.each(cases)('%s', (_name, mutate, path, problem) => {
    let err: unknown;
    try {
      compile(mutate(BASE));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).path).toBe(path);
    expect((err as ConfigError).problem).toMatch(problem);
    expect((err as ConfigError).message).toContain(path);
  });

  it('reports YAML syntax errors with a line number', () => {
    expect(() => compile('tools:\n  crm: [unclosed\n')).toThrowError(/invalid YAML at line \d+/);
  });

  it('refuses duplicate keys', () => {
    expect(() => compile(`${BASE}\nagents: {}\n`)).toThrowError(/invalid YAML/);
  });
});
