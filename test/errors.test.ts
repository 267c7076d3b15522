import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, REASONS } from '../src/errors.js';
import { TOKEN_REASONS } from '../src/identity/oauth-errors.js';
import { AUTHORIZE_REASONS } from '../src/identity/authorize-request.js';
import { SCIM_REASONS } from '../src/directory/scim/errors.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const errorsDoc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
/** The text of one `## ` section of docs/errors.md (up to the next one). */
const section = (title: string) => errorsDoc.split(`\n## ${title}`)[1]!.split('\n## ')[0]!;
const reasonRows = (text: string) => [...text.matchAll(/^\| `([a-z_0-9]+)` \| `([a-z_]+)` \|/gm)].map((m) => [m[1], m[2]]);

describe('the documented error tables match the registry', () => {
  it("README's error-code table lists every code with its status, and nothing else", () => {
    const rows = [...readme.matchAll(/^\| `([a-z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1], Number(m[2])]);
    const registry = Object.entries(ERROR_CODES).map(([code, { status }]) => [code, status]);
    expect(rows.sort()).toEqual(registry.sort());
  });

  it('docs/errors.md lists every reason code with its error code, and nothing else', () => {
    expect(reasonRows(errorsDoc.split('\n## The token endpoint')[0]!).sort()).toEqual(Object.entries(REASONS).sort());
  });

  it("docs/errors.md's token endpoint table lists every token reason with its OAuth error, and nothing else", () => {
    expect(reasonRows(section('The token endpoint')).sort()).toEqual(Object.entries(TOKEN_REASONS).sort());
  });

  it("docs/errors.md's authorization endpoint table lists every refusal with its OAuth error, and nothing else", () => {
    expect(reasonRows(section('The authorization endpoint')).sort()).toEqual(Object.entries(AUTHORIZE_REASONS).sort());
  });

  it("docs/errors.md's SCIM table lists every SCIM reason with its status and scimType, and nothing else", () => {
    const rows = [...errorsDoc.split('## SCIM')[1]!.matchAll(/^\| `([a-z_]+)` \| (\d{3}) \| (?:`([A-Za-z]+)`|—) \|/gm)].map((m) => [m[1], Number(m[2]), m[3] ?? null]);
    const registry = Object.entries(SCIM_REASONS).map(([reason, r]) => [reason, r.status, (r as { scimType?: string }).scimType ?? null]);
    expect(rows.sort()).toEqual(registry.sort());
  });
});
