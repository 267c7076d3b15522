/** `portcullis agents add | show | suspend | resume | retire`: the real CLI against a running gateway. */
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestIssuer, type TestIssuer } from '../helpers/issuer.js';
import { startUpstream, type RecordingUpstream } from '../helpers/upstream.js';
import { auditEvents, startGateway, testConfig, type RunningGateway } from '../helpers/gateway.js';
import { runCli } from '../helpers/cli.js';
import { send } from '../helpers/http.js';
import { crmTools } from '../e2e/fixtures.js';

const BREAK_GLASS = 'registry-cli-break-glass';
let agents: TestIssuer;
let up: RecordingUpstream;
let gw: RunningGateway;

beforeAll(async () => {
  agents = await createTestIssuer();
  up = await startUpstream();
  gw = await startGateway(testConfig(agents, crmTools(up), { admin: { break_glass: { sha256: createHash('sha256').update(BREAK_GLASS).digest('hex') } } }));
});
afterAll(async () => {
  await gw.close();
  await up.close();
});

const cli = (...args: string[]) => runCli(['agents', ...args, '--url', gw.adminUrl], { env: { ...process.env, PORTCULLIS_ADMIN_TOKEN: BREAK_GLASS } });
const call = async (agent: string) => send(gw.proxyUrl, { path: '/tools/crm/contacts', headers: { authorization: `Bearer ${await agents.token(agent, 'crm:read')}` } });

describe('portcullis agents (the registry)', () => {
  it('adds an agent with its keys, shows it, suspends, resumes and retires it', async () => {
    const { publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const jwks = join(mkdtempSync(join(tmpdir(), 'portcullis-cli-')), 'jwks.json');
    writeFileSync(jwks, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'cli-key-1' }] }));
    const added = await cli('add', 'cli-bot', '--owner', 'alice@example.com', '--max-classification', 'confidential', '--role', 'support_agent', '--role', 'reader', '--scope', 'crm:read', '--max-token-ttl', '120', '--risk-profile', 'low', '--jwks', jwks);
    expect(added.code, added.stderr).toBe(0);
    expect(JSON.parse(added.stdout)).toMatchObject({ id: 'cli-bot', roles: ['support_agent', 'reader'], scopes: ['crm:read'], max_token_ttl: 120, risk_profile: 'low', keys: ['cli-key-1'], status: 'active', by: 'break-glass' });
    expect((await call('cli-bot')).status).toBe(200);
    expect(JSON.parse((await cli('show', 'cli-bot')).stdout)).toMatchObject({ id: 'cli-bot', etag: 'W/"1"' });

    const suspended = await cli('suspend', 'cli-bot', '--reason', 'leaking data');
    expect(JSON.parse(suspended.stdout).status).toBe('suspended');
    expect((await call('cli-bot')).status).not.toBe(200);
    expect(JSON.parse((await cli('resume', 'cli-bot')).stdout).status).toBe('active');
    expect(JSON.parse((await cli('retire', 'cli-bot', '--reason', 'replaced')).stdout).status).toBe('retired');
    const back = await cli('resume', 'cli-bot');
    expect(back.code).toBe(1);
    expect(back.stderr).toMatch(/conflict: .*retired/);

    const events = await auditEvents(gw);
    expect(events.find((e) => e.type === 'agent_updated' && e.agent === 'cli-bot' && e.reason === 'leaking data')).toMatchObject({ by: 'break-glass', diff: { status: { from: 'active', to: 'suspended' } } });
    expect(events.find((e) => e.type === 'agent_created' && e.agent === 'cli-bot')!.diff.credentials).toEqual({ from: null, to: { keys: ['cli-key-1'] } });
  });

  it('says clearly what is wrong with a bad add', async () => {
    const missing = await cli('add', 'x-bot', '--owner', 'a@example.com');
    expect([missing.code, missing.stderr]).toEqual([2, expect.stringContaining('--max-classification')]);
    const bad = await cli('add', 'x-bot', '--owner', 'a@example.com', '--max-classification', 'secret');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/maxClassification must be one of public, internal, confidential, regulated/);
    const scope = await cli('add', 'x-bot', '--owner', 'a@example.com', '--max-classification', 'public', '--scope', 'nosuchtool:read');
    expect(scope.stderr).toMatch(/names a tool that is not configured/);
    expect((await cli('show', 'x-bot')).code).toBe(1);
  });
});
