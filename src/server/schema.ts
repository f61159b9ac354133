/**
 * Request validation against the vendored OpenAPI contract (bos-v2-openapi.yaml). The component
 * schemas are compiled once with ajv, in two variants:
 *
 * - request: `readOnly: true` properties are refused (`Property is read-only`), as upstream's
 *   request validator does;
 * - plain: the schemas as written (used to re-validate stored records, and by the tests to check
 *   responses).
 *
 * `nullable: true` becomes "also null" (on `type` and `enum`). Error texts follow the wording of the
 * Python jsonschema validator upstream uses: `<message>` plus ` - '<dotted.path>'` when the error is
 * not at the root.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { contractSchemas, type Json, type SchemaObject } from '../common/contract.js';

function isObject(v: unknown): v is SchemaObject {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Rewrite one schema node: refs into `root`, nullable, and (request variant) readOnly → false. */
function transform(node: Json, root: string, request: boolean): Json | boolean {
  if (Array.isArray(node)) return node.map((n) => transform(n, root, request) as Json);
  if (!isObject(node)) return node;
  if (request && node.readOnly === true) return false;
  const out: SchemaObject = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === '$ref' && typeof v === 'string') {
      out.$ref = v.replace('#/components/schemas/', `${root}#/definitions/`);
    } else if (k === 'properties' && isObject(v)) {
      const props: SchemaObject = {};
      for (const [pk, pv] of Object.entries(v)) props[pk] = transform(pv, root, request) as Json;
      out.properties = props;
    } else if (k === 'example' || k === 'description' || k === 'nullable' || k === 'readOnly' || k === 'writeOnly') {
      continue;
    } else {
      out[k] = transform(v, root, request) as Json;
    }
  }
  if (node.nullable === true) {
    if (typeof out.type === 'string') out.type = [out.type, 'null'];
    if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null];
  }
  return out;
}

export type SchemaVariant = 'request' | 'plain';

function buildAjv(): Ajv {
  const ajv = new Ajv({ strict: false, allErrors: false, verbose: true, validateFormats: true });
  const addFormats = (addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule;
  (addFormats as unknown as (a: Ajv) => void)(ajv);
  // Timestamps on the wire have no zone suffix; accept any ISO-ish date-time.
  ajv.addFormat('date-time', /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([zZ]|[+-]\d{2}:?\d{2})?$/);
  const schemas = contractSchemas();
  for (const variant of ['request', 'plain'] as const) {
    const root = variant === 'request' ? 'bos-request' : 'bos';
    const definitions: SchemaObject = {};
    for (const [name, s] of Object.entries(schemas)) {
      definitions[name] = transform(s, root, variant === 'request') as Json;
    }
    ajv.addSchema({ $id: root, definitions });
  }
  return ajv;
}

let ajvInstance: Ajv | undefined;
const compiled = new Map<string, ValidateFunction>();

/** The compiled validator of a named component schema. */
export function validator(name: string, variant: SchemaVariant = 'request'): ValidateFunction {
  const key = `${variant}:${name}`;
  let fn = compiled.get(key);
  if (!fn) {
    ajvInstance ??= buildAjv();
    const root = variant === 'request' ? 'bos-request' : 'bos';
    fn = ajvInstance.getSchema(`${root}#/definitions/${name}`);
    if (!fn) throw new Error(`no schema named ${name} in the OpenAPI document`);
    compiled.set(key, fn);
  }
  return fn;
}

// ---------------------------------------------------------------- error texts

/** Python's repr() of a JSON value, as upstream's validator messages show instances. */
export function pyRepr(v: unknown, budget = 2000): string {
  const s = reprInner(v);
  return s.length > budget ? s.slice(0, budget) + '...' : s;
}

function reprString(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '\\') out += '\\\\';
    else if (ch === quote) out += '\\' + quote;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (c < 0x20 || c === 0x7f) out += '\\x' + c.toString(16).padStart(2, '0');
    else out += ch;
  }
  return out + quote;
}

function reprInner(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(v);
  if (typeof v === 'string') return reprString(v);
  if (Array.isArray(v)) return '[' + v.map(reprInner).join(', ') + ']';
  if (typeof v === 'object') {
    return '{' + Object.entries(v as Record<string, unknown>).map(([k, x]) => `${reprString(k)}: ${reprInner(x)}`).join(', ') + '}';
  }
  return String(v);
}

function typeName(t: unknown): string {
  return Array.isArray(t) ? String(t[0]) : String(t);
}

/** One ajv error → the Python jsonschema wording. */
function errorMessage(e: ErrorObject): string {
  const data = e.data;
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'false schema':
      return 'Property is read-only';
    case 'type':
      return `${pyRepr(data)} is not of type '${typeName(p.type)}'`;
    case 'enum':
      return `${pyRepr(data)} is not one of ${pyRepr((p.allowedValues as unknown[]).filter((x) => x !== null))}`;
    case 'const':
      return `${pyRepr(p.allowedValue)} was expected`;
    case 'required':
      return `'${String(p.missingProperty)}' is a required property`;
    case 'additionalProperties': {
      const props = isObject(e.parentSchema) && isObject(e.parentSchema.properties) ? Object.keys(e.parentSchema.properties) : [];
      const extra = isObject(data) ? Object.keys(data).filter((k) => !props.includes(k)) : [String(p.additionalProperty)];
      const list = (extra.length ? extra : [String(p.additionalProperty)]).map((k) => reprString(k)).join(', ');
      return `Additional properties are not allowed (${list} ${extra.length > 1 ? 'were' : 'was'} unexpected)`;
    }
    case 'minLength':
    case 'minItems':
      return `${pyRepr(data)} is too short`;
    case 'maxLength':
    case 'maxItems':
      return `${pyRepr(data)} is too long`;
    case 'pattern':
      return `${pyRepr(data)} does not match ${reprString(String(p.pattern))}`;
    case 'minimum':
      return `${pyRepr(data)} is less than the minimum of ${String(p.limit)}`;
    case 'maximum':
      return `${pyRepr(data)} is greater than the maximum of ${String(p.limit)}`;
    case 'minProperties':
      return `${pyRepr(data)} does not have enough properties`;
    case 'maxProperties':
      return `${pyRepr(data)} has too many properties`;
    case 'oneOf':
      return p.passingSchemas
        ? `${pyRepr(data)} is valid under each of the given schemas`
        : `${pyRepr(data)} is not valid under any of the given schemas`;
    case 'anyOf':
      return `${pyRepr(data)} is not valid under any of the given schemas`;
    case 'format':
      return `${pyRepr(data)} is not a '${String(p.format)}'`;
    default:
      return e.message ?? `failed validation '${e.keyword}'`;
  }
}

/** The dotted path upstream appends (`0.status.status`), or '' at the root. */
function dottedPath(instancePath: string): string {
  if (!instancePath) return '';
  return instancePath
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .join('.');
}

/**
 * The error detail for a failed validation: the first error in upstream's wording, with
 * ` - '<path>'` when not at the root. Errors inside a oneOf branch are reported as the oneOf failure.
 */
function describeErrors(errors: ErrorObject[] | null | undefined): string {
  if (!errors || errors.length === 0) return 'Invalid data';
  // ajv reports the branch errors of a oneOf before the oneOf itself; upstream reports the oneOf.
  const oneOf = errors.find((e) => e.keyword === 'oneOf' || e.keyword === 'anyOf');
  const e = oneOf ?? errors[0]!;
  const path = dottedPath(e.instancePath);
  return path ? `${errorMessage(e)} - '${path}'` : errorMessage(e);
}

/** Validate `data` against a named schema; returns undefined when valid, else the error detail. */
export function check(name: string, data: unknown, variant: SchemaVariant = 'request'): string | undefined {
  const fn = validator(name, variant);
  return fn(data) ? undefined : describeErrors(fn.errors);
}
