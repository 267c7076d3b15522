/**
 * gateway.yaml's JSON Schema (draft 2020-12), derived from the TypeBox schema the loader validates
 * with, so that editors complete and check the file (`# yaml-language-server: $schema=…`).
 * schema/gateway.schema.json is this, committed; a test keeps the two equal.
 */
import { ConfigSchema } from './schema.js';

export function configJsonSchema(): Record<string, unknown> {
  // TypeBox schemas are JSON Schema; JSON drops the symbols it keeps its kinds under.
  const schema = JSON.parse(JSON.stringify(ConfigSchema)) as Record<string, unknown>;
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: 'https://github.com/portcullis/portcullis/schema/gateway.schema.json',
    title: 'Portcullis gateway.yaml',
    description: 'The Portcullis gateway configuration (docs/configuration.md).',
    ...schema,
  };
}
