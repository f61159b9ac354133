/**
 * Test helpers for the API contract tests: an HTTP client over real loopback that checks every
 * response against the OpenAPI document (the response schema of that path, method and status), and
 * fakes of the tenant service, S3 and IMS.
 *
 * The OpenAPI file is read here independently of the server's own schema module, so a mistake in the
 * server's schema handling is not repeated by the check.
 *
 * Where docs/api.md and the OpenAPI document disagree, the check follows docs/api.md:
 * - problem answers are checked against ProblemDetails only (docs/api.md gives titles such as
 *   `Invalid tenant` and `Actual state can not be updated.` that the OpenAPI title enums lack), plus
 *   type `about:blank` and status equal to the HTTP code;
 * - POST /v2/sessions/{id}/status answers the extended status (OpenAPI says V2Session);
 * - PUT/PATCH component answers echo the stored `actual_state.boot_artifacts.timestamp`
 *   (docs/data-model.md, "Component"), which V2BootArtifacts does not list: it is ignored in those answers.
 */
import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { load as loadYaml } from 'js-yaml';
import { ServiceError, type ImsClient, type ImsImage, type S3Client, type S3Object, type TenantClient } from '../../src/clients/types.js';

type Obj = Record<string, any>;

const doc = loadYaml(readFileSync(new URL('../../src/server/bos-v2-openapi.yaml', import.meta.url), 'utf8')) as Obj;

const ajv = new Ajv({ strict: false, allErrors: true });
((addFormatsModule as unknown as { default?: (a: Ajv) => void }).default ?? (addFormatsModule as unknown as (a: Ajv) => void))(ajv);
// Timestamps on the wire carry no zone suffix.
ajv.addFormat('date-time', /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}/);
ajv.addSchema({ $id: 'openapi', components: doc.components });

/** A schema with its `$ref`s pointed at the OpenAPI components registered as `openapi`. */
export function rewriteRefs(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(rewriteRefs);
  if (node && typeof node === 'object') {
    const out: Obj = {};
    for (const [k, v] of Object.entries(node)) out[k] = k === '$ref' && typeof v === 'string' ? `openapi${v}` : rewriteRefs(v);
    return out;
  }
  return node;
}

const compiled = new Map<string, ValidateFunction>();
function compile(key: string, schema: unknown): ValidateFunction {
  let fn = compiled.get(key);
  if (!fn) {
    fn = ajv.compile(rewriteRefs(schema) as object);
    compiled.set(key, fn);
  }
  return fn;
}

const pathTemplates = Object.keys(doc.paths as Obj).map((t) => ({
  template: t,
  regex: new RegExp('^' + t.replace(/\{[^}]+\}/g, '[^/]+') + '$'),
}));

/** The OpenAPI path template a concrete path (without query) belongs to, or undefined. */
function pathTemplate(path: string): string | undefined {
  const p = path.split('?')[0]!.replace(/^\/apis\/bos(?=\/|$)/, '') || '/';
  return pathTemplates.find((t) => t.regex.test(p))?.template;
}

function resolveResponse(r: Obj): Obj {
  if (typeof r.$ref === 'string') return (doc.components.responses as Obj)[r.$ref.split('/').pop()!] as Obj;
  return r;
}

const PROBLEM_SCHEMA = { $ref: '#/components/schemas/ProblemDetails' };
const EXTENDED_STATUS_SCHEMA = { $ref: '#/components/schemas/V2SessionExtendedStatus' };

/**
 * Check a response against the contract; throws an Error describing the mismatch. 2xx answers must
 * be documented for the path and method and match its schema; error answers must be problem+json.
 */
export function checkResponse(method: string, path: string, status: number, contentType: string | null, body: unknown): void {
  const where = `${method} ${path} → ${status}`;
  if (status >= 400) {
    if (!contentType?.startsWith('application/problem+json')) throw new Error(`${where}: content type ${contentType}, expected application/problem+json`);
    const fn = compile('problem', PROBLEM_SCHEMA);
    if (!fn(body)) throw new Error(`${where}: not a problem document: ${ajv.errorsText(fn.errors)}`);
    const b = body as Obj;
    if (b.type !== 'about:blank' || b.status !== status || typeof b.title !== 'string' || typeof b.detail !== 'string') {
      throw new Error(`${where}: problem fields wrong: ${JSON.stringify(body)}`);
    }
    if (/\bat .+\.(ts|js):\d+/.test(b.detail)) throw new Error(`${where}: detail leaks a stack trace`);
    return;
  }
  const template = pathTemplate(path);
  if (!template) throw new Error(`${where}: path not in the OpenAPI document`);
  const op = (doc.paths as Obj)[template][method.toLowerCase()] as Obj | undefined;
  if (!op) throw new Error(`${where}: method not in the OpenAPI document for ${template}`);
  const documented = op.responses[String(status)] as Obj | undefined;
  if (!documented) throw new Error(`${where}: status not documented for ${method} ${template}`);
  const resp = resolveResponse(documented);
  if (!resp.content) {
    if (body !== undefined && body !== '') throw new Error(`${where}: expected no body, got ${JSON.stringify(body).slice(0, 200)}`);
    return;
  }
  if (!contentType?.startsWith('application/json')) throw new Error(`${where}: content type ${contentType}, expected application/json`);
  const schema = method === 'POST' && template === '/v2/sessions/{session_id}/status' ? EXTENDED_STATUS_SCHEMA : resp.content['application/json'].schema;
  const fn = compile(`${method} ${template} ${status}`, schema);
  if ((method === 'PUT' || method === 'PATCH') && template.startsWith('/v2/components')) body = withoutArtifactTimestamps(body);
  if (!fn(body)) throw new Error(`${where}: body does not match the OpenAPI schema: ${ajv.errorsText(fn.errors)}\n${JSON.stringify(body).slice(0, 500)}`);
}

function withoutArtifactTimestamps(body: unknown): unknown {
  const strip = (c: Obj) => {
    if (c?.actual_state?.boot_artifacts && 'timestamp' in c.actual_state.boot_artifacts) {
      const copy = structuredClone(c);
      delete copy.actual_state.boot_artifacts.timestamp;
      return copy;
    }
    return c;
  };
  return Array.isArray(body) ? body.map(strip) : strip(body as Obj);
}

export interface ApiResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

export interface RequestOptions {
  /** JSON-encoded unless `raw` is given. */
  body?: unknown;
  raw?: string | Buffer;
  contentType?: string;
  tenant?: string;
  headers?: Record<string, string>;
}

/** An HTTP client for one server that validates every answer against the contract. */
export class Api {
  constructor(readonly url: string) {}

  async request<T = any>(method: string, path: string, opts: RequestOptions = {}): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    let payload: string | Buffer | undefined;
    if (opts.raw !== undefined) payload = opts.raw;
    else if (opts.body !== undefined) payload = JSON.stringify(opts.body);
    if (payload !== undefined) headers['content-type'] = opts.contentType ?? 'application/json';
    if (opts.tenant !== undefined) headers['Cray-Tenant-Name'] = opts.tenant;
    const res = await fetch(this.url + path, { method, headers, body: payload });
    const text = await res.text();
    const ct = res.headers.get('content-type');
    let body: unknown = text;
    if (ct && /json/.test(ct)) body = JSON.parse(text);
    else if (text === '') body = undefined;
    checkResponse(method, path, res.status, ct, body);
    return { status: res.status, headers: res.headers, body: body as T, text };
  }

  get<T = any>(path: string, opts?: RequestOptions) {
    return this.request<T>('GET', path, opts);
  }
  put<T = any>(path: string, body: unknown, opts?: RequestOptions) {
    return this.request<T>('PUT', path, { ...opts, body });
  }
  patch<T = any>(path: string, body: unknown, opts?: RequestOptions) {
    return this.request<T>('PATCH', path, { ...opts, body });
  }
  post<T = any>(path: string, body?: unknown, opts?: RequestOptions) {
    return this.request<T>('POST', path, { ...opts, body });
  }
  delete<T = any>(path: string, opts?: RequestOptions) {
    return this.request<T>('DELETE', path, opts);
  }
}

// ---------------------------------------------------------------- fakes of downstream services

/** Tenants with fixed xname sets; unknown tenants → null (the tenant service's 404). */
export class FakeTenants implements TenantClient {
  constructor(readonly tenants: Record<string, string[]>) {}
  async tenantXnames(tenant: string): Promise<Set<string> | null> {
    if (!tenant) return new Set();
    const t = this.tenants[tenant];
    return t ? new Set(t) : null;
  }
}

/** An in-memory S3: objects by `s3://bucket/key` URL. */
export class FakeS3 implements S3Client {
  readonly objects = new Map<string, Buffer>();
  put(url: string, body: string | object): void {
    this.objects.set(url, Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)));
  }
  async getObject(url: string): Promise<S3Object> {
    const body = this.objects.get(url);
    if (!body) throw new ServiceError('s3', 'GET', url, 404, `NoSuchKey: ${url}`);
    return { body, contentLength: body.length };
  }
  async headObject(url: string): Promise<{ etag?: string; contentLength?: number }> {
    const body = this.objects.get(url);
    if (!body) throw new ServiceError('s3', 'HEAD', url, 404, `Not Found: ${url}`);
    return { contentLength: body.length, etag: 'e' };
  }
}

/** An in-memory IMS; `down` makes every call fail as if IMS were unreachable. */
export class FakeIms implements ImsClient {
  readonly images = new Map<string, ImsImage>();
  down = false;
  async getImage(id: string): Promise<ImsImage> {
    if (this.down) throw new ServiceError('ims', 'GET', `/images/${id}`, undefined, 'connect ECONNREFUSED 127.0.0.1:1');
    const img = this.images.get(id);
    if (!img) throw new ServiceError('ims', 'GET', `/images/${id}`, 404, `IMS image id '${id}' does not exist in IMS`);
    return img;
  }
  async listImages(): Promise<ImsImage[]> {
    return [...this.images.values()];
  }
  async tagImage(): Promise<void> {}
}

/** Put a boot image (manifest, kernel, initrd) into the fake S3 and its record into the fake IMS. */
export function addBootImage(s3: FakeS3, ims: FakeIms | undefined, id: string, opts: { arch?: string; initrd?: boolean; kernel?: boolean } = {}): string {
  const base = `s3://boot-images/${id}`;
  const artifacts: Obj[] = [];
  if (opts.kernel !== false) {
    artifacts.push({ type: 'application/vnd.cray.image.kernel', link: { path: `${base}/kernel`, etag: 'k', type: 's3' } });
    s3.put(`${base}/kernel`, 'kernel');
  }
  if (opts.initrd !== false) {
    artifacts.push({ type: 'application/vnd.cray.image.initrd', link: { path: `${base}/initrd`, etag: 'i', type: 's3' } });
    s3.put(`${base}/initrd`, 'initrd');
  }
  s3.put(`${base}/manifest.json`, { version: '1.0', artifacts });
  ims?.images.set(id, { id, arch: opts.arch ?? 'x86_64' });
  return `${base}/manifest.json`;
}
