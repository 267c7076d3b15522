/**
 * The digest of the policy sources that go into the bundle (Rego modules other than tests, and
 * data files). `portcullis policy build` records it as the bundle's manifest revision, and a test
 * compares it with the committed bundle to catch a stale build.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

const SOURCE = /\.(rego|json|ya?ml)$/;

export function policySourceFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) {
        if (name !== 'build' && !name.startsWith('.')) walk(p);
      } else if (SOURCE.test(name) && !name.endsWith('_test.rego')) {
        out.push(p);
      }
    }
  };
  walk(dir);
  return out;
}

/** `sha256:<hex>` over each source's relative path and bytes, in path order. */
export function policySourceDigest(dir: string): string {
  const h = createHash('sha256');
  for (const file of policySourceFiles(dir)) {
    h.update(relative(dir, file).split(sep).join('/')).update('\0').update(readFileSync(file)).update('\0');
  }
  return `sha256:${h.digest('hex')}`;
}
