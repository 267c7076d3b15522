/**
 * The three resource types' schemas (RFC 7643 §4 User and Group, and SPEC Part 2's Agent), written
 * once as attribute definitions: /Schemas shows them (RFC 7643 §7), and the same definitions drive
 * validation (resource.ts), filters (case sensitivity, filter.ts) and PATCH paths (patch.ts).
 */
import { CLASSIFICATIONS, TRUST_LEVELS } from '../../config/schema.js';
import type { DirectoryKind } from '../records.js';

export const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
export const AGENT_SCHEMA = 'urn:portcullis:params:scim:schemas:core:1.0:Agent';

export interface Attribute {
  readonly name: string;
  readonly type: 'string' | 'boolean' | 'integer' | 'dateTime' | 'reference' | 'complex';
  readonly multiValued?: boolean;
  readonly required?: boolean;
  readonly caseExact?: boolean;
  readonly mutability?: 'readOnly' | 'readWrite' | 'immutable' | 'writeOnly';
  readonly returned?: 'always' | 'never' | 'default' | 'request';
  readonly uniqueness?: 'none' | 'server' | 'global';
  readonly canonicalValues?: readonly string[];
  readonly referenceTypes?: readonly string[];
  readonly subAttributes?: readonly Attribute[];
  readonly description?: string;
}

const str = (name: string, more: Partial<Attribute> = {}): Attribute => ({ name, type: 'string', ...more });
const multi = (name: string, subAttributes: readonly Attribute[], more: Partial<Attribute> = {}): Attribute => ({ name, type: 'complex', multiValued: true, subAttributes, ...more });
const typedValue = (types: string[]) => [str('value'), str('display'), str('type', { canonicalValues: types }), { name: 'primary', type: 'boolean' } as Attribute];

export const USER_ATTRIBUTES: readonly Attribute[] = [
  str('userName', { required: true, uniqueness: 'server', description: 'The person\'s sign-in name: the `sub` of their admin tokens and console sessions.' }),
  { name: 'name', type: 'complex', subAttributes: ['formatted', 'familyName', 'givenName', 'middleName', 'honorificPrefix', 'honorificSuffix'].map((n) => str(n)) },
  str('displayName'),
  str('nickName'),
  str('title'),
  str('userType'),
  str('preferredLanguage'),
  str('locale'),
  str('timezone'),
  { name: 'active', type: 'boolean', description: 'false: deprovisioned; the person holds no role and their agents are suspended.' },
  multi('emails', typedValue(['work', 'home', 'other'])),
  multi('phoneNumbers', typedValue(['work', 'home', 'mobile', 'fax', 'pager', 'other'])),
  multi('groups', [str('value', { mutability: 'readOnly' }), { name: '$ref', type: 'reference', referenceTypes: ['Group'], mutability: 'readOnly' }, str('display', { mutability: 'readOnly' }), str('type', { mutability: 'readOnly' })], { mutability: 'readOnly' }),
];

export const GROUP_ATTRIBUTES: readonly Attribute[] = [
  str('displayName', { required: true, description: 'Mapped to a gateway role through admin.auth.role_map.' }),
  multi('members', [str('value', { mutability: 'immutable', caseExact: true }), { name: '$ref', type: 'reference', referenceTypes: ['User', 'Group'], mutability: 'immutable' }, str('display'), str('type', { canonicalValues: ['User', 'Group'], mutability: 'immutable' })]),
];

export const AGENT_ATTRIBUTES: readonly Attribute[] = [
  str('agentId', { required: true, caseExact: true, uniqueness: 'server', mutability: 'immutable', description: 'The id the agent acts under (tokens\' `sub`, audit events, policy input).' }),
  str('owner', { required: true, description: 'The userName of the accountable person; once people are provisioned, an active one.' }),
  str('purpose'),
  str('roles', { multiValued: true, caseExact: true, description: 'Roles the policy reads as agent.roles.' }),
  str('maxClassification', { required: true, canonicalValues: CLASSIFICATIONS }),
  str('status', { canonicalValues: ['active', 'suspended', 'retired'], description: 'Default active; suspended or retired revokes the agent\'s tokens and cuts its calls.' }),
  str('trustLevel', { canonicalValues: TRUST_LEVELS, description: 'The baseline of the live trust score; default standard.' }),
  str('version'),
  str('scopes', { multiValued: true, caseExact: true, description: '<tool>:<action> the token service may grant this agent, at most.' }),
  { name: 'credentials', type: 'complex', subAttributes: [{ name: 'keys', type: 'complex', multiValued: true, subAttributes: [str('kty'), str('kid', { caseExact: true }), str('crv'), str('alg'), str('use'), str('x', { caseExact: true }), str('y', { caseExact: true }), str('n', { caseExact: true }), str('e', { caseExact: true })] }], description: 'A public JWKS: the keys the agent signs its client assertions with (private_key_jwt).' },
  { name: 'maxTokenTtl', type: 'integer', description: 'Seconds: the longest token the token service mints for this agent.' },
  str('riskProfile', { caseExact: true, description: 'Read by the policy as agent.risk_profile.' }),
  str('suspendedFor', { mutability: 'readOnly', description: 'owner_deprovisioned when the gateway suspended the agent because its owner left.' }),
];

/** What every resource has (RFC 7643 §3.1), for filters and sorting. */
export const COMMON_ATTRIBUTES: readonly Attribute[] = [
  { name: 'schemas', type: 'reference', multiValued: true, caseExact: false, mutability: 'readOnly' },
  str('id', { caseExact: true, mutability: 'readOnly', returned: 'always', uniqueness: 'server' }),
  str('externalId', { caseExact: true }),
  { name: 'meta', type: 'complex', mutability: 'readOnly', subAttributes: [str('resourceType'), { name: 'created', type: 'dateTime' }, { name: 'lastModified', type: 'dateTime' }, str('location'), str('version', { caseExact: true })] },
];

export interface ResourceType {
  readonly kind: DirectoryKind;
  readonly name: string;
  readonly endpoint: string;
  readonly schema: string;
  readonly description: string;
  readonly attributes: readonly Attribute[];
}

export const RESOURCE_TYPES: readonly ResourceType[] = [
  { kind: 'User', name: 'User', endpoint: '/Users', schema: USER_SCHEMA, description: 'The people who approve and operate', attributes: USER_ATTRIBUTES },
  { kind: 'Group', name: 'Group', endpoint: '/Groups', schema: GROUP_SCHEMA, description: 'Groups of people; a group maps to a gateway role', attributes: GROUP_ATTRIBUTES },
  { kind: 'Agent', name: 'Agent', endpoint: '/Agents', schema: AGENT_SCHEMA, description: 'AI agents: their owner, roles, status and keys', attributes: AGENT_ATTRIBUTES },
];

/** An attribute of a resource type by name (case-insensitive, RFC 7643 §2.1), core or common. */
export function attributeOf(type: ResourceType, name: string): Attribute | undefined {
  const n = name.toLowerCase();
  return type.attributes.find((a) => a.name.toLowerCase() === n) ?? COMMON_ATTRIBUTES.find((a) => a.name.toLowerCase() === n);
}

export function subAttributeOf(a: Attribute, name: string): Attribute | undefined {
  const n = name.toLowerCase();
  return a.subAttributes?.find((s) => s.name.toLowerCase() === n);
}

/** RFC 7643 §7: an attribute with every characteristic spelled out. */
export function describe(a: Attribute): Record<string, unknown> {
  return {
    name: a.name,
    type: a.type,
    multiValued: a.multiValued ?? false,
    description: a.description ?? '',
    required: a.required ?? false,
    ...(a.type === 'string' || a.type === 'reference' ? { caseExact: a.caseExact ?? false } : {}),
    ...(a.canonicalValues ? { canonicalValues: a.canonicalValues } : {}),
    ...(a.referenceTypes ? { referenceTypes: a.referenceTypes } : {}),
    mutability: a.mutability ?? 'readWrite',
    returned: a.returned ?? 'default',
    uniqueness: a.uniqueness ?? 'none',
    ...(a.subAttributes ? { subAttributes: a.subAttributes.map(describe) } : {}),
  };
}
