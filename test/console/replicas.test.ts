import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestIssuer, type TestIssuer } from '../helpers/issuer.js';
import { startUpstream, type RecordingUpstream } from '../helpers/upstream.js';
import { startGateway, tempState, testConfig, type RunningGateway } from '../helpers/gateway.js';
import { freePort } from '../helpers/cli.js';
import { startIdp, type TestIdp } from '../helpers/oidc-idp.js';
import { startTestRedis, type TestRedis } from '../helpers/redis.js';
import { crmTools } from '../e2e/fixtures.js';

// Console sessions live in the state store: signed in on one replica, a person may land on another.
let agents: TestIssuer;
let idp: TestIdp;
let up: RecordingUpstream;
let redis: TestRedis;
const replicas: { gw: RunningGateway; admin: string }[] = [];

beforeAll(async () => {
  agents = await createTestIssuer();
  up = await startUpstream();
  redis = await startTestRedis();
  const ports = [await freePort(), await freePort()];
  idp = await startIdp({ 'otto@example.com': { groups: ['sec-ops'] } }, { redirectUris: ports.map((p) => `http://127.0.0.1:${p}/console/callback`) });
  const prefix = `portcullis-test:${randomUUID()}:`;
  for (const port of ports) {
    const gw = await startGateway(
      testConfig(agents, crmTools(up), {
        listen: { proxy: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port } },
        state: tempState({ store: 'redis', redis: { url: redis.url, prefix } }),
        admin: { auth: { role_map: { 'sec-ops': 'operator' } }, sso: { issuer: idp.issuer, client_id: idp.clientId, client_secret: 'console-secret' } },
      }),
    );
    replicas.push({ gw, admin: `http://127.0.0.1:${port}` });
  }
});
afterAll(async () => {
  for (const r of replicas) await r.gw.close();
  await idp.close();
  await up.close();
  await redis.stop();
});

describe('console sessions across replicas (Redis)', () => {
  it('a session made on A works on B, and signing out on B ends it on A', async () => {
    const [a, b] = replicas as [(typeof replicas)[0], (typeof replicas)[0]];
    const start = await fetch(`${a.admin}/console/login`, { redirect: 'manual' });
    const login = start.headers.getSetCookie()[0]!.split(';')[0]!;
    const back = await idp.follow(start.headers.get('location')!, 'otto@example.com', true, (u) => u.href.startsWith(`${a.admin}/console/callback`));
    const cb = await fetch(`${a.admin}${back.pathname}${back.search}`, { headers: { cookie: login } });
    const cookie = cb.headers.getSetCookie().find((c) => c.startsWith('portcullis_session='))!.split(';')[0]!;
    const onB = await fetch(`${b.admin}/console/session`, { headers: { cookie } });
    expect(onB.status).toBe(200);
    const s = (await onB.json()) as { subject: string; roles: string[]; csrf_token: string };
    expect(s).toMatchObject({ subject: 'otto@example.com', roles: ['operator'] });
    expect((await fetch(`${b.admin}/admin/kill`, { headers: { cookie } })).status).toBe(200);
    expect((await fetch(`${b.admin}/console/logout`, { method: 'POST', headers: { cookie, 'x-csrf-token': s.csrf_token } })).status).toBe(200);
    const onA = await fetch(`${a.admin}/admin/kill`, { headers: { cookie } });
    expect(onA.status).toBe(401);
    expect(((await onA.json()) as { reasons: string[] }).reasons).toEqual(['session_invalid']);
  });
});
