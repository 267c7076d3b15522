import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import canonicalize from 'canonicalize';
import { describe, expect, it } from 'vitest';
import { GENESIS } from '../../src/audit/chain.js';
import { openTestTrail, writeEvents } from '../helpers/audit.js';

describe('the hash chain (SPEC: hash = SHA-256(prev + "\\n" + RFC 8785 JSON of the event without hash))', () => {
  it('links every record to the one before, from 64 zeros', async () => {
    const { trail, path } = await openTestTrail();
    await writeEvents(trail, 5);
    await trail.close();
    const records = readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(records[0]).toMatchObject({ v: 1, seq: 1, prev: GENESIS, type: 'tool_call' });
    let prev = GENESIS;
    for (const [i, r] of records.entries()) {
      expect(r.seq).toBe(i + 1);
      expect(r.prev).toBe(prev);
      const { hash, ...rest } = r;
      // Computed here independently of src/: the spec's formula with the canonicalize package.
      expect(hash).toBe(createHash('sha256').update(`${prev}\n${canonicalize(rest)}`).digest('hex'));
      prev = hash;
    }
    // close() ends with the shutdown-time checkpoint.
    expect(records.at(-1).type).toBe('checkpoint');
  });

  it('canonicalises key order and numbers per RFC 8785, so the hash does not depend on serialisation', () => {
    expect(canonicalize({ b: 1, a: [1e21, 0.000001, -0, 'é'] })).toBe('{"a":[1e+21,0.000001,0,"é"],"b":1}');
  });
});
