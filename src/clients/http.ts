/**
 * The one HTTP core every REST client uses (docs/services.md, "The HTTP core"): base URL + path joined
 * with exactly one `/`, connect timeout (3 s) and a per-service read timeout read at every request,
 * retries with urllib3-like semantics through p-retry, an optional bearer token read from a file, and
 * every failure turned into a one-line `ServiceError`.
 *
 * Built on node:http/node:https rather than fetch: fetch on Node 20 cannot set a connect timeout or
 * tell "could not connect" from "connection lost after sending", and the retry rule needs both.
 */
import { isAscii } from 'node:buffer';
import http from 'node:http';
import https from 'node:https';
import { readFile, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import pRetry from 'p-retry';
import { anySignal, type CallDeadline } from './deadline.js';
import { ServiceError, type ServiceName } from './types.js';

// ---------------------------------------------------------------- hooks and policies

/**
 * Called once per attempt (retries included). `outcome` is the HTTP status code as a string
 * (`"200"`, `"503"`), or `"timeout"`, `"connect_error"`, `"network_error"`, `"error"`.
 */
export type RequestHook = (service: ServiceName, method: string, outcome: string, seconds: number) => void;

export interface RetryPolicy {
  /** Retries after the first attempt (urllib3 `total`). 0 → a single attempt. */
  retries: number;
  /** No wait before the first retry, then `backoffFactorMs × 2^(n−1)` before retry n, capped. */
  backoffFactorMs: number;
  maxBackoffMs: number;
}

export const DEFAULT_RETRY: Readonly<RetryPolicy> = Object.freeze({
  retries: 10,
  backoffFactorMs: 500,
  maxBackoffMs: 120_000,
});

const CONNECT_TIMEOUT_SECONDS = 3;
/** BOS and the tenant service: fixed read timeout. */
export const FIXED_READ_TIMEOUT_SECONDS = 10;
const FALLBACK_READ_TIMEOUT_SECONDS = 20;

/** Statuses retried for idempotent methods (urllib3 `status_forcelist`). */
const RETRY_STATUSES: ReadonlySet<number> = new Set([500, 502, 503, 504]);
/** Statuses whose Retry-After header is honoured; with the header, 413 and 429 are retried too (idempotent only). */
const RETRY_AFTER_STATUSES: ReadonlySet<number> = new Set([413, 429, 503]);
/** urllib3's default allowed methods: retried on read errors and retry statuses. */
const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'TRACE']);

/** The wait before retry number `retry` (1-based). */
export function backoffMs(retry: number, policy: Pick<RetryPolicy, 'backoffFactorMs' | 'maxBackoffMs'>): number {
  if (retry <= 1) return 0;
  return Math.min(policy.maxBackoffMs, policy.backoffFactorMs * 2 ** (retry - 1));
}

// ---------------------------------------------------------------- token

/** Where the bearer token comes from; undefined or '' → no Authorization header. */
export interface TokenSource {
  get(): Promise<string | undefined>;
}

/** A token kept in a file (e.g. a projected service-account token); re-read when the file changes. */
export class TokenFile implements TokenSource {
  private cached?: { mtimeMs: number; size: number; ino: number; token: string };

  constructor(readonly path: string) {}

  async get(): Promise<string | undefined> {
    let st;
    try {
      st = await stat(this.path);
    } catch (err) {
      throw new Error(`cannot read the token file ${this.path} (${errCode(err) ?? 'unreadable'}); check the tokenFile setting`);
    }
    const c = this.cached;
    if (c && c.mtimeMs === st.mtimeMs && c.size === st.size && c.ino === st.ino) return c.token || undefined;
    let token: string;
    try {
      token = (await readFile(this.path, 'utf8')).trim();
    } catch (err) {
      throw new Error(`cannot read the token file ${this.path} (${errCode(err) ?? 'unreadable'}); check the tokenFile setting`);
    }
    this.cached = { mtimeMs: st.mtimeMs, size: st.size, ino: st.ino, token };
    return token || undefined;
  }
}

// ---------------------------------------------------------------- helpers

/** `<base>/<path>` with exactly one `/` between (no doubled slashes); an empty path → base. */
export function joinUrl(base: string, path: string): string {
  const b = base.replace(/\/+$/, '');
  const p = path.replace(/^\/+/, '');
  return p ? `${b}/${p}` : b;
}

/** Every line trimmed, empty lines dropped, joined with single spaces (upstream's error body form). */
export function compactBody(body: string, maxChars = 1000): string {
  const out = body
    .split(/\r?\n|\r/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0)
    .join(' ');
  return out.length > maxChars ? `${out.slice(0, maxChars)}…` : out;
}

/** Split a list into pieces of at most `size` (size ≤ 0 → one piece). An empty list → no pieces. */
export function chunk<T>(items: readonly T[], size: number): T[][] {
  if (items.length === 0) return [];
  if (!(size > 0) || items.length <= size) return [items.slice()];
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

type QueryValue = string | number | boolean | null | undefined;
export type Query = Record<string, QueryValue>;

/** Query string as Python requests renders it: booleans as `True`/`False`, null/undefined omitted. */
export function renderQuery(query: Query | undefined): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null) continue;
    params.append(k, typeof v === 'boolean' ? (v ? 'True' : 'False') : String(v));
  }
  const s = params.toString();
  return s ? `?${s}` : '';
}

function errCode(err: unknown): string | undefined {
  if (err && typeof err === 'object' && 'code' in err && typeof (err as { code: unknown }).code === 'string') {
    return (err as { code: string }).code;
  }
  return undefined;
}

/** One line, no secrets: newlines folded and every occurrence of `secret` replaced. */
function scrub(text: string, secret?: string): string {
  let t = text.replace(/\s*[\r\n]+\s*/g, ' ').trim();
  if (secret && secret.length >= 4) t = t.split(secret).join('<redacted>');
  return t;
}

/**
 * `<error kind or service>: <message>` on one line, the form a component's or session's `error`
 * takes (docs/operators.md, "Error texts"). Never contains a bearer token.
 */
export function describeError(err: unknown): string {
  // A specific kind (ManifestNotFound, ImageNotFound, …) names itself; a plain ServiceError names its service.
  if (err instanceof ServiceError) return scrub(`${err.name && err.name !== 'ServiceError' ? err.name : err.service}: ${err.message}`);
  if (err instanceof Error) return scrub(`${err.name && err.name !== 'Error' ? err.name : 'Error'}: ${err.message}`);
  return scrub(`Error: ${String(err)}`);
}

export function expectArray<T>(value: unknown, service: ServiceName, method: string, path: string): T[] {
  if (!Array.isArray(value)) {
    throw new ServiceError(service, method, path, undefined, `Expected a JSON array in the response to ${method} ${path}, got ${jsonType(value)}`);
  }
  return value as T[];
}

export function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

// ---------------------------------------------------------------- attempt failures

type FailureKind = 'connect' | 'connect_timeout' | 'read' | 'read_timeout' | 'status' | 'aborted';

/** One failed attempt; turned into a ServiceError when no retry is left. */
class AttemptFailure extends Error {
  constructor(
    readonly kind: FailureKind,
    message: string,
    readonly response?: RawResponse,
  ) {
    super(message);
    this.name = 'AttemptFailure';
  }
}

interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

// ---------------------------------------------------------------- the client

export interface HttpClientOptions {
  service: ServiceName;
  baseUrl: string;
  /** Read (idle) timeout in seconds, asked at every request so it follows live options. */
  readTimeoutSeconds?: () => number;
  connectTimeoutSeconds?: number;
  /** Retry policy, asked at every request (IMS's retry count follows `ims_errors_fatal`). */
  retry?: Partial<RetryPolicy> | (() => Partial<RetryPolicy>);
  token?: TokenSource;
  onRequest?: RequestHook;
  /** false → accept any TLS certificate (BSS, as upstream). Default true. */
  verifyTls?: boolean;
  /** Headers sent on every request. */
  headers?: Record<string, string>;
  /** Aborts every request in flight and every retry wait: the process is stopping. */
  signal?: AbortSignal;
  /** Runs every attempt (shared by clients to bound the requests in flight together; benchmarks). */
  limit?: <T>(fn: () => Promise<T>) => Promise<T>;
}

export interface RequestOptions {
  query?: Query;
  /** JSON body; undefined → no body. */
  body?: unknown;
  headers?: Record<string, string>;
  /** Hand back the 2xx answer's text unparsed (a string body) when the caller does not need it read. */
  unparsed?: boolean;
  /** Called with a 2xx answer's text just before it is parsed (a pager can look ahead from it). */
  beforeParse?: (text: string) => void;
  /** A 304 Not Modified answer (to a conditional GET) is returned, with a null body, instead of failing. */
  notModified?: boolean;
}

export interface HttpResponse<T = unknown> {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** Parsed JSON; an empty body → null. */
  body: T;
}

/**
 * A view of a client whose only state is its `http`, set in its constructor: the same client seen
 * through a prototype, with every call bounded by an API request's deadline (deadline.ts).
 */
export function clientWithin<T extends { readonly http: HttpClient }>(client: T, deadline: CallDeadline): T {
  return Object.create(client, { http: { value: client.http.within(deadline) } }) as T;
}

export class HttpClient {
  readonly service: ServiceName;
  readonly baseUrl: string;
  private readonly agent: http.Agent;
  private readonly opts: HttpClientOptions;
  /** The API request whose deadline bounds every call (a view made by within()), if any. */
  private readonly deadline: CallDeadline | undefined;

  constructor(opts: HttpClientOptions) {
    this.opts = opts;
    this.service = opts.service;
    this.baseUrl = opts.baseUrl;
    const base = new URL(opts.baseUrl);
    if (base.protocol !== 'http:' && base.protocol !== 'https:') {
      throw new Error(`${opts.service}: base URL ${base.protocol}//${base.host} is not http or https`);
    }
    this.agent =
      base.protocol === 'https:'
        ? new https.Agent({ keepAlive: true, rejectUnauthorized: opts.verifyTls !== false })
        : new http.Agent({ keepAlive: true });
  }

  /** Release pooled connections. */
  close(): void {
    this.agent.destroy();
  }

  /** This client with every call bounded by an API request's deadline (deadline.ts); it shares the connections. */
  within(deadline: CallDeadline): HttpClient {
    return Object.create(this, { deadline: { value: deadline } }) as HttpClient;
  }

  async get<T = unknown>(path: string, opts: RequestOptions = {}): Promise<T> {
    return (await this.request<T>('GET', path, opts)).body;
  }
  async post<T = unknown>(path: string, opts: RequestOptions = {}): Promise<T> {
    return (await this.request<T>('POST', path, opts)).body;
  }
  async put<T = unknown>(path: string, opts: RequestOptions = {}): Promise<T> {
    return (await this.request<T>('PUT', path, opts)).body;
  }
  async patch<T = unknown>(path: string, opts: RequestOptions = {}): Promise<T> {
    return (await this.request<T>('PATCH', path, opts)).body;
  }
  async delete<T = unknown>(path: string, opts: RequestOptions = {}): Promise<T> {
    return (await this.request<T>('DELETE', path, opts)).body;
  }

  private policy(): RetryPolicy {
    const r = typeof this.opts.retry === 'function' ? this.opts.retry() : this.opts.retry;
    return { ...DEFAULT_RETRY, ...(r ?? {}) };
  }

  private readTimeoutMs(): number {
    let s = FALLBACK_READ_TIMEOUT_SECONDS;
    try {
      const v = this.opts.readTimeoutSeconds?.();
      if (typeof v === 'number' && Number.isFinite(v) && v > 0) s = v;
    } catch {
      // keep the fallback
    }
    return s * 1000;
  }

  /** Send one request with retries; resolves on 2xx, otherwise throws a ServiceError. */
  async request<T = unknown>(method: string, path: string, opts: RequestOptions = {}): Promise<HttpResponse<T>> {
    method = method.toUpperCase();
    const endpoint = '/' + path.replace(/^\/+/, '');
    const url = new URL(joinUrl(this.baseUrl, path) + renderQuery(opts.query));
    const fail = (status: number | undefined, message: string, token?: string) =>
      new ServiceError(this.service, method, endpoint, status, scrub(message, token));

    // For an API request, the request's deadline bounds the call too (deadline.ts).
    const deadline = this.deadline;
    const earlier = deadline?.failed.get(this.service);
    if (earlier) throw fail(undefined, `not asked again in this request after: ${earlier.message}`);
    const signal = anySignal(this.opts.signal, deadline?.signal);
    const started = Date.now();
    const abortText = () =>
      this.opts.signal?.aborted
        ? `${method} ${endpoint} given up: the process is stopping`
        : `No answer from ${url.host} within the request's deadline of ${Math.round((deadline!.deadlineAt - started) / 1000)} s (${method} ${endpoint})`;

    let token: string | undefined;
    try {
      token = await this.opts.token?.get();
    } catch (err) {
      throw fail(undefined, (err as Error).message);
    }
    const headers: Record<string, string> = { accept: 'application/json', ...this.opts.headers, ...opts.headers };
    let payload: Buffer | undefined;
    if (opts.body !== undefined) {
      payload = Buffer.from(JSON.stringify(opts.body), 'utf8');
      headers['content-type'] = 'application/json';
    }
    if (token) headers.authorization = `Bearer ${token}`;

    const policy = this.policy();
    const idempotent = IDEMPOTENT_METHODS.has(method);
    const readMs = this.readTimeoutMs();
    const connectMs = (this.opts.connectTimeoutSeconds ?? CONNECT_TIMEOUT_SECONDS) * 1000;
    let attempts = 0;
    let lastFailure: AttemptFailure | undefined;

    let raw: RawResponse;
    try {
      if (signal?.aborted) throw new AttemptFailure('aborted', abortText());
      raw = await pRetry(
        async (n) => {
          attempts = n;
          const t0 = performance.now();
          let outcome = 'error';
          try {
            const send = () => this.attempt(method, url, endpoint, headers, payload, readMs, connectMs, signal, abortText);
            const r = await (this.opts.limit ? this.opts.limit(send) : send());
            outcome = String(r.status);
            if (idempotent && (RETRY_STATUSES.has(r.status) || (RETRY_AFTER_STATUSES.has(r.status) && r.headers['retry-after'] !== undefined))) {
              throw new AttemptFailure('status', `status ${r.status}`, r);
            }
            return r;
          } catch (err) {
            if (err instanceof AttemptFailure) {
              lastFailure = err;
              if (err.kind !== 'status') {
                outcome = err.kind === 'connect_timeout' || err.kind === 'read_timeout' || err.kind === 'aborted' ? 'timeout' : err.kind === 'connect' ? 'connect_error' : 'network_error';
              }
            }
            throw err;
          } finally {
            report(this.opts.onRequest, this.service, method, outcome, (performance.now() - t0) / 1000);
          }
        },
        {
          retries: Math.max(0, Math.floor(policy.retries)),
          minTimeout: 0,
          maxTimeout: 0,
          factor: 1,
          randomize: false,
          shouldRetry: async ({ error, retriesConsumed }) => {
            if (!(error instanceof AttemptFailure) || error.kind === 'aborted') return false;
            const retryable =
              error.kind === 'connect' ||
              error.kind === 'connect_timeout' ||
              (idempotent && (error.kind === 'read' || error.kind === 'read_timeout' || error.kind === 'status'));
            if (!retryable) return false;
            // A Retry-After header (413/429/503) replaces the backoff, as in urllib3; capped like the backoff.
            const ra = error.response && RETRY_AFTER_STATUSES.has(error.response.status) ? retryAfterMs(error.response.headers['retry-after']) : undefined;
            const wait = ra !== undefined ? Math.min(policy.maxBackoffMs, ra) : backoffMs(retriesConsumed + 1, policy);
            // Within an API request, retries start only in the first seconds of it.
            if (deadline && Date.now() + wait > deadline.retryUntil) return false;
            if (wait > 0) {
              try {
                await sleep(wait, undefined, signal ? { signal } : undefined);
              } catch {
                return false; // aborted while waiting: the last failure stands
              }
            }
            return !signal?.aborted;
          },
        },
      );
    } catch (err) {
      const suffix = attempts > 1 ? ` (gave up after ${attempts} attempts)` : '';
      const failure = err instanceof AttemptFailure ? err : lastFailure;
      let out: ServiceError;
      if (failure?.kind === 'status' && failure.response) out = fail(failure.response.status, non2xx(method, endpoint, failure.response) + suffix, token);
      else if (failure) out = fail(undefined, failure.message + suffix, token);
      else out = fail(undefined, `${method} ${endpoint} failed: ${(err as Error)?.message ?? String(err)}${suffix}`, token);
      // The service could not be reached or answered 5xx: the request does not ask it again.
      if (deadline && failure && (failure.kind !== 'status' || (failure.response?.status ?? 0) >= 500)) deadline.failed.set(this.service, out);
      throw out;
    }
    if (raw.status === 304 && opts.notModified) return { status: 304, headers: raw.headers, body: null as T };
    if (raw.status < 200 || raw.status >= 300) throw fail(raw.status, non2xx(method, endpoint, raw), token);
    const text = bodyText(raw.body);
    if (opts.unparsed) return { status: raw.status, headers: raw.headers, body: text as T };
    if (text.trim() === '') return { status: raw.status, headers: raw.headers, body: null as T };
    opts.beforeParse?.(text);
    try {
      return { status: raw.status, headers: raw.headers, body: JSON.parse(text) as T };
    } catch (err) {
      throw fail(
        raw.status,
        `Malformed JSON in the ${raw.status} response to ${method} ${endpoint}: ${(err as Error).message}; body starts ${JSON.stringify(text.slice(0, 80))}`,
        token,
      );
    }
  }

  private attempt(
    method: string,
    url: URL,
    endpoint: string,
    headers: Record<string, string>,
    payload: Buffer | undefined,
    readMs: number,
    connectMs: number,
    signal: AbortSignal | undefined,
    abortText: () => string,
  ): Promise<RawResponse> {
    const mod = url.protocol === 'https:' ? https : http;
    const where = `${method} ${endpoint}`;
    return new Promise<RawResponse>((resolve, reject) => {
      let connected = false;
      let gotResponse = false;
      let connectTimer: NodeJS.Timeout | undefined;
      let settled = false;
      const onAbort = () => req.destroy(new AttemptFailure('aborted', abortText()));
      const finish = (err: Error | undefined, value?: RawResponse) => {
        if (settled) return;
        settled = true;
        if (connectTimer) clearTimeout(connectTimer);
        signal?.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve(value!);
      };
      const hdrs: Record<string, string | number> = { ...headers };
      if (payload) hdrs['content-length'] = payload.length;
      const req = mod.request(url, { method, headers: hdrs, agent: this.agent }, (res) => {
        gotResponse = true;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => finish(undefined, { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', (err) => finish(classify(err)));
        res.on('aborted', () => finish(new AttemptFailure('read', `Connection lost while reading the response to ${where}`)));
      });
      const classify = (err: Error): AttemptFailure => {
        if (err instanceof AttemptFailure) return err;
        const code = errCode(err) ?? err.message;
        // Not connected yet, or a pooled connection the server had already closed: nothing reached the server.
        if (!connected || (req.reusedSocket && !gotResponse && (code === 'ECONNRESET' || code === 'EPIPE'))) {
          return new AttemptFailure('connect', `Cannot connect to ${url.host} (${code}) for ${where}`);
        }
        return new AttemptFailure('read', `Connection lost (${code}) during ${where}`);
      };
      req.on('socket', (sock) => {
        if (sock.connecting) {
          connectTimer = setTimeout(() => {
            req.destroy(new AttemptFailure('connect_timeout', `Connection to ${url.host} timed out after ${connectMs / 1000} s (${where})`));
          }, connectMs);
          sock.once('connect', () => {
            connected = true;
            if (connectTimer) clearTimeout(connectTimer);
          });
        } else {
          connected = true;
        }
      });
      // Applied once the socket is connected: an idle read timeout, like urllib3's.
      req.setTimeout(readMs, () => {
        req.destroy(new AttemptFailure('read_timeout', `Read timed out after ${readMs / 1000} s waiting for ${where}`));
      });
      req.on('error', (err) => finish(classify(err)));
      if (signal) {
        if (signal.aborted) onAbort();
        else signal.addEventListener('abort', onAbort, { once: true });
      }
      req.end(payload);
    });
  }
}

/** Call a metrics hook; a failing hook never fails the request it measures. */
export function report(hook: RequestHook | undefined, service: ServiceName, method: string, outcome: string, seconds: number): void {
  if (!hook) return;
  try {
    hook(service, method, outcome, seconds);
  } catch {
    // metrics are best effort
  }
}

/**
 * A response body as text. JSON answers are mostly ASCII (BOS listings of 100,000 components are
 * 190 MB of it): such a body is taken byte for byte (latin1, which is ASCII for these bytes), which
 * is several times faster than decoding UTF-8; any other body is decoded as UTF-8.
 */
export function bodyText(body: Buffer): string {
  return isAscii(body) ? body.toString('latin1') : body.toString('utf8');
}

function non2xx(method: string, endpoint: string, r: RawResponse): string {
  const reason = http.STATUS_CODES[r.status] ?? '';
  const body = compactBody(r.body.toString('utf8'));
  return `Non-2XX response (${r.status}) to ${method} ${endpoint}; ${[reason, body].filter(Boolean).join(' ')}`.trim();
}

function retryAfterMs(v: string | undefined): number | undefined {
  if (!v) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - Date.now());
}
