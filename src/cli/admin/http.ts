/**
 * The administrator commands' HTTP helper: one BOS v2 API base, an optional tenant and bearer token,
 * JSON in and out, and errors turned into one line an administrator can act on.
 *
 *   const api = new BosApi({ url: 'http://127.0.0.1:8080/apis/bos', tenant: 'acme' });
 *   const sessions = await api.get<Session[]>('/sessions', { status: 'running' });
 */
import { readFileSync } from 'node:fs';
import { TENANT_HEADER } from '../../common/constants.js';
import { messageOf } from '../../common/errors.js';

export const DEFAULT_URL = 'http://127.0.0.1:8080/apis/bos';

/** An error the command reports as one line (`bos: <message>`) and exits with `exitCode`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** The HTTP status of an API's refusal; undefined for any other failure. */
export function apiStatusOf(err: unknown): number | undefined {
  return err instanceof ApiError ? err.status : undefined;
}

/** A problem answer (docs/api.md, "Errors") or any other non-2xx answer of the API. */
class ApiError extends CliError {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string,
    readonly method: string,
    readonly path: string,
  ) {
    super(`${title}${detail ? `: ${detail}` : ''} (HTTP ${status} from ${method} ${path})`);
    this.name = 'ApiError';
  }
}

export interface ConnectionOptions {
  /** API base with or without `/v2`; default env BOS_URL, else DEFAULT_URL. */
  url?: string;
  /** Sent as `Cray-Tenant-Name`; default env BOS_TENANT. */
  tenant?: string;
  /** File holding a bearer token; default env BOS_TOKEN_FILE. */
  tokenFile?: string;
  /** The bearer token itself (wins over the file); default env BOS_TOKEN. */
  token?: string;
  /** Write one line per request to this function (method, URL, status, time). */
  trace?: (line: string) => void;
  /** Per-request time limit in ms (default 60 s). */
  timeoutMs?: number;
}

/** `http://h/apis/bos`, `http://h/apis/bos/`, `http://h/apis/bos/v2/` → `http://h/apis/bos/v2`. */
export function apiBase(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new CliError(`"${url}" is not a URL: give the BOS API base, e.g. ${DEFAULT_URL} (--url or BOS_URL)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new CliError(`"${url}" is not an http(s) URL: give the BOS API base, e.g. ${DEFAULT_URL} (--url or BOS_URL)`);
  }
  if (u.username || u.password) {
    throw new CliError('the BOS URL must not carry a user name or password: give the API base alone and a bearer token with --token-file');
  }
  const path = u.pathname.replace(/\/+$/, '');
  u.pathname = /\/v2$/.test(path) ? path : `${path}/v2`;
  u.search = '';
  u.hash = '';
  return u.toString().replace(/\/+$/, '');
}

function readToken(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CliError(`cannot read the token file ${file} (${code ?? 'unreadable'}): check --token-file or BOS_TOKEN_FILE`);
  }
  const token = text.trim();
  if (!token) throw new CliError(`the token file ${file} is empty: check --token-file or BOS_TOKEN_FILE`);
  if (/[\r\n]/.test(token)) throw new CliError(`the token file ${file} holds more than one line: it must hold only the bearer token`);
  return token;
}

export type Query = Record<string, string | number | boolean | undefined>;

/** The code (ECONNREFUSED, ENOTFOUND, ...) and text of the innermost cause of a fetch failure. */
function networkCause(err: unknown): { code?: string; message: string } {
  let e: unknown = err;
  let found: { code?: string; message: string } = { message: messageOf(err) };
  for (let depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    const x = e as { code?: unknown; message?: unknown; cause?: unknown; errors?: unknown };
    if (typeof x.code === 'string') return { code: x.code, message: String(x.message ?? x.code) };
    if (typeof x.message === 'string' && x.message) found = { message: x.message };
    e = x.cause ?? (Array.isArray(x.errors) ? x.errors[0] : undefined);
  }
  return found;
}

export class BosApi {
  readonly base: string;
  readonly tenant: string | undefined;
  private readonly token: string | undefined;
  private readonly trace?: (line: string) => void;
  private readonly timeoutMs: number;

  constructor(opts: ConnectionOptions = {}) {
    this.base = apiBase(opts.url ?? process.env.BOS_URL ?? DEFAULT_URL);
    const tenant = opts.tenant ?? process.env.BOS_TENANT;
    this.tenant = tenant ? tenant : undefined;
    const token = (opts.token ?? process.env.BOS_TOKEN ?? '').trim();
    const tokenFile = opts.tokenFile ?? process.env.BOS_TOKEN_FILE;
    this.token = token || (tokenFile ? readToken(tokenFile) : undefined);
    this.trace = opts.trace;
    this.timeoutMs = opts.timeoutMs ?? 60_000;
  }

  url(path: string, query?: Query): URL {
    const u = new URL(this.base + path);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) u.searchParams.set(k, String(v));
    return u;
  }

  /** Send one request; answers the parsed JSON body (undefined for an empty body). */
  async request<T>(method: string, path: string, opts: { query?: Query; body?: unknown } = {}): Promise<T> {
    const u = this.url(path, opts.query);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.tenant) headers[TENANT_HEADER] = this.tenant;
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    let body: string | undefined;
    if (opts.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(opts.body);
    }
    const started = Date.now();
    let res: Response;
    try {
      res = await fetch(u, { method, headers, body, signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (err) {
      const where = `${u.origin}${u.pathname}`;
      if ((err as Error).name === 'TimeoutError') {
        throw new CliError(`no answer from BOS at ${where} within ${this.timeoutMs / 1000} s (${method}); check that BOS is running there (--url), or allow more time with --timeout`);
      }
      const cause = networkCause(err);
      const hint =
        cause.code === 'ECONNREFUSED' || cause.code === 'ENOTFOUND' || cause.code === 'EAI_AGAIN' || cause.code === 'EHOSTUNREACH'
          ? `; is BOS running there? Start one with \`bos up\`, or point --url (or BOS_URL) at the API`
          : '';
      throw new CliError(`cannot reach BOS at ${this.base} (${cause.code ?? cause.message})${hint}`);
    }
    const text = await res.text();
    this.trace?.(`${method} ${u.toString()} -> ${res.status} (${Date.now() - started} ms)`);
    if (!res.ok) {
      let title = res.statusText || 'Error';
      let detail = '';
      try {
        const p = JSON.parse(text) as { title?: unknown; detail?: unknown };
        if (typeof p.title === 'string') title = p.title;
        if (typeof p.detail === 'string') detail = p.detail;
      } catch {
        detail = text.trim().split('\n')[0]!.slice(0, 200);
      }
      if (res.status === 404 && title === 'Not Found') {
        detail = `no such path on ${u.origin}; is ${this.base} the BOS v2 API? (check --url or BOS_URL)`;
      }
      if (res.status === 401 || res.status === 403) {
        detail = detail ? `${detail}; check --token or --token-file (BOS_TOKEN, BOS_TOKEN_FILE)` : 'check --token or --token-file (BOS_TOKEN, BOS_TOKEN_FILE)';
      }
      throw new ApiError(res.status, title, oneLine(detail), method, u.pathname + u.search);
    }
    if (text === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new CliError(`BOS at ${this.base} answered ${method} ${u.pathname} with a body that is not JSON; is --url the BOS API?`);
    }
  }

  get<T>(path: string, query?: Query): Promise<T> {
    return this.request<T>('GET', path, { query });
  }
  post<T>(path: string, body?: unknown, query?: Query): Promise<T> {
    return this.request<T>('POST', path, { body, query });
  }
  put<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PUT', path, { body });
  }
  patch<T>(path: string, body: unknown, query?: Query): Promise<T> {
    return this.request<T>('PATCH', path, { body, query });
  }
  delete(path: string, query?: Query): Promise<void> {
    return this.request<void>('DELETE', path, { query });
  }
}

function oneLine(s: string): string {
  return s.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}

/** Path segment for a name or id. */
export function seg(s: string): string {
  return encodeURIComponent(s);
}
