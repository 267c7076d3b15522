/**
 * SCIM filters (RFC 7644 §3.4.2.2): parsed once into a tree, then evaluated per resource with the
 * schema's rules (case-exactness, types, multi-valued attributes). Precedence: not, and, or;
 * parentheses group; `attr[filter]` filters a multi-valued attribute's values. A filter longer
 * than MAX_CHARS or with more than MAX_NODES comparisons is refused as too complex (invalidFilter).
 */
import { ScimError } from './errors.js';
import { attributeOf, subAttributeOf, type Attribute, type ResourceType } from './schemas.js';

const MAX_CHARS = 2048;
const MAX_NODES = 64;
const COMPARE = new Set(['eq', 'ne', 'co', 'sw', 'ew', 'gt', 'ge', 'lt', 'le']);

export interface AttrPath {
  readonly schema?: string;
  readonly attr: string;
  readonly sub?: string;
}

export type Filter =
  | { readonly op: 'and' | 'or'; readonly left: Filter; readonly right: Filter }
  | { readonly op: 'not'; readonly filter: Filter }
  | { readonly op: 'pr'; readonly path: AttrPath }
  | { readonly op: 'eq' | 'ne' | 'co' | 'sw' | 'ew' | 'gt' | 'ge' | 'lt' | 'le'; readonly path: AttrPath; readonly value: string | number | boolean | null }
  | { readonly op: 'has'; readonly path: AttrPath; readonly filter: Filter };

type Token = { kind: 'word' | 'string' | '(' | ')' | '[' | ']'; text: string; value?: unknown };

const invalid = (why: string) => new ScimError('scim_filter_invalid', `The filter is invalid: ${why}.`);

function tokenize(input: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const c = input[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') i++;
    else if ('()[]'.includes(c)) out.push({ kind: c as '(', text: c }), i++;
    else if (c === '"') {
      let j = i + 1;
      while (j < input.length && input[j] !== '"') j += input[j] === '\\' ? 2 : 1;
      if (j >= input.length) throw invalid('a string is not closed');
      const text = input.slice(i, j + 1);
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        throw invalid(`${text} is not a valid JSON string`);
      }
      out.push({ kind: 'string', text, value });
      i = j + 1;
    } else {
      let j = i;
      while (j < input.length && !' \t\n\r()[]"'.includes(input[j]!)) j++;
      out.push({ kind: 'word', text: input.slice(i, j) });
      i = j;
    }
  }
  return out;
}

/** `[urn:…:]attr[.sub]`: a schema URN prefix ends at the last colon. */
export function parseAttrPath(text: string): AttrPath {
  let schema: string | undefined;
  let rest = text;
  if (/^urn:/i.test(text)) {
    const colon = text.lastIndexOf(':');
    schema = text.slice(0, colon);
    rest = text.slice(colon + 1);
  }
  const [attr, sub, extra] = rest.split('.');
  if (!attr || !/^[A-Za-z$][\w$-]*$/.test(attr) || (sub !== undefined && !/^[A-Za-z$][\w$-]*$/.test(sub)) || extra !== undefined) throw invalid(`${JSON.stringify(text)} is not an attribute path`);
  return { schema, attr, sub };
}

export function parseFilter(input: string): Filter {
  if (input.length > MAX_CHARS) throw invalid(`it is longer than ${MAX_CHARS} characters (too complex)`);
  const tokens = tokenize(input);
  let pos = 0;
  let nodes = 0;
  const peek = () => tokens[pos];
  const word = (w: string) => peek()?.kind === 'word' && peek()!.text.toLowerCase() === w;
  const expect = (kind: Token['kind']) => {
    if (peek()?.kind !== kind) throw invalid(`expected "${kind}" ${peek() ? `before ${JSON.stringify(peek()!.text)}` : 'at the end'}`);
    pos++;
  };

  function or(): Filter {
    let left = and();
    while (word('or')) {
      pos++;
      left = { op: 'or', left, right: and() };
    }
    return left;
  }
  function and(): Filter {
    let left = unary();
    while (word('and')) {
      pos++;
      left = { op: 'and', left, right: unary() };
    }
    return left;
  }
  function unary(): Filter {
    if (word('not')) {
      pos++;
      expect('(');
      const filter = or();
      expect(')');
      return { op: 'not', filter };
    }
    if (peek()?.kind === '(') {
      pos++;
      const f = or();
      expect(')');
      return f;
    }
    return comparison();
  }
  function comparison(): Filter {
    const t = peek();
    if (t?.kind !== 'word') throw invalid(t ? `expected an attribute before ${JSON.stringify(t.text)}` : 'it ends where an attribute was expected');
    pos++;
    if (++nodes > MAX_NODES) throw invalid(`it has more than ${MAX_NODES} comparisons (too complex)`);
    const path = parseAttrPath(t.text);
    if (peek()?.kind === '[') {
      pos++;
      const filter = or();
      expect(']');
      return { op: 'has', path, filter };
    }
    const opTok = peek();
    const op = opTok?.kind === 'word' ? opTok.text.toLowerCase() : '';
    if (op === 'pr') {
      pos++;
      return { op: 'pr', path };
    }
    if (!COMPARE.has(op)) throw invalid(`expected an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr) after ${JSON.stringify(t.text)}`);
    pos++;
    const v = peek();
    if (!v) throw invalid(`the ${op} comparison has no value`);
    pos++;
    let value: string | number | boolean | null;
    if (v.kind === 'string') value = v.value as string;
    else if (v.kind === 'word' && /^(true|false|null)$/.test(v.text)) value = JSON.parse(v.text) as boolean | null;
    else if (v.kind === 'word' && /^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(v.text)) value = Number(v.text);
    else throw invalid(`${JSON.stringify(v.text)} is not a value (a "string", a number, true, false or null)`);
    return { op: op as 'eq', path, value };
  }

  if (tokens.length === 0) throw invalid('it is empty');
  const f = or();
  if (pos < tokens.length) throw invalid(`unexpected ${JSON.stringify(tokens[pos]!.text)}`);
  return f;
}

/** Checks every attribute the filter names against the resource type (an unknown one is invalidFilter). */
export function compileFilter(f: Filter, type: ResourceType): (resource: Record<string, unknown>) => boolean {
  const resolve = (p: AttrPath, parent?: Attribute): { attr: Attribute; sub?: Attribute } => {
    if (p.schema && p.schema.toLowerCase() !== type.schema.toLowerCase()) throw invalid(`${p.schema} is not a schema of ${type.name}`);
    const attr = parent ? subAttributeOf(parent, p.attr) : attributeOf(type, p.attr);
    if (!attr) throw invalid(`${type.name} has no attribute ${JSON.stringify(p.attr)}`);
    if (p.sub === undefined) return { attr };
    const sub = subAttributeOf(attr, p.sub);
    if (!sub) throw invalid(`${attr.name} has no sub-attribute ${JSON.stringify(p.sub)}`);
    return { attr, sub };
  };

  const build = (node: Filter, parent?: Attribute): ((r: Record<string, unknown>) => boolean) => {
    if (node.op === 'and' || node.op === 'or') {
      const l = build(node.left, parent);
      const r = build(node.right, parent);
      return node.op === 'and' ? (x) => l(x) && r(x) : (x) => l(x) || r(x);
    }
    if (node.op === 'not') {
      const inner = build(node.filter, parent);
      return (x) => !inner(x);
    }
    const leaf = node as Exclude<Filter, { op: 'and' | 'or' | 'not' }>;
    const { attr, sub } = resolve(leaf.path, parent);
    if (leaf.op === 'has') {
      if (!attr.subAttributes) throw invalid(`${attr.name} has no values to filter`);
      const inner = build(leaf.filter, attr);
      return (x) => asList(field(x, attr.name)).some((v) => typeof v === 'object' && v !== null && inner(v as Record<string, unknown>));
    }
    const values = (x: Record<string, unknown>) => {
      const top = asList(field(x, attr.name));
      if (sub) return top.flatMap((v) => asList(field(v as Record<string, unknown>, sub.name)));
      // A complex multi-valued attribute without a sub-attribute compares its values' `value`.
      return attr.subAttributes ? top.flatMap((v) => asList(field(v as Record<string, unknown>, 'value'))) : top;
    };
    const target = sub ?? (attr.subAttributes ? subAttributeOf(attr, 'value') ?? attr : attr);
    if (leaf.op === 'pr') return (x) => values(x).some((v) => v !== null && v !== '' && !(Array.isArray(v) && v.length === 0));
    const test = comparator(leaf.op, leaf.value, target);
    if (leaf.op === 'ne') {
      const eq = comparator('eq', leaf.value, target);
      return (x) => !values(x).some(eq);
    }
    return (x) => values(x).some(test);
  };
  return build(f);
}

function comparator(op: string, want: string | number | boolean | null, a: Attribute): (v: unknown) => boolean {
  if (want === null) return op === 'eq' ? (v) => v === null || v === undefined : () => false;
  if (a.type === 'boolean') {
    if (op !== 'eq' || typeof want !== 'boolean') throw invalid(`${a.name} is a boolean: compare it with eq true or eq false`);
    return (v) => v === want;
  }
  if (a.type === 'integer') {
    if (typeof want !== 'number') throw invalid(`${a.name} is a number`);
    return (v) => typeof v === 'number' && order(op, v - want);
  }
  if (typeof want !== 'string') throw invalid(`${a.name} is a ${a.type}: compare it with a "string"`);
  if (a.type === 'dateTime') {
    const t = Date.parse(want);
    if (Number.isNaN(t)) throw invalid(`${JSON.stringify(want)} is not a dateTime`);
    return (v) => typeof v === 'string' && order(op, Date.parse(v) - t);
  }
  const fold = a.caseExact ? (s: string) => s : (s: string) => s.toLowerCase();
  const w = fold(want);
  return (v) => {
    if (typeof v !== 'string') return false;
    const s = fold(v);
    if (op === 'eq') return s === w;
    if (op === 'co') return s.includes(w);
    if (op === 'sw') return s.startsWith(w);
    if (op === 'ew') return s.endsWith(w);
    return order(op, s < w ? -1 : s > w ? 1 : 0);
  };
}

function order(op: string, d: number): boolean {
  return op === 'eq' ? d === 0 : op === 'gt' ? d > 0 : op === 'ge' ? d >= 0 : op === 'lt' ? d < 0 : op === 'le' ? d <= 0 : false;
}

/** An attribute of a JSON object by name, case-insensitively (RFC 7643 §2.1). */
export function field(o: Record<string, unknown> | undefined, name: string): unknown {
  if (!o) return undefined;
  if (name in o) return o[name];
  const n = name.toLowerCase();
  for (const k of Object.keys(o)) if (k.toLowerCase() === n) return o[k];
  return undefined;
}

function asList(v: unknown): unknown[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}
