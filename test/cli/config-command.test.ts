/**
 * The operator's checks: `portcullis --version`, `config check` (valid, invalid, and the warnings a
 * role typo or a stray tool in the policy data gives) and `config schema`, whose output is the
 * committed schema/gateway.schema.json and validates the shipped gateway.yaml with a real JSON
 * Schema validator (ajv, draft 2020-12).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { runCli } from '../helpers/cli.js';

const root = new URL('../../', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };

describe('portcullis --version', () => {
  it('prints the package version and the Node.js it runs on', async () => {
    const r = await runCli(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(`portcullis ${pkg.version} (Node.js ${process.version})`);
  });
});

describe('portcullis config check', () => {
  it('passes the shipped gateway.yaml without a warning', async () => {
    const r = await runCli(['config', 'check', '--config', join(root, 'gateway.yaml'), '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ valid: true, agents: 4, tools: 6, mcp_tools: 1, warnings: [] });
  });

  it('warns of a role the policy grants nothing and a tool the policy names that is not configured', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-config-check-'));
    const yaml = readFileSync(join(root, 'gateway.yaml'), 'utf8')
      .replace('roles: [support_agent]', 'roles: [supprt_agent]')
      .replace(/\n  payments:\n[\s\S]*?(?=\n  [a-z]+:\n)/, '\n')
      .replace('"payments:*", ', '')
      .replace(/bundle: \.\/policies\/build\/bundle\.tar\.gz/, `bundle: ${join(root, 'policies/build/bundle.tar.gz')}`);
    writeFileSync(join(dir, 'gateway.yaml'), yaml.replaceAll('./examples/', `${join(root, 'examples')}/`));
    const r = await runCli(['config', 'check', '--config', join(dir, 'gateway.yaml')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('warning: agents.support-bot.roles: the policy grants nothing to "supprt_agent"');
    expect(r.stdout).toMatch(/warning: policy data grants \w+ the tool "payments", which is not in tools/);
  });

  it('refuses an invalid file with the key path and exit 2', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-config-check-'));
    writeFileSync(join(dir, 'gateway.yaml'), readFileSync(join(root, 'gateway.yaml'), 'utf8').replace('classification: confidential\n    credentials', 'classification: secret\n    credentials'));
    const r = await runCli(['config', 'check', '--config', join(dir, 'gateway.yaml')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/config error at tools\.\w+\.classification: must be one of public, internal, confidential, regulated/);
  });
});

describe('portcullis config schema', () => {
  it('prints the committed schema/gateway.schema.json, which validates the shipped gateway.yaml', async () => {
    const r = await runCli(['config', 'schema']);
    expect(r.code).toBe(0);
    const committed = readFileSync(join(root, 'schema/gateway.schema.json'), 'utf8');
    expect(r.stdout).toBe(committed);
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    const validate = ajv.compile(JSON.parse(committed));
    const shipped = parseYaml(readFileSync(join(root, 'gateway.yaml'), 'utf8'));
    expect(validate(shipped), JSON.stringify(validate.errors)).toBe(true);
    expect(validate({ ...shipped, listen: { proxy: { port: 'eighty' } } })).toBe(false);
    expect(readFileSync(join(root, 'gateway.yaml'), 'utf8').split('\n')[0]).toBe('# yaml-language-server: $schema=./schema/gateway.schema.json');
  });
});
