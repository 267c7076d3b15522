import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { GatewayError } from '../../src/errors.js';
import { checkHeaders, decodeSentinel, parseMessage } from '../../src/mcp/message.js';
import { definitionDigest, legacyDigest, pinVerdict, type ToolPin } from '../../src/mcp/pins.js';
import { createParser } from 'eventsource-parser';
import { sseRewriter } from '../../src/mcp/sse.js';

const reason = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    return (err as GatewayError).reason;
  }
  return 'none';
};
const msg = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v));

describe('parseMessage', () => {
  it.each([
    ['an empty body', '', 'mcp_invalid_message'],
    ['broken JSON', '{"jsonrpc":', 'mcp_parse_error'],
    ['a batch of one', '[{"jsonrpc":"2.0","id":1,"method":"ping"}]', 'mcp_batch'],
    ['an empty batch', '[]', 'mcp_batch'],
    ['a string', '"ping"', 'mcp_invalid_message'],
    ['no jsonrpc version', '{"id":1,"method":"ping"}', 'mcp_invalid_message'],
    ['params as an array', '{"jsonrpc":"2.0","id":1,"method":"ping","params":[]}', 'mcp_invalid_message'],
    ['a null request id', '{"jsonrpc":"2.0","id":null,"method":"ping"}', 'mcp_invalid_message'],
    ['a fractional request id', '{"jsonrpc":"2.0","id":1.5,"method":"ping"}', 'mcp_invalid_message'],
    ['a method that is not a string', '{"jsonrpc":"2.0","id":1,"method":7}', 'mcp_invalid_message'],
    ['a response with both result and error', '{"jsonrpc":"2.0","id":1,"result":{},"error":{}}', 'mcp_invalid_message'],
  ])('refuses %s', (_what, body, expected) => {
    expect(reason(() => parseMessage(msg(body)))).toBe(expected);
  });

  it('classifies requests, notifications and responses', () => {
    expect(parseMessage(msg({ jsonrpc: '2.0', id: 'a', method: 'tools/list' }))).toMatchObject({ kind: 'request', id: 'a', method: 'tools/list' });
    expect(parseMessage(msg({ jsonrpc: '2.0', method: 'notifications/initialized' }))).toMatchObject({ kind: 'notification' });
    expect(parseMessage(msg({ jsonrpc: '2.0', id: 3, result: { action: 'accept' } }))).toMatchObject({ kind: 'response', id: 3 });
  });

  it('keeps the last of duplicate keys, and re-serialises to that one value', () => {
    const m = parseMessage(msg('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","name":"b"}}'));
    expect(JSON.stringify(m.message)).toBe('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"b"}}');
  });
});

describe('checkHeaders (SEP-2243)', () => {
  const call = parseMessage(msg({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'söke', _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28' } } }));
  it('accepts absent headers and matching ones, plain or Base64', () => {
    expect(reason(() => checkHeaders(call, {}))).toBe('none');
    expect(reason(() => checkHeaders(call, { protocolVersion: '2026-07-28', method: 'tools/call', name: `=?base64?${Buffer.from('söke').toString('base64')}?=` }))).toBe('none');
  });
  it.each([
    [{ method: 'tools/list' }],
    [{ name: 'other' }],
    [{ name: '=?base64?!!!?=' }],
    [{ protocolVersion: '2025-11-25' }],
  ])('refuses %o', (h) => {
    expect(reason(() => checkHeaders(call, h))).toBe('mcp_header_mismatch');
  });
  it('checks Mcp-Name against params.uri for resources/read', () => {
    const read = parseMessage(msg({ jsonrpc: '2.0', id: 1, method: 'resources/read', params: { uri: 'tracker://1' } }));
    expect(reason(() => checkHeaders(read, { name: 'tracker://1' }))).toBe('none');
    expect(reason(() => checkHeaders(read, { name: 'tracker://2' }))).toBe('mcp_header_mismatch');
  });
  it('decodes only canonical Base64 sentinels', () => {
    expect(decodeSentinel('plain')).toBe('plain');
    expect(decodeSentinel('=?base64?aGk=?=')).toBe('hi');
    expect(decodeSentinel('=?base64?aGk?=')).toBeUndefined();
  });
});

describe('tool pins', () => {
  const pin = (p: Partial<ToolPin>): ToolPin => ({ tool: 't', name: 'n', digest: 'sha256:a', status: 'approved', first_seen: '', approved_by: '', approved_at: '', ...p });
  it('digests the whole definition, _meta, icons and execution included, whatever the key order', () => {
    const def = { name: 'x', description: 'd', inputSchema: { type: 'object' }, _meta: { v: 1 }, icons: [{ src: 'https://a/i.png' }], execution: { taskSupport: 'optional' } };
    const a = definitionDigest(def);
    expect(definitionDigest({ execution: { taskSupport: 'optional' }, icons: [{ src: 'https://a/i.png' }], _meta: { v: 1 }, inputSchema: { type: 'object' }, description: 'd', name: 'x' })).toBe(a);
    for (const change of [{ description: 'd!' }, { _meta: { v: 2 } }, { icons: [{ src: 'https://evil/i.png' }] }, { execution: { taskSupport: 'required' } }, { outputSchema: { type: 'object' } }]) {
      expect(definitionDigest({ ...def, ...change })).not.toBe(a);
    }
    // The earlier digest (reviewed parts only) is still recognised, to upgrade pins taken that way.
    expect(legacyDigest(def)).toBe(legacyDigest({ ...def, _meta: { v: 2 } }));
  });
  it('decides listings and calls', () => {
    expect(pinVerdict(undefined, undefined, 'sha256:a')).toBe('new');
    expect(pinVerdict(undefined, pin({}), 'sha256:a')).toBe('ok');
    expect(pinVerdict(undefined, pin({}), 'sha256:b')).toBe('changed');
    expect(pinVerdict('sha256:c', undefined, 'sha256:a')).toBe('changed');
    expect(pinVerdict(undefined, pin({ status: 'changed', observed: 'sha256:b' }), undefined)).toBe('changed');
    expect(pinVerdict(undefined, pin({}), undefined)).toBe('ok');
  });
});

describe('sseRewriter', () => {
  const run = async (input: (string | Buffer)[], rewrite: (d: string) => string | undefined, max = 1024) => {
    const out: Buffer[] = [];
    const s = Readable.from(input.map((c) => (Buffer.isBuffer(c) ? c : Buffer.from(c)))).pipe(sseRewriter((e) => rewrite(e.data), max));
    for await (const c of s) out.push(Buffer.from(c));
    return Buffer.concat(out).toString('utf8');
  };
  /** What a conforming client receives: the events, parsed by the same maintained parser. */
  const events = (text: string) => {
    const got: unknown[] = [];
    const p = createParser({ onEvent: (e) => got.push(e), onRetry: (r) => got.push({ retry: r }) });
    p.feed(text);
    return got;
  };

  it('passes events through unchanged for a client, across chunk boundaries and line endings', async () => {
    const text = 'event: message\r\nid: 1\r\ndata: {"a":1}\r\n\r\n: keep-alive\n\nid: 2\nretry: 3000\ndata: \n\ndata: x\ndata: y\n\n';
    const out = await run([text.slice(0, 7), text.slice(7, 30), text.slice(30)], () => undefined);
    expect(events(out)).toEqual(events(text));
    expect(events(out)).toHaveLength(4);
    expect(out).toContain(': keep-alive\n');
  });

  it('keeps a multi-byte character whole when a read splits it, at every byte position', async () => {
    const text = 'id: 7\ndata: {"title":"café ☕ 日本 😀"}\n\n';
    const bytes = Buffer.from(text);
    for (let cut = 1; cut < bytes.length; cut++) {
      const out = await run([bytes.subarray(0, cut), bytes.subarray(cut)], () => undefined);
      expect(events(out)).toEqual([{ id: '7', event: undefined, data: '{"title":"café ☕ 日本 😀"}' }]);
    }
  });

  it('rewrites one event, keeping its other fields', async () => {
    expect(events(await run(['id: 9\nevent: message\ndata: {"tools":[1,2]}\n\n'], () => '{"tools":[1]}'))).toEqual([{ id: '9', event: 'message', data: '{"tools":[1]}' }]);
  });

  it('delivers a last event whose blank line never came', async () => {
    expect(events(await run(['data: last'], () => undefined))).toEqual([{ id: undefined, event: undefined, data: 'last' }]);
  });

  it('fails (cutting the stream) on an event over the bound', async () => {
    await expect(run(['data: ' + 'x'.repeat(2000)], () => undefined, 1000)).rejects.toThrow(/exceeds/);
  });
});
