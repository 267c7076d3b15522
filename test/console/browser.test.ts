import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { Decider } from '../../src/pipeline/decide.js';
import { createTestIssuer, type TestIssuer } from '../helpers/issuer.js';
import { startUpstream, type RecordingUpstream } from '../helpers/upstream.js';
import { auditEvents, startGateway, testConfig, type RunningGateway } from '../helpers/gateway.js';
import { send } from '../helpers/http.js';
import { freePort } from '../helpers/cli.js';
import { startIdp, type TestIdp } from '../helpers/oidc-idp.js';

// A real browser (Debian's Chromium, driven by playwright-core) uses the console: sign in at a real
// OpenID Provider, approve a held payment that then reaches the upstream, kill an agent and see its
// call cut, read the audit trail. Screenshots of each page go to docs/console/.
// UPDATE_SCREENSHOTS=1 refreshes docs/console/*.png; otherwise they go to a temporary folder.
const SHOTS = process.env.UPDATE_SCREENSHOTS ? 'docs/console' : mkdtempSync(join(tmpdir(), 'portcullis-console-'));
const CHROMIUM = process.env.CHROMIUM_BIN || spawnSync('bash', ['scripts/chromium.sh'], { encoding: 'utf8' }).stdout.trim();
if (!CHROMIUM) console.log('SKIP test/console/browser.test.ts: Chromium is not installed (apt-get install chromium, or run .ci/run as root)');

const highRisk: Decider = {
  decide: (ctx) => ({ allow: ctx.operation!.risk !== 'high', approvalRequired: ctx.operation!.risk === 'high', reasons: ['payments need a human'], revision: 'test' }),
};
let agents: TestIssuer;
let idp: TestIdp;
let up: RecordingUpstream;
let gw: RunningGateway;
let admin: string;
let browser: Browser;
let page: Page;
let releaseSlow: () => void = () => undefined;

describe.skipIf(!CHROMIUM)('the console in a real browser', () => {
  beforeAll(async () => {
    agents = await createTestIssuer();
    up = await startUpstream(async (req, res) => {
      if (req.url.includes('/slow')) await new Promise<void>((r) => (releaseSlow = r));
      if (!res.destroyed) res.end('{"ok":true}');
    });
    const port = await freePort();
    admin = `http://127.0.0.1:${port}`;
    idp = await startIdp({ 'ann@example.com': { groups: ['approvers', 'sec-ops', 'soc'] } }, { redirectUris: [`${admin}/console/callback`] });
    const payments = {
      upstream: up.url,
      classification: 'regulated',
      operations: [
        { name: 'create-payment', method: 'POST', path: '/payments', action: 'write', risk: 'high' },
        { name: 'slow-report', method: 'GET', path: '/slow', action: 'read' },
      ],
    };
    gw = await startGateway(
      testConfig(agents, { payments }, {
        listen: { proxy: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port } },
        approvals: { hold: '20s', ttl: '1m' },
        agents: { 'finance-bot': { owner: 'carol@example.com', roles: ['finance_agent'], max_classification: 'regulated' } },
        admin: {
          auth: { role_map: { approvers: 'approver', 'sec-ops': 'operator', soc: 'auditor' } },
          sso: { issuer: idp.issuer, client_id: idp.clientId, client_secret: 'console-secret', mfa_for: ['approver', 'operator'] },
        },
      }),
      { decider: highRisk },
    );
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
    page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
  }, 60_000);
  afterAll(async () => {
    releaseSlow();
    await browser?.close();
    await gw?.close();
    await idp?.close();
    await up?.close();
  });

  it('signs in through the IdP with MFA and lands on the approvals queue', async () => {
    await page.goto(`${admin}/console/`);
    expect(page.url()).toContain(idp.issuer);
    await page.fill('input[name=login]', 'ann@example.com');
    await page.check('input[name=mfa]');
    await page.click('button');
    await page.click('button'); // consent
    await page.waitForURL(`${admin}/console/`);
    expect(await page.textContent('header')).toContain('ann@example.com');
    await page.screenshot({ path: join(SHOTS, 'approvals.png') });
  });

  it('shows a held payment with its content, inert markup included, and approving it releases the call', async () => {
    const token = await agents.token('finance-bot', 'payments:write');
    const held = send(gw.proxyUrl, { method: 'POST', path: '/tools/payments/payments', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ amount: 1250, currency: 'EUR', payee: '<img src=x onerror=alert(1)>ACME', password: 'hunter2' }) });
    let dialogs = 0;
    page.on('dialog', (d) => {
      dialogs++;
      void d.dismiss();
    });
    for (let i = 0; i < 50; i++) {
      await page.goto(`${admin}/console/`);
      if ((await page.locator('tbody a').count()) > 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await page.click('tbody a');
    const content = await page.locator('pre').nth(1).textContent();
    expect(content).toContain('"amount": 1250');
    expect(content).toContain('<img src=x onerror=alert(1)>ACME');
    expect(content).toContain('"password": "[masked]"');
    expect(await page.locator('img').count()).toBe(0);
    await page.screenshot({ path: join(SHOTS, 'approval.png'), fullPage: true });
    await page.fill('form:has(button.approve) textarea', 'Invoice 2026-03 checked');
    await page.click('button.approve');
    expect(await page.textContent('.notice')).toContain('Done.');
    const res = await held;
    expect(res.status).toBe(200);
    expect(up.received.some((r) => r.method === 'POST' && r.url.endsWith('/payments'))).toBe(true);
    expect(dialogs).toBe(0);
  });

  it('kills an agent from the kill-switch page and its call in flight is cut', async () => {
    const token = await agents.token('finance-bot', 'payments:read');
    const inflight = send(gw.proxyUrl, { path: '/tools/payments/slow', headers: { authorization: `Bearer ${token}` } });
    for (let i = 0; i < 50 && !up.received.some((r) => r.url.endsWith('/slow')); i++) await new Promise((r) => setTimeout(r, 50));
    await page.goto(`${admin}/console/kills`);
    await page.fill('input[name=target]', 'finance-bot');
    await page.fill('input[name=reason]', 'runaway exports');
    await page.click('button.deny');
    expect(await page.textContent('.notice')).toContain('Done.');
    expect(await page.textContent('tbody')).toContain('finance-bot');
    await page.screenshot({ path: join(SHOTS, 'kills.png') });
    const cut = await inflight;
    expect(cut.status).toBe(403);
    expect(cut.json().reasons).toEqual(['killed_agent']);
  });

  it('reads the audit trail, filtered, with the console actions signed by the person', async () => {
    await page.goto(`${admin}/console/audit?agent=finance-bot`);
    const text = await page.textContent('tbody');
    expect(text).toContain('tool_call');
    await page.goto(`${admin}/console/audit`);
    expect(await page.textContent('tbody')).toContain('kill');
    await page.click('text=Verify the chain now');
    expect(await page.textContent('main')).toContain('Verified: the chain is intact');
    await page.screenshot({ path: join(SHOTS, 'audit.png') });
    const headers = (await page.goto(`${admin}/console/audit`))!.headers();
    expect(headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(headers['content-security-policy']).toContain("default-src 'none'");
  });

  it('caps an agent\'s trust score from the agents page', async () => {
    await page.goto(`${admin}/console/agents`);
    const row = page.locator('tr', { hasText: 'finance-bot' });
    await row.locator('select[name=kind]').selectOption('cap');
    await row.locator('input[name=score]').fill('10');
    await row.locator('input[name=reason]').fill('under investigation');
    await row.locator('button', { hasText: 'Set' }).click();
    expect(await page.textContent('.notice')).toContain('Done.');
    expect(await page.locator('tr', { hasText: 'finance-bot' }).textContent()).toContain('10 (untrusted)');
    await page.screenshot({ path: join(SHOTS, 'agents.png') });
  });

  it('signs out from the header: the session is gone and the console asks to sign in again', async () => {
    await page.goto(`${admin}/console/`);
    await page.click('header button');
    expect(await page.textContent('body')).toContain('Signed out.');
    // The console's session is gone: the next page goes through the IdP again (whose own session
    // may sign the person straight back in), and that is a new, audited sign-in.
    await page.goto(`${admin}/console/`);
    await page.waitForURL(`${admin}/console/`);
    const events = await auditEvents(gw);
    const out = events.findLastIndex((e) => e.type === 'console_sign_out' && e.subject === 'ann@example.com');
    expect(out).toBeGreaterThan(-1);
    expect(events.slice(out).some((e) => e.type === 'console_sign_in' && e.outcome.result === 'signed_in')).toBe(true);
  });
});
