/**
 * gateway.yaml's JSON Schema (draft 2020-12), derived from the TypeBox schema the loader validates
 * with, so that editors complete and check the file (`# yaml-language-server: $schema=…`).
 * schema/gateway.schema.json is this, committed; a test keeps the two equal.
 */
import { ConfigSchema } from './schema.js';

export function configJsonSchema(): Record<string, unknown> {
  // TypeBox schemas are JSON Schema; JSON drops the symbols it keeps its kinds under.
  const schema = optionalDefaults(JSON.parse(JSON.stringify(ConfigSchema))) as Record<string, unknown>;
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: 'https://github.com/portcullis/portcullis/schema/gateway.schema.json',
    title: 'Portcullis gateway.yaml',
    description: 'The Portcullis gateway configuration (docs/configuration.md).',
    ...schema,
  };
}

/**
 * The loader fills defaults before it validates, so TypeBox lists defaulted keys as required; a
 * person writing the file may leave them out. The schema for editors does not require them.
 */
function optionalDefaults(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(optionalDefaults);
  if (typeof node !== 'object' || node === null) return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) out[k] = optionalDefaults(v);
  const props = out.properties as Record<string, { default?: unknown }> | undefined;
  if (Array.isArray(out.required) && props) {
    const required = (out.required as string[]).filter((k) => props[k]?.default === undefined);
    if (required.length > 0) out.required = required;
    else delete out.required;
  }
  return out;
}
