/**
 * SCIM 2.0 on the wire (RFC 7643/7644): the RFC's own filter and PATCH examples as tables, the
 * discovery documents, ETags, paging and sorting, and every kind of bad input a provisioner (or an
 * attacker holding someone else's token) can send.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startUpstream, type RecordingUpstream } from '../helpers/upstream.js';
import { auditEvents } from '../helpers/gateway.js';
import { send } from '../helpers/http.js';
import { crmTools } from '../e2e/fixtures.js';
import { AGENT, ERROR, GROUP, patchOp, startScimGateway, USER, type ScimFixture } from '../helpers/scim.js';

let up: RecordingUpstream;
let f: ScimFixture;
const ids: Record<string, string> = {};

beforeAll(async () => {
  up = await startUpstream();
  f = await startScimGateway(crmTools(up));
  // RFC 7643 §8.2's Babs Jensen, and two more to filter among.
  const people = [
    { userName: 'bjensen', name: { familyName: "O'Malley", givenName: 'Barbara' }, title: 'Tour Guide', userType: 'Employee', emails: [{ value: 'bjensen@example.com', type: 'work', primary: true }, { value: 'babs@jensen.org', type: 'home' }] },
    { userName: 'jsmith', name: { familyName: 'Smith', givenName: 'John' }, userType: 'Intern', emails: [{ value: 'john@example.org', type: 'work' }] },
    { userName: 'Jdoe', name: { familyName: 'Doe', givenName: 'Jane' }, userType: 'Contractor', emails: [{ value: 'jane@elsewhere.net', type: 'home' }] },
  ];
  for (const p of people) {
    const res = await f.scim('POST', '/Users', { schemas: [USER], ...p });
    expect(res.status, res.text).toBe(201);
    ids[p.userName] = res.json().id;
  }
});
afterAll(async () => {
  await f.gw.close();
  await up.close();
});

const userNames = async (filter: string) => {
  const res = await f.scim('GET', `/Users?filter=${encodeURIComponent(filter)}`);
  expect(res.status, res.text).toBe(200);
  return (res.json().Resources as { userName: string }[]).map((u) => u.userName).sort();
};

describe('filters: RFC 7644 §3.4.2.2 examples', () => {
  it.each([
    ['userName eq "bjensen"', ['bjensen']],
    ['userName eq "BJENSEN"', ['bjensen']], // userName is not case-exact
    ['name.familyName co "O\'Malley"', ['bjensen']],
    ['userName sw "J"', ['Jdoe', 'jsmith']],
    ['urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"', ['Jdoe', 'jsmith']],
    ['title pr', ['bjensen']],
    ['meta.lastModified gt "2011-05-13T04:42:34Z"', ['Jdoe', 'bjensen', 'jsmith']],
    ['meta.lastModified ge "2011-05-13T04:42:34Z"', ['Jdoe', 'bjensen', 'jsmith']],
    ['meta.lastModified lt "2011-05-13T04:42:34Z"', []],
    ['meta.lastModified le "2011-05-13T04:42:34Z"', []],
    ['title pr and userType eq "Employee"', ['bjensen']],
    ['title pr or userType eq "Intern"', ['bjensen', 'jsmith']],
    ['schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"', []],
    ['userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")', ['bjensen']],
    ['userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")', ['Jdoe']],
    ['userType eq "Employee" and (emails.type eq "work")', ['bjensen']],
    ['userType eq "Employee" and emails[type eq "work" and value co "@example.com"]', ['bjensen']],
    ['emails[type eq "work" and value co "@example.com"] or emails[type eq "home" and value co "@elsewhere.net"]', ['Jdoe', 'bjensen']],
    ['userName ew "doe"', ['Jdoe']],
    ['not (userName eq "bjensen")', ['Jdoe', 'jsmith']],
  ])('%s', async (filter, expected) => {
    expect(await userNames(filter)).toEqual(expected);
  });

  it.each([
    ['userName eq', 'no value'],
    ['userName xx "a"', 'unknown operator'],
    ['(userName eq "a"', 'unclosed parenthesis'],
    ['userName eq "a" and', 'dangling and'],
    ['nosuchattr eq "a"', 'unknown attribute'],
    ['active gt true', 'ordering a boolean'],
    ['userName eq "unterminated', 'unterminated string'],
    [Array.from({ length: 70 }, (_, i) => `userName eq "u${i}"`).join(' or '), 'too many comparisons'],
    ['userName eq "' + 'x'.repeat(3000) + '"', 'too long'],
  ].map(([filter, why]) => ({ filter: filter!, why })))('refuses a filter with $why with 400 invalidFilter', async ({ filter }) => {
    const res = await f.scim('GET', `/Users?filter=${encodeURIComponent(filter)}`);
    expect(res.status).toBe(400);
    expect(res.json()).toMatchObject({ schemas: [ERROR], status: '400', scimType: 'invalidFilter' });
    expect(res.headers['content-type']).toMatch(/^application\/scim\+json/);
  });
});

describe('PATCH: RFC 7644 §3.5.2 examples', () => {
  it('adds, removes and replaces group members (§3.5.2.1, .2, .3)', async () => {
    const g = await f.scim('POST', '/Groups', { schemas: [GROUP], displayName: 'Tour Guides' });
    expect(g.status, g.text).toBe(201);
    const id = g.json().id;
    const patch = async (...ops: Record<string, unknown>[]) => {
      const res = await f.scim('PATCH', `/Groups/${id}`, patchOp(...ops));
      expect(res.status, res.text).toBe(200);
      return (res.json().members as { value: string }[]).map((m) => m.value).sort();
    };
    expect(await patch({ op: 'add', path: 'members', value: [{ display: 'Babs Jensen', $ref: 'https://example.com/v2/Users/x', value: ids.bjensen }] })).toEqual([ids.bjensen]);
    expect(await patch({ op: 'add', path: 'members', value: [{ value: ids.jsmith }] })).toEqual([ids.bjensen, ids.jsmith].sort());
    expect(await patch({ op: 'remove', path: `members[value eq "${ids.jsmith}"]` })).toEqual([ids.bjensen]);
    expect(await patch({ op: 'remove', path: 'members[value eq "2819c223-7f76-453a-919d-413861904646"]' }, { op: 'add', path: 'members', value: [{ value: ids.Jdoe }] })).toEqual([ids.bjensen, ids.Jdoe].sort());
    expect(await patch({ op: 'replace', path: 'members', value: [{ value: ids.jsmith }] })).toEqual([ids.jsmith]);
    expect(await patch({ op: 'remove', path: 'members' })).toEqual([]);
  });

  it('adds and replaces attributes without a path, and values chosen by a filter (§3.5.2.1, .3)', async () => {
    let res = await f.scim('PATCH', `/Users/${ids.bjensen}`, patchOp({ op: 'add', value: { emails: [{ value: 'babs@jensen.org', type: 'home' }, { value: 'b@other.org', type: 'other' }], nickName: 'Babs' } }));
    expect(res.status, res.text).toBe(200);
    expect(res.json()).toMatchObject({ nickName: 'Babs' });
    expect(res.json().emails).toHaveLength(3); // an identical value is not added twice
    res = await f.scim('PATCH', `/Users/${ids.bjensen}`, patchOp({ op: 'replace', path: 'emails[type eq "work"].value', value: 'barbara@example.com' }));
    expect(res.json().emails.find((e: { type: string }) => e.type === 'work').value).toBe('barbara@example.com');
    res = await f.scim('PATCH', `/Users/${ids.bjensen}`, patchOp({ op: 'replace', value: { nickName: 'B', name: { givenName: 'Barb' } } }));
    expect(res.json()).toMatchObject({ nickName: 'B', name: { givenName: 'Barb', familyName: "O'Malley" } });
    res = await f.scim('PATCH', `/Users/${ids.bjensen}`, patchOp({ op: 'remove', path: 'emails[type eq "other"]' }, { op: 'remove', path: 'nickName' }));
    expect(res.json().emails).toHaveLength(2);
    expect(res.json().nickName).toBeUndefined();
  });

  it.each([
    [{ op: 'replace', path: 'nosuch', value: 1 }, 400, 'invalidPath'],
    [{ op: 'replace', path: 'emails[type eq "work"', value: 'x' }, 400, 'invalidPath'],
    [{ op: 'remove', path: 'emails[type eq "pager"]' }, 200, undefined], // nothing to remove: a no-op
    [{ op: 'replace', path: 'emails[value co "@nowhere"]', value: { value: 'x' } }, 400, 'noTarget'],
    [{ op: 'remove' }, 400, 'noTarget'],
    [{ op: 'replace', path: 'groups', value: [] }, 400, 'mutability'],
    [{ op: 'replace', path: 'active', value: 'maybe' }, 400, 'invalidValue'],
    [{ op: 'move', path: 'active', value: true }, 400, 'invalidSyntax'],
  ])('%j → %i %s', async (op, status, scimType) => {
    const res = await f.scim('PATCH', `/Users/${ids.jsmith}`, patchOp(op));
    expect(res.status, res.text).toBe(status);
    if (scimType) expect(res.json()).toMatchObject({ schemas: [ERROR], status: String(status), scimType });
  });

  it('applies a request entirely or not at all', async () => {
    const before = (await f.scim('GET', `/Users/${ids.jsmith}`)).json();
    const res = await f.scim('PATCH', `/Users/${ids.jsmith}`, patchOp({ op: 'replace', path: 'displayName', value: 'Johnny' }, { op: 'replace', path: 'nosuch', value: 1 }));
    expect(res.status).toBe(400);
    expect((await f.scim('GET', `/Users/${ids.jsmith}`)).json()).toEqual(before);
  });
});

describe('resources', () => {
  it('serves the discovery documents', async () => {
    const spc = (await f.scim('GET', '/ServiceProviderConfig')).json();
    expect(spc).toMatchObject({ patch: { supported: true }, filter: { supported: true, maxResults: 1000 }, etag: { supported: true }, sort: { supported: true }, bulk: { supported: false } });
    const types = (await f.scim('GET', '/ResourceTypes')).json();
    expect(types.Resources.map((t: { name: string; schema: string }) => [t.name, t.schema])).toEqual([['User', USER], ['Group', GROUP], ['Agent', AGENT]]);
    const agent = (await f.scim('GET', `/Schemas/${AGENT}`)).json();
    expect(agent.attributes.map((a: { name: string }) => a.name)).toEqual(expect.arrayContaining(['agentId', 'owner', 'purpose', 'roles', 'maxClassification', 'status', 'trustLevel', 'version', 'scopes', 'credentials', 'maxTokenTtl', 'riskProfile']));
    expect(agent.attributes.find((a: { name: string }) => a.name === 'agentId')).toMatchObject({ required: true, uniqueness: 'server', caseExact: true, mutability: 'immutable' });
  });

  it('pages and sorts (startIndex is 1-based, count is capped)', async () => {
    const page = (await f.scim('GET', '/Users?sortBy=userName&sortOrder=descending&startIndex=2&count=1')).json();
    expect(page).toMatchObject({ totalResults: 3, startIndex: 2, itemsPerPage: 1 });
    expect(page.Resources[0].userName).toBe('Jdoe'); // jsmith, Jdoe, bjensen: userName sorts case-insensitively
    const none = (await f.scim('GET', '/Users?count=0')).json();
    expect(none).toMatchObject({ totalResults: 3, itemsPerPage: 0, Resources: [] });
    const search = await f.scim('POST', '/Users/.search', { schemas: ['urn:ietf:params:scim:api:messages:2.0:SearchRequest'], filter: 'userName sw "b"', attributes: ['userName'] });
    expect(search.json().Resources).toEqual([{ schemas: [USER], id: ids.bjensen, userName: 'bjensen', meta: expect.any(Object) }]);
  });

  it('answers with ETags, and refuses a write on a stale one with 412 (a lost update)', async () => {
    const res = await f.scim('GET', `/Users/${ids.Jdoe}`);
    const tag = res.headers.etag!;
    expect(tag).toMatch(/^W\/"\d+"$/);
    expect(res.json().meta.version).toBe(tag);
    expect((await f.scim('GET', `/Users/${ids.Jdoe}`, undefined, { 'if-none-match': tag })).status).toBe(304);
    const first = await f.scim('PATCH', `/Users/${ids.Jdoe}`, patchOp({ op: 'replace', path: 'title', value: 'Lead' }), { 'if-match': tag });
    expect(first.status).toBe(200);
    expect(first.headers.etag).not.toBe(tag);
    const second = await f.scim('PATCH', `/Users/${ids.Jdoe}`, patchOp({ op: 'replace', path: 'title', value: 'Other' }), { 'if-match': tag });
    expect(second.status).toBe(412);
    expect(second.json()).toMatchObject({ schemas: [ERROR], status: '412' });
    expect((await f.scim('GET', `/Users/${ids.Jdoe}`)).json().title).toBe('Lead');
    expect((await f.scim('DELETE', `/Users/${ids.Jdoe}`, undefined, { 'if-match': tag })).status).toBe(412);
  });
});

describe('bad input', () => {
  it('ignores unknown attributes and extension schemas, never keeps a password', async () => {
    const res = await f.scim('POST', '/Users', { schemas: [USER], userName: 'pat', password: 't0p-s3cret', favouriteColour: 'blue', 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User': { employeeNumber: '7' } });
    expect(res.status, res.text).toBe(201);
    expect(res.text).not.toContain('t0p-s3cret');
    expect(res.json().favouriteColour).toBeUndefined();
    const events = await auditEvents(f.gw);
    expect(JSON.stringify(events)).not.toContain('t0p-s3cret');
  });

  it.each([
    [{ schemas: [USER], userName: 42 }, 'invalidValue'],
    [{ schemas: [USER], userName: 'x', active: 'yes' }, 'invalidValue'],
    [{ schemas: [USER], userName: 'x', emails: { value: 'a@b' } }, 'invalidValue'],
    [{ schemas: [USER] }, 'invalidValue'],
    [{ userName: 'no-schemas' }, 'invalidSyntax'],
    [[1, 2], 'invalidSyntax'],
  ])('refuses %j with 400 %s', async (body, scimType) => {
    const res = await f.scim('POST', '/Users', body);
    expect(res.status).toBe(400);
    expect(res.json()).toMatchObject({ schemas: [ERROR], scimType });
  });

  it('refuses malformed JSON (invalidSyntax) and a body over 256 KiB (413)', async () => {
    expect((await f.scim('POST', '/Users', '{"schemas": [')).json()).toMatchObject({ status: '400', scimType: 'invalidSyntax' });
    const huge = await f.scim('POST', '/Users', { schemas: [USER], userName: 'big', displayName: 'x'.repeat(300 * 1024) });
    expect(huge.status).toBe(413);
    expect(huge.json()).toMatchObject({ schemas: [ERROR], status: '413' });
  });

  it('refuses a second user with the same userName, in any case, with 409 uniqueness', async () => {
    const res = await f.scim('POST', '/Users', { schemas: [USER], userName: 'BJensen' });
    expect(res.status).toBe(409);
    expect(res.json()).toMatchObject({ schemas: [ERROR], status: '409', scimType: 'uniqueness' });
    const agent = await f.scim('POST', '/Agents', { schemas: [AGENT], agentId: 'support-bot', owner: 'bjensen', maxClassification: 'internal' });
    expect(agent.json()).toMatchObject({ status: '409', scimType: 'uniqueness' });
  });

  it('keeps agentId immutable and suspendedFor read-only, whatever the request says', async () => {
    const created = await f.scim('POST', '/Agents', { schemas: [AGENT], agentId: 'fixed-bot', owner: 'bjensen', maxClassification: 'internal', suspendedFor: 'nothing' });
    expect(created.status, created.text).toBe(201);
    expect(created.json().suspendedFor).toBeUndefined();
    const id = created.json().id;
    const renamed = await f.scim('PUT', `/Agents/${id}`, { schemas: [AGENT], agentId: 'other-bot', owner: 'bjensen', maxClassification: 'internal' });
    expect(renamed.json()).toMatchObject({ status: '400', scimType: 'mutability' });
    const patched = await f.scim('PATCH', `/Agents/${id}`, patchOp({ op: 'replace', path: 'agentId', value: 'other-bot' }));
    expect(patched.json()).toMatchObject({ status: '400', scimType: 'mutability' });
    const readOnly = await f.scim('PATCH', `/Agents/${id}`, patchOp({ op: 'replace', path: 'suspendedFor', value: 'owner_deprovisioned' }));
    expect(readOnly.json()).toMatchObject({ status: '400', scimType: 'mutability' });
    expect((await f.scim('GET', `/Agents/${id}`)).json()).toMatchObject({ agentId: 'fixed-bot', meta: { version: 'W/"1"' } });
  });

  it('keeps attacker-chosen keys inert: __proto__ in a body, a path or a path-less value; deeply nested filters', async () => {
    const created = await f.scim('POST', '/Users', JSON.stringify({ schemas: [USER], userName: 'proto' }).replace('}', ',"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}'));
    expect(created.status, created.text).toBe(201);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const id = created.json().id;
    expect((await f.scim('PATCH', `/Users/${id}`, patchOp({ op: 'add', path: '__proto__.polluted', value: true }))).json()).toMatchObject({ scimType: 'invalidPath' });
    const pathless = await f.scim('PATCH', `/Users/${id}`, JSON.stringify(patchOp({ op: 'add', value: { title: 'x' } })).replace('"title"', '"__proto__":{"polluted":true},"title"'));
    expect(pathless.status).toBe(400);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const nested = `${'('.repeat(900)}userName eq "proto"${')'.repeat(900)}`;
    const res = await f.scim('GET', `/Users?filter=${encodeURIComponent(nested)}`);
    expect(res.status).toBe(200);
    expect(res.json().totalResults).toBe(1);
  });

  it('answers 404 for an unknown id and does not confuse resource types', async () => {
    expect((await f.scim('GET', '/Users/00000000-0000-4000-8000-000000000000')).json()).toMatchObject({ schemas: [ERROR], status: '404' });
    expect((await f.scim('GET', `/Groups/${ids.bjensen}`)).status).toBe(404);
  });

  it('needs a token with the provisioner role: 401 without one, 403 with an approver\'s or an operator\'s', async () => {
    const none = await send(f.gw.adminUrl, { path: '/scim/v2/Users' });
    expect(none.status).toBe(401);
    expect(none.json()).toMatchObject({ schemas: [ERROR], status: '401' });
    expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
    for (const groups of [['approvers'], ['sec-ops']]) {
      const res = await send(f.gw.adminUrl, { path: '/scim/v2/Users', headers: { authorization: `Bearer ${await f.adminToken('mallory@example.com', groups)}` } });
      expect(res.status).toBe(403);
      expect(res.json()).toMatchObject({ schemas: [ERROR], status: '403', reason: 'scim_role_missing' });
    }
    const events = await auditEvents(f.gw);
    expect(events.filter((e) => e.type === 'scim_refused' && e.reason === 'scim_role_missing').length).toBeGreaterThanOrEqual(2);
  });

  it('audits every change with the provisioner and a diff of attributes', async () => {
    const res = await f.scim('PATCH', `/Users/${ids.jsmith}`, patchOp({ op: 'replace', path: 'displayName', value: 'John S.' }));
    expect(res.status).toBe(200);
    const events = await auditEvents(f.gw);
    const e = events.filter((x) => x.type === 'user_updated').at(-1)!;
    expect(e).toMatchObject({ user: 'jsmith', scim_id: ids.jsmith, by: 'okta-scim-connector', diff: { displayName: { from: null, to: 'John S.' } } });
    expect(events.some((x) => x.type === 'user_created' && x.user === 'bjensen')).toBe(true);
  });
});
