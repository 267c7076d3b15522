import { describe, expect, it } from 'vitest';
import { parseToolTarget } from '../../src/pipeline/request-path.js';

describe('request target decoding', () => {
  it.each([
    ['/tools/crm/contacts/42', 'crm', ['contacts', '42'], '/contacts/42'],
    ['/tools/crm', 'crm', [], ''],
    ['/tools/crm/', 'crm', [], ''],
    ['/tools/crm/files/q3%20plan.pdf', 'crm', ['files', 'q3 plan.pdf'], '/files/q3%20plan.pdf'],
    ['/tools/crm/a:b@c', 'crm', ['a:b@c'], '/a:b@c'],
    ['/tools/crm/%41%42', 'crm', ['AB'], '/AB'],
    ['/tools/crm/caf%C3%A9', 'crm', ['café'], '/caf%C3%A9'],
    ['/tools/crm/what%3F', 'crm', ['what?'], '/what%3F'],
    ['/tools/crm/semi%3Bcolon', 'crm', ['semi;colon'], null],
  ])('decodes %s', (url, tool, segments, encoded) => {
    if (encoded === null) {
      expect(() => parseToolTarget(url)).toThrowError(expect.objectContaining({ reason: 'path_parameters' }));
      return;
    }
    expect(parseToolTarget(url)).toEqual({ tool, segments, encodedPath: encoded, query: '' });
  });

  it('keeps the raw query apart', () => {
    expect(parseToolTarget('/tools/crm/contacts?limit=5&x=%2F')).toMatchObject({ segments: ['contacts'], query: 'limit=5&x=%2F' });
  });

  it('ignores targets outside /tools/', () => {
    expect(parseToolTarget('/admin/kill')).toBeUndefined();
    expect(parseToolTarget('http://evil/tools/crm')).toBeUndefined();
  });

  it.each([
    ['/tools/crm/../payments/x', 'path_traversal'],
    ['/tools/crm/contacts/..', 'path_traversal'],
    ['/tools/crm/./contacts', 'path_traversal'],
    ['/tools/crm/%2e%2e/payments', 'path_traversal'],
    ['/tools/crm/%2E%2E/payments', 'path_traversal'],
    ['/tools/crm/.%2e/payments', 'path_traversal'],
    ['/tools/crm/%2e/contacts', 'path_traversal'],
    ['/tools/../tools/crm/contacts', 'path_traversal'],
    ['/tools/crm/%252e%252e/payments', 'path_double_encoding'],
    ['/tools/crm/%25', 'path_double_encoding'],
    ['/tools/crm/contacts%2F..%2Fpayments', 'path_encoded_separator'],
    ['/tools/crm/contacts%2f42', 'path_encoded_separator'],
    ['/tools/crm/contacts%5C..%5Cpayments', 'path_encoded_separator'],
    ['/tools/crm/contacts\\42', 'path_encoded_separator'],
    ['/tools/crm//contacts', 'path_empty_segment'],
    ['/tools//crm/contacts', 'path_empty_segment'],
    ['/tools/crm/contacts//', 'path_empty_segment'],
    ['/tools/crm/contacts;x=y', 'path_parameters'],
    ['/tools/crm/contacts;/42', 'path_parameters'],
    ['/tools/crm/contacts%00', 'path_nul'],
    ['/tools/crm/contacts%0d%0aX-Injected:%201', 'path_malformed'],
    ['/tools/crm/contacts%zz', 'path_malformed'],
    ['/tools/crm/contacts%c3', 'path_malformed'],
    ['/tools/crm/contacts#frag', 'path_malformed'],
  ])('refuses %s (%s)', (url, reason) => {
    expect(() => parseToolTarget(url)).toThrowError(expect.objectContaining({ reason, code: 'invalid_request', status: 400 }));
  });
});
