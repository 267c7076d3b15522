/** gateway.yaml seeds the registry: it follows gateway.yaml until SCIM or an operator changes an agent. */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestIssuer, type TestIssuer } from '../helpers/issuer.js';
import { startUpstream, type RecordingUpstream } from '../helpers/upstream.js';
import { auditEvents, startGateway, tempState, testConfig } from '../helpers/gateway.js';
import { send } from '../helpers/http.js';
import { crmTools } from '../e2e/fixtures.js';

const BREAK_GLASS = 'seed-test-break-glass';
let issuer: TestIssuer;
let up: RecordingUpstream;
const state = tempState();

beforeAll(async () => {
  issuer = await createTestIssuer();
  up = await startUpstream();
});
afterAll(async () => {
  await up.close();
});

const start = (roles: Record<string, string[]>) =>
  startGateway(testConfig(issuer, crmTools(up), {
    state,
    admin: { break_glass: { sha256: createHash('sha256').update(BREAK_GLASS).digest('hex') } },
    agents: Object.fromEntries(Object.entries(roles).map(([id, r]) => [id, { owner: 'alice@example.com', roles: r, max_classification: 'confidential' }])),
  }));

describe('seeding the registry from gateway.yaml', () => {
  it('creates, then follows gateway.yaml for agents only it has written; an agent changed since keeps its change, with a warning', async () => {
    let gw = await start({ 'a-bot': ['one'], 'b-bot': ['one'] });
    expect(gw.gateway.registry.get('a-bot')!.roles).toEqual(['one']);
    const suspended = await send(gw.adminUrl, { method: 'POST', path: '/admin/agents/b-bot/suspend', headers: { authorization: `Bearer ${BREAK_GLASS}` } });
    expect(suspended.status).toBe(200);
    await gw.close();

    gw = await start({ 'a-bot': ['two'], 'b-bot': ['two'], 'c-bot': ['three'] });
    try {
      expect(gw.gateway.registry.get('a-bot')!.roles).toEqual(['two']);
      expect(gw.gateway.registry.get('b-bot')).toMatchObject({ roles: ['one'], status: 'suspended' });
      expect(gw.gateway.registry.get('c-bot')!.roles).toEqual(['three']);
      expect(gw.logs.find((l) => String(l.msg).startsWith('gateway.yaml differs from the registry'))).toMatchObject({ agents: ['b-bot'], count: 1 });
      const e = (await auditEvents(gw)).find((x) => x.type === 'agent_updated' && x.agent === 'a-bot');
      expect(e).toMatchObject({ by: 'gateway.yaml', diff: { roles: { from: ['one'], to: ['two'] } } });
    } finally {
      await gw.close();
    }
  });
});
