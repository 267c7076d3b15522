/**
 * Operation path templates: `/contacts/:id`, `/export`, `/files/*`. A template is compiled once into
 * segments; matching walks the already-decoded request segments, with no regex and no allocation
 * beyond the params object. `*` matches one or more trailing segments and may only come last.
 */

export type Segment =
  | { readonly kind: 'literal'; readonly value: string }
  | { readonly kind: 'param'; readonly name: string }
  | { readonly kind: 'rest' };

export interface OperationTemplate {
  /** Upper-case method, or '*' for any. */
  readonly method: string;
  readonly path: string;
  readonly segments: readonly Segment[];
}

export function compileTemplate(method: string, path: string): OperationTemplate {
  const parts = path === '/' ? [] : path.slice(1).split('/');
  const segments = parts.map((p, i): Segment => {
    if (p === '') throw new Error(`template ${JSON.stringify(path)} has an empty segment`);
    if (p === '*') {
      if (i !== parts.length - 1) throw new Error(`'*' may only be the last segment of ${JSON.stringify(path)}`);
      return { kind: 'rest' };
    }
    if (p.startsWith(':')) {
      const name = p.slice(1);
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`bad parameter name ${JSON.stringify(p)} in ${JSON.stringify(path)}`);
      return { kind: 'param', name };
    }
    if (p === '.' || p === '..' || p.includes('%')) throw new Error(`segment ${JSON.stringify(p)} of ${JSON.stringify(path)} is not a plain literal`);
    return { kind: 'literal', value: p };
  });
  return { method: method.toUpperCase(), path, segments };
}

/** The first template (in declared order) that matches, with its params; undefined when none does. */
export function matchTemplate<T extends OperationTemplate>(
  templates: readonly T[],
  method: string,
  segments: readonly string[],
): { op: T; params: Record<string, string> } | undefined {
  for (const op of templates) {
    if (op.method !== '*' && op.method !== method) continue;
    const params = matchSegments(op.segments, segments);
    if (params) return { op, params };
  }
  return undefined;
}

function matchSegments(tpl: readonly Segment[], segs: readonly string[]): Record<string, string> | undefined {
  const params: Record<string, string> = {};
  for (let i = 0; i < tpl.length; i++) {
    const t = tpl[i]!;
    if (t.kind === 'rest') return i < segs.length ? params : undefined;
    const s = segs[i];
    if (s === undefined) return undefined;
    if (t.kind === 'literal') {
      if (t.value !== s) return undefined;
    } else {
      params[t.name] = s;
    }
  }
  return tpl.length === segs.length ? params : undefined;
}
