/**
 * Shutdown answers everyone: a call held for a human's approval when the gateway is told to stop
 * (SIGTERM runs exactly this close) is answered 202 approval_pending with its approval id — so the
 * agent can repeat it on another replica once approved — instead of being dropped.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestIssuer, type TestIssuer } from '../helpers/issuer.js';
import { startUpstream, type RecordingUpstream } from '../helpers/upstream.js';
import { startGateway, testConfig } from '../helpers/gateway.js';
import { send } from '../helpers/http.js';
import { crmTools } from './fixtures.js';
import type { Decider } from '../../src/pipeline/decide.js';

let issuer: TestIssuer;
let up: RecordingUpstream;
const needsApproval: Decider = { decide: () => ({ allow: false, approvalRequired: true, reasons: ['high risk'], revision: 'test' }) };

beforeAll(async () => {
  issuer = await createTestIssuer();
  up = await startUpstream();
});
afterAll(async () => {
  await up.close();
});

it('answers a held call approval_pending when shutdown begins, well within the grace', async () => {
  const gw = await startGateway(testConfig(issuer, crmTools(up), { approvals: { hold: '30s', ttl: '1m' }, shutdown: { grace: '5s' } }), { decider: needsApproval });
  const token = await issuer.token('support-bot', 'crm:export');
  const held = send(gw.proxyUrl, { path: '/tools/crm/export', headers: { authorization: `Bearer ${token}` } });
  // Held: its approval exists.
  while ((await gw.gateway.state.listApprovals()).length === 0) await new Promise((r) => setTimeout(r, 20));
  const started = Date.now();
  const closing = gw.close();
  const res = await held;
  expect(Date.now() - started).toBeLessThan(1000);
  expect(res.status).toBe(202);
  const [approval] = await gw.gateway.state.listApprovals();
  expect(res.json()).toMatchObject({ error: 'approval_pending', reasons: ['approval_required', 'high risk'], approval_id: approval!.id });
  expect(res.headers.location).toBe(`/approvals/${approval!.id}`);
  await closing;
  expect(up.received).toHaveLength(0);
});
