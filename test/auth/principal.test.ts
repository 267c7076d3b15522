import { describe, expect, it } from 'vitest';
import { principalFromClaims } from '../../src/auth/principal.js';

const base = { iss: 'i', jti: 'j', iat: 1, exp: 2 };

describe('claims → principal', () => {
  it('reads a service-account token: sub is the agent', () => {
    const p = principalFromClaims({ ...base, sub: 'support-bot', scope: 'crm:read tickets:write', task_id: 't-1' });
    expect(p).toMatchObject({ agentId: 'support-bot', userId: null, delegation: ['support-bot'], taskId: 't-1' });
    expect([...p.scopes]).toEqual(['crm:read', 'tickets:write']);
  });

  it('reads a delegated token (RFC 8693): sub is the user, act.sub the agent', () => {
    const p = principalFromClaims({ ...base, sub: 'alice', act: { sub: 'support-bot' }, roles: ['support'] });
    expect(p).toMatchObject({ agentId: 'support-bot', userId: 'alice', delegation: ['support-bot', 'alice'], userRoles: ['support'] });
  });

  it('records a nested act chain outermost first', () => {
    const p = principalFromClaims({ ...base, sub: 'alice', act: { sub: 'support-bot', act: { sub: 'orchestrator' } } });
    expect(p.delegation).toEqual(['support-bot', 'orchestrator', 'alice']);
    expect(p.agentId).toBe('support-bot');
  });

  it('never takes agent roles from the token', () => {
    const p = principalFromClaims({ ...base, sub: 'support-bot', roles: ['finance_agent'] });
    expect(p.userRoles).toEqual([]);
  });

  it.each([
    ['a non-string scope', { sub: 'a', scope: 42 }],
    ['an act without sub', { sub: 'a', act: { client: 'x' } }],
    ['roles that are not strings', { sub: 'alice', act: { sub: 'bot' }, roles: [1] }],
  ])('refuses %s', (_name, claims) => {
    expect(() => principalFromClaims({ ...base, ...claims })).toThrowError(expect.objectContaining({ reason: 'token_claim_invalid' }));
  });
});
