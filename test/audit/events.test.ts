import canonicalize from 'canonicalize';
import { describe, expect, it } from 'vitest';
import { ChainState, GENESIS, IN_ORDER, recordHash } from '../../src/audit/chain.js';
import { authFailureFields, callEventFields } from '../../src/audit/events.js';
import type { CallContext } from '../../src/pipeline/context.js';

// The shapes a call's event takes: refused before any token, refused by policy, forwarded, released
// by an approval, cut by the kill switch, with and without a delegating user, with odd strings.
const base = { requestId: 'r-1', startedAt: performance.now() - 3.21, method: 'POST', url: '/tools/crm/contacts/c-1?token=x', clientIp: '::ffff:127.0.0.1' };
const principal = {
  agentId: 'support-bot', userId: 'alice@example.com', userRoles: ['support', 'zeta', 'Alpha'], userClearance: null,
  delegation: ['support-bot', 'planner', 'alice@example.com'], taskId: 'T-9', agentVersion: '1.2.0',
};
const tool = { name: 'crm', classification: 'confidential' };
const operation = { name: 'add-note', action: 'write', risk: 'medium', scope: 'crm:write' };
const contexts: Record<string, object> = {
  'refused before a token': { outcome: { status: 401, code: 'invalid_token', reason: 'token_missing' } },
  'refused by the policy': {
    principal: { ...principal, userId: null, userRoles: [], delegation: ['support-bot'], taskId: null },
    agent: { owner: 'ops@example.com' }, tool, operation, segments: ['contacts', 'c-1'],
    decision: { allow: false, approvalRequired: false, reasons: ['classification above clearance', '"quoted" \u2028'], revision: 'rev-1' },
    trust: { score: 71.5, level: 'standard' }, outcome: { status: 403, code: 'policy_denied', reason: 'policy_denied' },
  },
  forwarded: {
    principal, agent: { owner: 'ops@example.com', version: '1.2.0' }, tool, operation, segments: ['contacts', 'ünï/cødé'],
    decision: { allow: true, approvalRequired: false, reasons: [], revision: 'rev-1' }, body: { sha256: 'ab'.repeat(32), bytes: 2048 },
    trust: { score: 100, level: 'trusted' }, outcome: { status: 201, upstreamStatus: 201, upstreamMs: 0.8125 },
  },
  'released by an approval, then killed': {
    principal, agent: { owner: 'ops@example.com' }, tool, operation: { ...operation, risk: 'high' }, segments: ['contacts', 'c-1'],
    decision: { allow: true, approvalRequired: true, reasons: ['high risk'], revision: 'rev-2' }, approval: { id: 'apr-1', approver: 'bob@example.com' },
    killedBy: 'kill-1', outcome: { status: 200, upstreamStatus: 200, upstreamMs: 12 },
  },
};

describe('the events the request path marks as already canonical', () => {
  for (const [name, partial] of Object.entries(contexts)) {
    for (const phase of ['intent', 'final'] as const) {
      it(`${name} (${phase}): marked, and exactly the canonicalize package's form once sealed`, () => {
        const fields = callEventFields({ ...base, ...partial } as unknown as CallContext, phase);
        expect((fields as { [IN_ORDER]?: boolean })[IN_ORDER]).toBe(true);
        const { line } = new ChainState('c', 0, GENESIS).seal('tool_call', fields, '2026-12-03T10:00:00.000Z');
        const record = JSON.parse(line) as Record<string, unknown>;
        const { hash, ...rest } = record;
        expect(line).toBe(`${canonicalize(rest)!.slice(0, -1)},"hash":"${hash}"}`);
        expect(recordHash(record, (v) => canonicalize(v)!)).toBe(hash);
      });
    }
  }

  it('an auth failure: marked and canonical', () => {
    const fields = authFailureFields({ ...base, ...contexts['refused before a token'] } as unknown as CallContext);
    expect((fields as { [IN_ORDER]?: boolean })[IN_ORDER]).toBe(true);
    const { line } = new ChainState('c', 0, GENESIS).seal('auth_failure', fields, '2026-12-03T10:00:00.000Z');
    const { hash, ...rest } = JSON.parse(line) as Record<string, unknown>;
    expect(line).toBe(`${canonicalize(rest)!.slice(0, -1)},"hash":"${hash}"}`);
  });

  it('leaves what a client shaped (a captured body, MCP) to the checked path, which sorts it', () => {
    const ctx = { ...base, ...contexts.forwarded, body: { sha256: 'ab'.repeat(32), bytes: 20, captured: { z: 1, a: { 10: 'x', 9: 'y' } } } } as unknown as CallContext;
    const fields = callEventFields(ctx, 'final');
    expect((fields as { [IN_ORDER]?: boolean })[IN_ORDER]).toBe(false);
    const { line } = new ChainState('c', 0, GENESIS).seal('tool_call', fields, '2026-12-03T10:00:00.000Z');
    const { hash, ...rest } = JSON.parse(line) as Record<string, unknown>;
    expect(line).toBe(`${canonicalize(rest)!.slice(0, -1)},"hash":"${hash}"}`);
    expect(line).toContain('"body":{"a":{"10":"x","9":"y"},"z":1}');
  });

  it('a mark on an unordered object would be caught by this test (the check is not vacuous)', () => {
    const fields = { b: 1, a: 2, [IN_ORDER]: true } as Record<string, unknown>;
    const { line } = new ChainState('c', 0, GENESIS).seal('x', fields, '2026-12-03T10:00:00.000Z');
    const { hash, ...rest } = JSON.parse(line) as Record<string, unknown>;
    expect(line).not.toBe(`${canonicalize(rest)!.slice(0, -1)},"hash":"${hash}"}`);
  });
});
