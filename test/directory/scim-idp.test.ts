/**
 * SCIM as the identity providers send it: the request bodies of Okta's SCIM 2.0 provisioning
 * (developer.okta.com "SCIM 2.0 protocol reference") and of Microsoft Entra ID's provisioning
 * service (learn.microsoft.com "Develop a SCIM endpoint": its documented requests, including the
 * string booleans and member removal by value), each step in the order the IdP runs it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startUpstream, type RecordingUpstream } from '../helpers/upstream.js';
import { crmTools } from '../e2e/fixtures.js';
import { GROUP, PATCH, startScimGateway, USER, type ScimFixture } from '../helpers/scim.js';

let up: RecordingUpstream;
let f: ScimFixture;
beforeAll(async () => {
  up = await startUpstream();
  f = await startScimGateway(crmTools(up));
});
afterAll(async () => {
  await f.gw.close();
  await up.close();
});

const q = (filter: string, extra = '') => `?filter=${encodeURIComponent(filter)}${extra}`;

describe('Okta', () => {
  let user: string;
  let group: string;

  it('looks the user up, finds none, creates them (with a password it must not keep)', async () => {
    const found = await f.scim('GET', `/Users${q('userName eq "test.user@okta.local"', '&startIndex=1&count=100')}`);
    expect(found.json()).toMatchObject({ totalResults: 0, Resources: [] });
    const res = await f.scim('POST', '/Users', {
      schemas: [USER], userName: 'test.user@okta.local', name: { givenName: 'Test', familyName: 'User' },
      emails: [{ primary: true, value: 'test.user@okta.local', type: 'work' }], displayName: 'Test User', locale: 'en-US',
      externalId: '00ujl29u0le5T6Aj10h7', groups: [], password: '1mz050nq', active: true,
    });
    expect(res.status, res.text).toBe(201);
    expect(res.json()).toMatchObject({ userName: 'test.user@okta.local', externalId: '00ujl29u0le5T6Aj10h7', active: true, name: { givenName: 'Test' } });
    expect(res.text).not.toContain('1mz050nq');
    user = res.json().id;
  });

  it('replaces the user with PUT (echoing id, groups and meta)', async () => {
    const res = await f.scim('PUT', `/Users/${user}`, {
      schemas: [USER], id: user, userName: 'test.user@okta.local', name: { givenName: 'Another', familyName: 'User' },
      emails: [{ primary: true, value: 'test.user@okta.local', type: 'work' }], displayName: 'Another User', active: true, groups: [], meta: { resourceType: 'User' },
    });
    expect(res.status, res.text).toBe(200);
    expect(res.json()).toMatchObject({ id: user, name: { givenName: 'Another' }, displayName: 'Another User' });
  });

  it('pushes a group, renames it and manages its members with PATCH', async () => {
    const created = await f.scim('POST', '/Groups', { schemas: [GROUP], displayName: 'Test SCIMv2', members: [] });
    expect(created.status, created.text).toBe(201);
    group = created.json().id;
    const rename = await f.scim('PATCH', `/Groups/${group}`, { schemas: [PATCH], Operations: [{ op: 'replace', value: { id: group, displayName: 'Test SCIMv2 renamed' } }] });
    expect(rename.json()).toMatchObject({ displayName: 'Test SCIMv2 renamed' });
    const add = await f.scim('PATCH', `/Groups/${group}`, { schemas: [PATCH], Operations: [{ op: 'add', path: 'members', value: [{ value: user, display: 'test.user@okta.local' }] }] });
    expect(add.json().members).toEqual([{ value: user, display: 'test.user@okta.local', $ref: expect.stringContaining(`/Users/${user}`), type: 'User' }]);
    expect((await f.scim('GET', `/Users/${user}`)).json().groups).toEqual([expect.objectContaining({ value: group, display: 'Test SCIMv2 renamed' })]);
    const remove = await f.scim('PATCH', `/Groups/${group}`, { schemas: [PATCH], Operations: [{ op: 'remove', path: `members[value eq "${user}"]` }] });
    expect(remove.json().members).toEqual([]);
  });

  it('deactivates the user with a path-less replace, then deletes the group', async () => {
    const res = await f.scim('PATCH', `/Users/${user}`, { schemas: [PATCH], Operations: [{ op: 'replace', value: { active: false } }] });
    expect(res.json().active).toBe(false);
    expect((await f.scim('DELETE', `/Groups/${group}`)).status).toBe(204);
    expect((await f.scim('GET', `/Groups/${group}`)).status).toBe(404);
  });
});

describe('Microsoft Entra ID', () => {
  const userName = 'Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1';
  let user: string;
  let group: string;

  it('creates a user with the enterprise extension and an unknown roles list', async () => {
    const res = await f.scim('POST', '/Users', {
      schemas: [USER, 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User'],
      externalId: '0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef', userName, active: true,
      emails: [{ primary: true, type: 'work', value: 'Test_User_fd0ea13b-5e8c-4c81-b2ee-b5ac4e56c5a7@testuser.com' }],
      meta: { resourceType: 'User' }, name: { formatted: 'givenName familyName', familyName: 'familyName', givenName: 'givenName' }, roles: [],
      'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User': { employeeNumber: '1', department: 'Ops' },
    });
    expect(res.status, res.text).toBe(201);
    user = res.json().id;
    expect((await f.scim('GET', `/Users${q(`userName eq "${userName}"`)}`)).json().Resources[0].id).toBe(user);
  });

  it('updates a multi-valued and a single-valued attribute, then a userName', async () => {
    let res = await f.scim('PATCH', `/Users/${user}`, { schemas: [PATCH], Operations: [
      { op: 'Replace', path: 'emails[type eq "work"].value', value: 'updatedEmail@microsoft.com' },
      { op: 'Replace', path: 'name.familyName', value: 'updatedFamilyName' },
    ] });
    expect(res.status, res.text).toBe(200);
    expect(res.json()).toMatchObject({ emails: [{ type: 'work', value: 'updatedEmail@microsoft.com', primary: true }], name: { familyName: 'updatedFamilyName', givenName: 'givenName' } });
    res = await f.scim('PATCH', `/Users/${user}`, { schemas: [PATCH], Operations: [{ op: 'Add', path: 'emails[type eq "home"].value', value: 'home@example.com' }] });
    expect(res.json().emails).toContainEqual({ type: 'home', value: 'home@example.com' });
    res = await f.scim('PATCH', `/Users/${user}`, { schemas: [PATCH], Operations: [{ op: 'Replace', path: 'userName', value: '5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com' }] });
    expect(res.json().userName).toBe('5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com');
  });

  it('disables the user with the string "False", and enables them with "True"', async () => {
    let res = await f.scim('PATCH', `/Users/${user}`, { schemas: [PATCH], Operations: [{ op: 'Replace', path: 'active', value: 'False' }] });
    expect(res.status, res.text).toBe(200);
    expect(res.json().active).toBe(false);
    res = await f.scim('PATCH', `/Users/${user}`, { schemas: [PATCH], Operations: [{ op: 'Replace', path: 'active', value: 'True' }] });
    expect(res.json().active).toBe(true);
  });

  it('creates a group with Entra\'s extra schema, finds it excluding members, adds and removes members by value', async () => {
    const res = await f.scim('POST', '/Groups', { schemas: [GROUP, 'http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/Group'], externalId: '8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159', displayName: 'displayName', meta: { resourceType: 'Group' } });
    expect(res.status, res.text).toBe(201);
    group = res.json().id;
    const found = await f.scim('GET', `/Groups${q('displayName eq "displayName"', '&excludedAttributes=members')}`);
    expect(found.json().Resources).toEqual([expect.objectContaining({ id: group, displayName: 'displayName' })]);
    expect(found.json().Resources[0].members).toBeUndefined();
    expect((await f.scim('GET', `/Groups/${group}?excludedAttributes=members`)).json().members).toBeUndefined();
    let patch = await f.scim('PATCH', `/Groups/${group}`, { schemas: [PATCH], Operations: [{ op: 'Add', path: 'members', value: [{ $ref: null, value: user }] }] });
    expect(patch.json().members.map((m: { value: string }) => m.value)).toEqual([user]);
    patch = await f.scim('PATCH', `/Groups/${group}`, { schemas: [PATCH], Operations: [{ op: 'Remove', path: 'members', value: [{ $ref: null, value: user }] }] });
    expect(patch.json().members).toEqual([]);
    patch = await f.scim('PATCH', `/Groups/${group}`, { schemas: [PATCH], Operations: [{ op: 'Replace', path: 'displayName', value: '1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName' }] });
    expect(patch.json().displayName).toBe('1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName');
  });

  it('refuses a member that is not a User, and deletes the user', async () => {
    const patch = await f.scim('PATCH', `/Groups/${group}`, { schemas: [PATCH], Operations: [{ op: 'Add', path: 'members', value: [{ value: 'no-such-user' }] }] });
    expect(patch.status).toBe(400);
    expect(patch.json()).toMatchObject({ scimType: 'invalidValue' });
    expect((await f.scim('DELETE', `/Users/${user}`)).status).toBe(204);
    expect((await f.scim('GET', `/Users/${user}`)).status).toBe(404);
  });
});
