/**
 * What a policy reads of its input, found in its Rego syntax trees (`opa parse --format json`) when
 * `portcullis policy build` compiles the bundle, and shipped in the bundle's manifest metadata. The
 * gateway keys its decision cache (decision-cache.ts) on exactly these parts of the input, the way
 * Istio's check cache keyed on the attributes a policy referenced.
 *
 * Sound by construction: every read of input data goes through a term that is either a reference
 * headed by `input` or `input` itself, and a reference's leading constant keys name a subtree that
 * holds everything it can reach (`input.request[x]` reads all of `input.request`). `input` used as a
 * value (a function argument, `with input as`, `import input`) means the whole document. A policy
 * that calls a builtin whose answer is not a function of its arguments (time.now_ns, http.send…) is
 * marked impure, and its decisions are never cached.
 */

/** Builtins whose result depends on more than their arguments: the clock, randomness, the network. */
const IMPURE = new Set([
  'time.now_ns',
  'rand.intn',
  'uuid.rfc4122',
  'http.send',
  'net.lookup_ip_addr',
  'opa.runtime',
  // These read the clock when no time is passed in.
  'io.jwt.decode_verify',
  'crypto.x509.parse_and_verify_certificates',
  'crypto.x509.parse_and_verify_certificates_with_options',
  'providers.aws.sign_req',
]);

export interface InputReads {
  /** The input paths the policy reads, none a prefix of another; null when it reads the whole input. */
  readonly paths: string[][] | null;
  /** Impure builtins the policy calls (its decisions cannot be cached). */
  readonly impure: string[];
}

interface Term {
  type?: unknown;
  value?: unknown;
}

export function inputReads(modules: readonly unknown[]): InputReads {
  const paths: string[][] = [];
  const impure = new Set<string>();
  let whole = false;

  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const n of node) visit(n);
      return;
    }
    if (node === null || typeof node !== 'object') return;
    const t = node as Term;
    if (t.type === 'ref' && Array.isArray(t.value) && t.value.length > 0) {
      const [head, ...rest] = t.value as Term[];
      if (head?.type === 'var') {
        const keys: string[] = [];
        for (const r of rest) {
          if (r?.type !== 'string' || typeof r.value !== 'string') break;
          keys.push(r.value);
        }
        if (head.value === 'input') {
          if (keys.length === 0) whole = true;
          else paths.push(keys);
        } else if (typeof head.value === 'string') {
          const name = [head.value, ...keys].join('.');
          if (IMPURE.has(name)) impure.add(name);
        }
        // Index terms may be references themselves (input.a[input.b]).
        for (const r of rest) visit(r);
        return;
      }
    }
    if (t.type === 'var' && t.value === 'input') {
      whole = true;
      return;
    }
    for (const v of Object.values(node)) visit(v);
  };
  for (const m of modules) visit(m);

  return { paths: whole ? null : minimal(paths), impure: [...impure].sort() };
}

/** Deduplicated, without any path that a shorter one already covers, in a stable order. */
function minimal(paths: string[][]): string[][] {
  const out: string[][] = [];
  for (const p of [...paths].sort((a, b) => a.length - b.length)) {
    if (!out.some((q) => q.every((k, i) => p[i] === k))) out.push(p);
  }
  const key = (p: string[]) => JSON.stringify(p);
  return out.sort((a, b) => (key(a) < key(b) ? -1 : 1));
}
