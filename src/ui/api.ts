/**
 * The web view's client of the BOS v2 API: GETs only, with the caller's own credentials (a bearer
 * token and the Cray-Tenant-Name header, so tenants and roles apply as for any client), and every
 * failure turned into a problem that says what to do. Free of DOM APIs beyond fetch: the tests run
 * it in Node against a real API.
 */
import { TENANT_HEADER } from '../common/constants.js';

export interface Credentials {
  /** A bearer token, '' for none. */
  token: string;
  /** A tenant name, '' for none. */
  tenant: string;
}

/** What went wrong, by what the user can do about it. */
export type ProblemKind = 'unreachable' | 'unauthorized' | 'forbidden' | 'tenant' | 'not_found' | 'unavailable' | 'other';

export class ApiProblem extends Error {
  constructor(
    readonly kind: ProblemKind,
    readonly status: number,
    readonly detail: string,
    readonly path: string,
  ) {
    super(`${path}: ${status ? `HTTP ${status}: ` : ''}${detail}`);
    this.name = 'ApiProblem';
  }
}

export type GetResult<T> = { status: 200; body: T; etag?: string } | { status: 304 };

/** How long one request may take before the API counts as not answering. */
const REQUEST_TIMEOUT_MS = 20_000;

function kindOf(status: number, detail: string): ProblemKind {
  if (status === 401) return 'unauthorized';
  if (status === 403) return 'forbidden';
  if (status === 404) return 'not_found';
  if (status === 400 && /tenant/i.test(detail)) return 'tenant';
  if (status === 502 || status === 503 || status === 504) return 'unavailable';
  return 'other';
}

/** The detail of a problem+json answer, else the start of the body, else the status text. */
async function detailOf(res: Response): Promise<string> {
  const text = await res.text().catch(() => '');
  try {
    const p = JSON.parse(text) as { title?: string; detail?: string };
    if (p && typeof p === 'object' && (p.detail || p.title)) return [p.title, p.detail].filter(Boolean).join(': ');
  } catch {
    // not JSON: a proxy's page
  }
  return text.trim().slice(0, 200) || res.statusText || 'no detail';
}

export class UiApi {
  /**
   * @param base the API's `/v2` URL, e.g. `http://127.0.0.1:8080/v2`
   * @param credentials read before every request (the user may change them at any time)
   */
  constructor(
    readonly base: string,
    private readonly credentials: () => Credentials,
    private readonly fetchFn: typeof fetch = (input, init) => fetch(input, init),
  ) {}

  /** GET `path` (below `/v2`); `etag` asks for 304 while unchanged. Throws ApiProblem. */
  async get<T>(path: string, opts: { etag?: string; accept?: string } = {}): Promise<GetResult<T>> {
    const { token, tenant } = this.credentials();
    const headers: Record<string, string> = { accept: opts.accept ?? 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    if (tenant) headers[TENANT_HEADER] = tenant;
    if (opts.etag) headers['if-none-match'] = opts.etag;
    let res: Response;
    try {
      // no-store: the entity tags are kept here, per page, not in the browser's cache (Node's types lack `cache`).
      const init = { headers, cache: 'no-store', signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) } as RequestInit;
      res = await this.fetchFn(`${this.base}${path}`, init);
    } catch (err) {
      const timedOut = err instanceof Error && err.name === 'TimeoutError';
      throw new ApiProblem('unreachable', 0, timedOut ? `no answer within ${REQUEST_TIMEOUT_MS / 1000} s` : err instanceof Error ? err.message : String(err), path);
    }
    if (res.status === 304) return { status: 304 };
    if (!res.ok) {
      const detail = await detailOf(res);
      throw new ApiProblem(kindOf(res.status, detail), res.status, detail, path);
    }
    let body: T;
    try {
      body = (await res.json()) as T;
    } catch {
      throw new ApiProblem('other', res.status, 'the answer is not JSON: is this URL a BOS v2 API?', path);
    }
    return { status: 200, body, etag: res.headers.get('etag') ?? undefined };
  }
}

/** What the page says about a problem: what happened and what to do. */
export function problemText(p: ApiProblem, base: string): string {
  switch (p.kind) {
    case 'unreachable':
      return `The BOS API at ${base} does not answer (${p.detail}). Is it running (npm start, bos up or bos serve)? The view keeps trying.`;
    case 'unauthorized':
      return `The API wants a valid bearer token (401: ${p.detail}). Paste one in Token above: bos up --auth prints one (export BOS_TOKEN=...); elsewhere your identity provider issues them.`;
    case 'forbidden':
      return `The token may not read this (403: ${p.detail}). Use a token with the admin or monitor role, or one naming the tenant in Tenant above.`;
    case 'tenant':
      return `The tenant was refused (400: ${p.detail}). Clear Tenant above, or name a tenant that exists.`;
    case 'not_found':
      return `${p.path} was not found (404: ${p.detail}).`;
    case 'unavailable':
      return `The API cannot answer now (${p.status}: ${p.detail}). The view keeps trying.`;
    default:
      return `The API answered ${p.status ? `HTTP ${p.status}` : 'with an error'} to ${p.path}: ${p.detail}`;
  }
}
