/**
 * A SCIM resource in and out. In: a request's JSON checked against its schema and turned into the
 * attributes a record keeps — unknown attributes and extension schemas ignored (RFC 7644 §3.3
 * lets a service provider ignore what it does not support), read-only ones ignored, `password`
 * never kept, wrong types refused (invalidValue), booleans also accepted as "True"/"False" strings
 * (what Microsoft Entra sends), immutable ones kept unchanged (mutability). Out: the record as a
 * SCIM resource with `meta` (version = the ETag) and, for a User, the groups they are in.
 */
import { createPublicKey } from 'node:crypto';
import { isValidId } from '../../auth/identifiers.js';
import { canonical } from '../../audit/chain.js';
import type { DirectoryRecord } from '../records.js';
import { ScimError } from './errors.js';
import { field } from './filter.js';
import type { Attribute, ResourceType } from './schemas.js';

const SCOPE = /^[A-Za-z0-9][A-Za-z0-9._-]*:([a-z]+|\*)$/;
const MAX_STRING = 2048;
const MAX_VALUES = 1000;
const MAX_KEYS = 10;

export interface Catalogue {
  /** Tool names, for an agent's scopes. */
  readonly tools: ReadonlySet<string>;
  /** Whether a User id exists, for a group's members. */
  readonly isUser: (id: string) => boolean;
}

const bad = (why: string) => new ScimError('scim_value_invalid', why);

/** The attributes of a created (base undefined) or replaced resource; throws ScimError. */
export function toAttributes(type: ResourceType, body: unknown, base: DirectoryRecord | undefined, catalogue: Catalogue): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ScimError('scim_syntax_invalid', 'The request body must be a JSON object (a SCIM resource).');
  const input = body as Record<string, unknown>;
  const schemas = input.schemas;
  if (!Array.isArray(schemas) || !schemas.some((s) => typeof s === 'string' && s.toLowerCase() === type.schema.toLowerCase())) {
    throw new ScimError('scim_syntax_invalid', `"schemas" must list ${type.schema}.`);
  }
  if (type.kind === 'Agent') refusePrivateKeys(field(input, 'credentials'));
  const out: Record<string, unknown> = {};
  const externalId = field(input, 'externalId');
  if (externalId !== undefined && externalId !== null) out.externalId = scalar({ name: 'externalId', type: 'string' }, externalId);
  for (const a of type.attributes) {
    if (a.mutability === 'readOnly') continue;
    const raw = field(input, a.name);
    if (raw === undefined || raw === null || (Array.isArray(raw) && raw.length === 0)) continue;
    out[a.name] = value(a, raw);
  }
  for (const a of type.attributes) {
    if (a.required && out[a.name] === undefined) throw bad(`${a.name} is required.`);
    if (a.mutability === 'immutable' && base && base.attributes[a.name] !== undefined && canonical(out[a.name] ?? null) !== canonical(base.attributes[a.name])) {
      throw new ScimError('scim_mutability', `${a.name} is immutable: it cannot change once set.`);
    }
  }
  return rules(type, out, base, catalogue);
}

function value(a: Attribute, raw: unknown): unknown {
  if (a.multiValued) {
    if (!Array.isArray(raw)) throw bad(`${a.name} is multi-valued: send an array.`);
    if (raw.length > MAX_VALUES) throw bad(`${a.name} has more than ${MAX_VALUES} values.`);
    return raw.filter((v) => v !== null).map((v) => single(a, v));
  }
  if (Array.isArray(raw)) throw bad(`${a.name} takes a single value, not an array.`);
  return single(a, raw);
}

function single(a: Attribute, raw: unknown): unknown {
  if (a.type !== 'complex') return scalar(a, raw);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad(`${a.name} must be an object.`);
  const o: Record<string, unknown> = {};
  for (const s of a.subAttributes ?? []) {
    const v = field(raw as Record<string, unknown>, s.name);
    if (v !== undefined && v !== null && s.mutability !== 'readOnly') o[s.name] = value(s, v);
  }
  return o;
}

function scalar(a: Attribute, raw: unknown): unknown {
  if (a.type === 'boolean') {
    if (typeof raw === 'boolean') return raw;
    if (typeof raw === 'string' && /^(true|false)$/i.test(raw)) return raw.toLowerCase() === 'true';
    throw bad(`${a.name} must be a boolean (got ${JSON.stringify(raw)}).`);
  }
  if (a.type === 'integer') {
    if (typeof raw === 'number' && Number.isSafeInteger(raw)) return raw;
    throw bad(`${a.name} must be an integer (got ${JSON.stringify(raw)}).`);
  }
  if (typeof raw !== 'string') throw bad(`${a.name} must be a string (got ${JSON.stringify(raw)}).`);
  if (raw.length > MAX_STRING) throw bad(`${a.name} is longer than ${MAX_STRING} characters.`);
  if (a.type === 'dateTime' && Number.isNaN(Date.parse(raw))) throw bad(`${a.name} must be a dateTime.`);
  return raw;
}

/** What the gateway needs of each type beyond the schema's shape. */
function rules(type: ResourceType, out: Record<string, unknown>, base: DirectoryRecord | undefined, catalogue: Catalogue): Record<string, unknown> {
  if (type.kind === 'User') {
    if (!isValidId(out.userName)) throw bad('userName must be 1–256 printable characters.');
    out.active ??= true;
  } else if (type.kind === 'Group') {
    const members = (out.members as Record<string, unknown>[] | undefined) ?? [];
    const seen = new Set<string>();
    out.members = members.flatMap((m) => {
      const id = m.value;
      if (typeof id !== 'string') throw bad('each member needs a "value": the id of a User.');
      if (m.type !== undefined && m.type !== 'User') throw bad('members are Users (nested groups are not supported).');
      if (!catalogue.isUser(id)) throw bad(`member ${JSON.stringify(id)} is not a User.`);
      if (seen.has(id)) return [];
      seen.add(id);
      return [{ value: id, ...(typeof m.display === 'string' ? { display: m.display } : {}) }];
    });
  } else {
    if (!isValidId(out.agentId)) throw bad('agentId must be 1–256 printable characters.');
    canonicalOnly(type, out, 'maxClassification');
    out.status ??= 'active';
    canonicalOnly(type, out, 'status');
    out.trustLevel ??= 'standard';
    canonicalOnly(type, out, 'trustLevel');
    for (const s of (out.scopes as string[] | undefined) ?? []) {
      if (!SCOPE.test(s)) throw bad(`scope ${JSON.stringify(s)} is not <tool>:<action>.`);
      if (!catalogue.tools.has(s.split(':')[0]!)) throw bad(`scope ${JSON.stringify(s)} names a tool that is not configured.`);
    }
    if (typeof out.maxTokenTtl === 'number' && out.maxTokenTtl < 1) throw bad('maxTokenTtl must be at least 1 (seconds).');
    if (out.credentials !== undefined) out.credentials = publicJwks(out.credentials);
    // Kept while the gateway's own suspension stands; an operator's status change clears it.
    if (base?.attributes.suspendedFor !== undefined && out.status === base.attributes.status) out.suspendedFor = base.attributes.suspendedFor;
  }
  return out;
}

function canonicalOnly(type: ResourceType, out: Record<string, unknown>, name: string): void {
  const allowed = type.attributes.find((a) => a.name === name)!.canonicalValues!;
  if (!allowed.includes(out[name] as string)) throw bad(`${name} must be one of ${allowed.join(', ')} (got ${JSON.stringify(out[name])}).`);
}

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth'];

/** A private (or symmetric) key sent by mistake is refused before anything is kept of it. */
function refusePrivateKeys(credentials: unknown): void {
  const keys = (credentials as { keys?: unknown } | undefined)?.keys;
  if (!Array.isArray(keys)) return;
  for (const k of keys) {
    if (typeof k === 'object' && k !== null && PRIVATE_MEMBERS.some((m) => m in k)) throw bad('credentials must hold public keys only: a key carries private or secret material (it was not stored; treat it as exposed and replace it).');
  }
}

/** A JWKS of public keys only (a private key sent by mistake is refused, never stored). */
function publicJwks(v: unknown): { keys: Record<string, unknown>[] } {
  const keys = (v as { keys?: unknown }).keys;
  if (!Array.isArray(keys) || keys.length === 0 || keys.length > MAX_KEYS) throw bad(`credentials must be a JWKS with 1–${MAX_KEYS} public keys.`);
  return {
    keys: keys.map((k: Record<string, unknown>) => {
      try {
        const key = createPublicKey({ key: k as never, format: 'jwk' });
        if (key.asymmetricKeyType === undefined) throw new Error('not an asymmetric key');
      } catch (err) {
        throw bad(`credentials: a key is not a usable public JWK (${(err as Error).message}).`);
      }
      return k;
    }),
  };
}

/** The record as a SCIM resource. */
export function render(type: ResourceType, r: DirectoryRecord, baseUrl: string, groupsOf?: (id: string) => { value: string; display: string }[]): Record<string, unknown> {
  const location = `${baseUrl}${type.endpoint}/${r.id}`;
  const { externalId, ...attributes } = r.attributes;
  const out: Record<string, unknown> = { schemas: [type.schema], id: r.id, ...(externalId !== undefined ? { externalId } : {}), ...attributes };
  if (type.kind === 'User' && groupsOf) {
    const groups = groupsOf(r.id).map((g) => ({ ...g, $ref: `${baseUrl}/Groups/${g.value}`, type: 'direct' }));
    if (groups.length > 0) out.groups = groups;
  }
  if (type.kind === 'Group') out.members = ((attributes.members as Record<string, unknown>[] | undefined) ?? []).map((m) => ({ ...m, $ref: `${baseUrl}/Users/${String(m.value)}`, type: 'User' }));
  out.meta = { resourceType: type.name, created: r.created, lastModified: r.lastModified, location, version: etag(r) };
  return out;
}

export const etag = (r: Pick<DirectoryRecord, 'version'>) => `W/"${r.version}"`;
