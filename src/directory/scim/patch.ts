/**
 * SCIM PATCH (RFC 7644 §3.5.2): add, replace and remove, with or without a path, applied in order
 * to a copy of the resource; the result is then validated whole like a PUT (resource.ts), so a
 * request is applied entirely or not at all. What identity providers really send is accepted:
 * operation names in any case ("Replace"), a path-less value whose keys are paths
 * ({"name.givenName": …}, Entra), `remove` of `members` with a list of values (Entra), and an
 * `add`/`replace` on `emails[type eq "work"].value` that creates the value when none matches.
 * Paths into extension schemas the gateway does not keep are ignored, as on create.
 */
import { ScimError } from './errors.js';
import { compileFilter, field, parseAttrPath, parseFilter, type AttrPath } from './filter.js';
import { attributeOf, subAttributeOf, type Attribute, type ResourceType } from './schemas.js';

export const PATCH_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const MAX_OPERATIONS = 100;

interface Target {
  readonly attr: Attribute;
  readonly filter?: (v: Record<string, unknown>) => boolean;
  /** For a filter of the form `x eq "v"`: what a value created for it carries. */
  readonly seed?: Record<string, unknown>;
  readonly sub?: Attribute;
}

const badPath = (why: string) => new ScimError('scim_path_invalid', why);

/** Applies a PatchOp request to `resource` (its attributes, with `externalId`); returns the new attributes. */
export function applyPatch(type: ResourceType, resource: Record<string, unknown>, body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null) throw new ScimError('scim_syntax_invalid', 'The body must be a PatchOp message.');
  const msg = body as Record<string, unknown>;
  if (!Array.isArray(msg.schemas) || !msg.schemas.includes(PATCH_SCHEMA)) throw new ScimError('scim_syntax_invalid', `"schemas" must be ["${PATCH_SCHEMA}"].`);
  const ops = field(msg, 'Operations');
  if (!Array.isArray(ops) || ops.length === 0) throw new ScimError('scim_syntax_invalid', '"Operations" must be a non-empty array.');
  if (ops.length > MAX_OPERATIONS) throw new ScimError('scim_too_many', `At most ${MAX_OPERATIONS} operations per request.`);
  const out = structuredClone(resource);
  for (const [i, raw] of ops.entries()) {
    const o = raw as Record<string, unknown>;
    const op = typeof o?.op === 'string' ? o.op.toLowerCase() : '';
    if (op !== 'add' && op !== 'replace' && op !== 'remove') throw new ScimError('scim_syntax_invalid', `Operation ${i + 1}: "op" must be add, replace or remove.`);
    const path = o.path;
    if (path !== undefined && typeof path !== 'string') throw badPath(`Operation ${i + 1}: "path" must be a string.`);
    if (path === undefined || path === '') {
      if (op === 'remove') throw new ScimError('scim_no_target', `Operation ${i + 1}: remove needs a path.`);
      if (typeof o.value !== 'object' || o.value === null || Array.isArray(o.value)) throw new ScimError('scim_value_invalid', `Operation ${i + 1}: without a path, "value" must be an object of attributes.`);
      for (const [k, v] of Object.entries(o.value)) {
        if (k === 'schemas' || k === 'id' || k === 'meta') continue;
        // An extension schema's object of attributes ({"urn:…:enterprise:2.0:User": {…}}) is not kept.
        if (/^urn:/i.test(k) && !k.toLowerCase().startsWith(type.schema.toLowerCase())) continue;
        const t = target(type, k, true);
        if (t) apply(out, op, t, v);
      }
      continue;
    }
    const t = target(type, path);
    if (t) apply(out, op, t, o.value);
  }
  return out;
}

/** The attribute a path names, or undefined for an extension schema the gateway does not keep. */
function target(type: ResourceType, path: string, lenient = false): Target | undefined {
  const open = path.indexOf('[');
  let head = path;
  let filterText: string | undefined;
  let subName: string | undefined;
  if (open >= 0) {
    const close = path.lastIndexOf(']');
    if (close < open) throw badPath(`${JSON.stringify(path)} is not a valid path.`);
    head = path.slice(0, open);
    filterText = path.slice(open + 1, close);
    const rest = path.slice(close + 1);
    if (rest !== '' && !rest.startsWith('.')) throw badPath(`${JSON.stringify(path)} is not a valid path.`);
    subName = rest === '' ? undefined : rest.slice(1);
  }
  let p: AttrPath;
  try {
    p = parseAttrPath(head);
  } catch {
    throw badPath(`${JSON.stringify(path)} is not a valid path.`);
  }
  if (p.schema && p.schema.toLowerCase() !== type.schema.toLowerCase()) return undefined;
  const attr = attributeOf(type, p.attr);
  // A path-less value may echo what the resource shows (Okta sends `id`, others `groups`): not patched.
  if (lenient && (!attr || attr.mutability === 'readOnly')) return undefined;
  if (!attr || ['id', 'meta'].includes(attr.name)) throw badPath(`${type.name} has no attribute ${JSON.stringify(p.attr)} that can be patched.`);
  if (attr.mutability === 'readOnly') throw new ScimError('scim_mutability', `${attr.name} is read-only.`);
  if (p.sub !== undefined && filterText !== undefined) throw badPath(`${JSON.stringify(path)} is not a valid path.`);
  const subText = p.sub ?? subName;
  const sub = subText === undefined ? undefined : subAttributeOf(attr, subText);
  if (subText !== undefined && !sub) throw badPath(`${attr.name} has no sub-attribute ${JSON.stringify(subText)}.`);
  if (filterText === undefined) return { attr, sub };
  if (!attr.multiValued || !attr.subAttributes) throw badPath(`${attr.name} is not multi-valued: it cannot be filtered.`);
  const f = parseFilter(filterText);
  const sink = { ...type, attributes: attr.subAttributes, schema: type.schema };
  const seed = f.op === 'eq' && f.path.sub === undefined && typeof f.value === 'string' ? { [f.path.attr]: f.value } : undefined;
  return { attr, sub, filter: compileFilter(f, sink), seed };
}

function apply(out: Record<string, unknown>, op: 'add' | 'replace' | 'remove', t: Target, value: unknown): void {
  const name = t.attr.name;
  const key = Object.keys(out).find((k) => k.toLowerCase() === name.toLowerCase()) ?? name;
  if (key !== name) {
    out[name] = out[key];
    delete out[key];
  }
  const current = out[name];
  if (op !== 'remove' && value === undefined) throw new ScimError('scim_value_invalid', `${op} on ${name} needs a "value".`);

  if (t.filter) {
    const list = (Array.isArray(current) ? current : []) as Record<string, unknown>[];
    const hits = list.filter((v) => typeof v === 'object' && v !== null && t.filter!(v));
    if (op === 'remove') {
      if (t.sub) for (const h of hits) delete h[t.sub.name];
      else out[name] = list.filter((v) => !hits.includes(v));
      return;
    }
    if (hits.length === 0) {
      if (!t.seed) throw new ScimError('scim_no_target', `No value of ${name} matches the path's filter.`);
      list.push(t.sub ? { ...t.seed, [t.sub.name]: value } : { ...t.seed, ...(value as object) });
      out[name] = list;
      return;
    }
    for (const h of hits) {
      if (t.sub) h[t.sub.name] = value;
      else Object.assign(h, value as object);
    }
    return;
  }

  if (t.sub) {
    if (t.attr.multiValued) throw badPath(`${name}.${t.sub.name} names a sub-attribute of many values: filter them, e.g. ${name}[type eq "work"].${t.sub.name}.`);
    const o = (typeof current === 'object' && current !== null ? current : {}) as Record<string, unknown>;
    if (op === 'remove') delete o[t.sub.name];
    else o[t.sub.name] = value;
    out[name] = o;
    return;
  }

  if (op === 'remove') {
    // Entra removes members by listing them as the value.
    if (t.attr.multiValued && Array.isArray(value) && Array.isArray(current)) {
      const gone = new Set(value.map((v) => String((v as Record<string, unknown>)?.value)));
      out[name] = current.filter((v) => !gone.has(String((v as Record<string, unknown>)?.value ?? v)));
    } else delete out[name];
    return;
  }
  if (t.attr.multiValued) {
    const values = Array.isArray(value) ? value : [value];
    if (op === 'replace') out[name] = values;
    else {
      const list = Array.isArray(current) ? [...current] : [];
      for (const v of values) if (!list.some((x) => JSON.stringify(x) === JSON.stringify(v))) list.push(v);
      out[name] = list;
    }
    return;
  }
  if (t.attr.type === 'complex' && typeof value === 'object' && value !== null && typeof current === 'object' && current !== null) {
    out[name] = { ...current, ...value };
    return;
  }
  out[name] = value;
}
