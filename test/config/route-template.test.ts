import { describe, expect, it } from 'vitest';
import { compileTemplate, matchTemplate } from '../../src/config/route-template.js';

const ops = [
  compileTemplate('GET', '/contacts/export'),
  compileTemplate('GET', '/contacts/:id'),
  compileTemplate('POST', '/contacts/:id/notes'),
  compileTemplate('GET', '/files/*'),
  compileTemplate('*', '/ping'),
  compileTemplate('GET', '/'),
];

describe('operation templates', () => {
  it.each([
    ['GET', ['contacts', 'export'], '/contacts/export', {}],
    ['GET', ['contacts', '42'], '/contacts/:id', { id: '42' }],
    ['POST', ['contacts', '42', 'notes'], '/contacts/:id/notes', { id: '42' }],
    ['GET', ['files', 'a', 'b.txt'], '/files/*', {}],
    ['DELETE', ['ping'], '/ping', {}],
    ['GET', [], '/', {}],
  ])('%s %j matches %s', (method, segs, path, params) => {
    expect(matchTemplate(ops, method, segs)).toEqual({ op: expect.objectContaining({ path }), params });
  });

  it.each([
    ['DELETE', ['contacts', '42']],
    ['GET', ['contacts']],
    ['GET', ['contacts', '42', 'notes']],
    ['GET', ['files']],
    ['POST', []],
    ['GET', ['unknown']],
  ])('%s %j matches nothing (deny by default)', (method, segs) => {
    expect(matchTemplate(ops, method, segs)).toBeUndefined();
  });

  it.each([['/a/*/b'], ['/a//b'], ['/a/:1bad'], ['/a/../b'], ['/a/%2f']])('rejects the template %s', (path) => {
    expect(() => compileTemplate('GET', path)).toThrow();
  });
});
