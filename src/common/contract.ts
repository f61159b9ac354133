/**
 * The BOS v2 OpenAPI document the project ships (src/server/bos-v2-openapi.yaml), parsed once on first
 * use. It is the one statement of the wire contract: request validation and the options' ranges
 * both read it.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { load as loadYaml } from 'js-yaml';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type SchemaObject = { [k: string]: Json };

const OPENAPI_PATH = fileURLToPath(new URL('../server/bos-v2-openapi.yaml', import.meta.url));

let schemas: SchemaObject | undefined;

/** The document's component schemas by name (V2Component, V2Options, ...). */
export function contractSchemas(): SchemaObject {
  if (!schemas) {
    const doc = loadYaml(readFileSync(OPENAPI_PATH, 'utf8')) as SchemaObject;
    schemas = (doc.components as SchemaObject).schemas as SchemaObject;
  }
  return schemas;
}
