/**
 * The BOS v2 API server (docs/api.md): fastify, every path of the OpenAPI contract under `<prefix>/v2`
 * plus `<prefix>/`, problem+json errors, JSON in and out.
 *
 *   const app = await buildApp({ store: new MemoryStore() });           // inject()/listen() yourself
 *   const srv = await startServer({ store, port: 0 });  srv.url; await srv.close();
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import Fastify, { LogController, type FastifyError, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { callDeadline, DEFAULT_DEADLINE_SECONDS } from '../clients/deadline.js';
import { ServiceError, type HsmClient, type ImsClient, type S3Client, type TenantClient } from '../clients/types.js';
import { systemClock, type Clock } from '../common/clock.js';
import { isOptionName, type Options } from '../common/options.js';
import { EMPTY_BODY, NON_JSON, sendProblem, ServerContext } from './context.js';
import type { DependencyWatch } from './dependencies.js';
import { installAuth } from './auth/hooks.js';
import type { TokenVerifier } from './auth/verifier.js';
import { badRequest, internalError, isStoreUnavailable, Problem, serviceUnavailable, storeUnavailable } from './problem.js';
import { baseRoutes } from './routes/base.js';
import { componentRoutes } from './routes/components.js';
import { sessionRoutes } from './routes/sessions.js';
import { RouteTable } from './routes/table.js';
import { templateRoutes } from './routes/templates.js';
import { uiRoutes } from './ui.js';
import { validator } from './schema.js';
import { installRequestMetrics, type ApiMetrics } from './metrics.js';
import type { Store } from './store/store.js';
import { messageOf } from '../common/errors.js';

export interface AppOptions {
  store: Store;
  tenants?: TenantClient;
  s3?: S3Client;
  ims?: ImsClient;
  /** HSM, for session previews (without it they answer 503). */
  hsm?: HsmClient;
  clock?: Clock;
  /** A pino logger, or false for none; default: pino at info level on stdout. */
  logger?: Logger | false;
  /** URL prefixes the API is served under; default ['']. `bos up` uses ['', '/apis/bos']. */
  prefixes?: string[];
  /** Largest accepted request body in bytes; default 64 MiB. */
  bodyLimit?: number;
  /**
   * Seconds a request may wait for the other services it calls (IMS, S3, the tenant service) in all;
   * default 30. Retries of those calls start only in its first seconds (src/clients/deadline.ts).
   */
  deadlineSeconds?: number;
  /** The services the API calls, as watched since start: listed by GET /readyz. */
  dependencies?: DependencyWatch;
  /** Told the options each time a request reads them (the API's own clients follow their timeouts). */
  onOptions?: (options: Options) => void;
  /** Verify bearer tokens and what they allow (docs/security.md); without it nothing is checked. */
  auth?: TokenVerifier;
  /** Record requests in these metrics and serve their registry at GET /metrics (docs/observability.md). */
  metrics?: ApiMetrics;
  /** Serve the read-only web view at `<prefix>/ui/` (docs/ui.md). */
  ui?: boolean;
}

const DEFAULT_BODY_LIMIT = 64 * 1024 * 1024;

const JSON_TYPE = /^application\/([\w.-]+\+)?json\s*(;.*)?$/i;

/** Deepest nesting of objects and arrays a request body may have (BOS bodies need fewer than 10). */
const MAX_BODY_DEPTH = 64;

/** True when a parsed body nests objects or arrays deeper than `max` (checked without recursion). */
function nestedDeeperThan(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (depth > max) return true;
    for (const child of Object.values(v as object)) {
      if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
    }
  }
  return false;
}

/**
 * Where a parsed body holds a `__proto__` key, as a dotted path to the object holding it ('' at the
 * top, '1.last_action' for the second item's last_action), or undefined when none does. JSON.parse
 * keeps such keys as plain own properties; merging them later could change a prototype.
 */
function protoKeyHolder(value: unknown): string | undefined {
  const stack: [unknown, string][] = [[value, '']];
  while (stack.length > 0) {
    const [v, path] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    const keys = Object.keys(v);
    if (!Array.isArray(v) && keys.includes('__proto__')) return path;
    for (let i = keys.length - 1; i >= 0; i--) {
      const key = keys[i]!;
      stack.push([(v as Record<string, unknown>)[key], path === '' ? key : `${path}.${key}`]);
    }
  }
  return undefined;
}

/**
 * Requests the HTTP parser refuses before routing (headers or query string over Node's size limit,
 * malformed request lines, timeouts) are answered as problem documents too.
 */
export function problemClientError(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const detail =
    status === 431
      ? 'The request headers (with the query string) are larger than the server accepts'
      : status === 408
        ? 'The request was not received in time'
        : 'The request could not be parsed as HTTP';
  const title = STATUS_CODES[status] ?? 'Bad Request';
  const body = JSON.stringify({ type: 'about:blank', title, status, detail });
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${title}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(err);
}

/** Build the API (not listening). */
export async function buildApp(opts: AppOptions): Promise<FastifyInstance> {
  const bodyLimit = opts.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const base = {
    bodyLimit,
    routerOptions: { maxParamLength: 4096 },
    // Per-request lines would drown the log under operator polling; errors are logged by the handler.
    logController: new LogController({ disableRequestLogging: true }),
    clientErrorHandler: problemClientError,
  };
  const app: FastifyInstance = (
    opts.logger === false
      ? Fastify({ ...base, logger: false })
      : opts.logger
        ? Fastify({ ...base, loggerInstance: opts.logger })
        : Fastify({ ...base, logger: { level: 'info' } })
  ) as unknown as FastifyInstance;

  const ctx = new ServerContext(opts.store, opts.clock ?? systemClock, app.log, opts.tenants, opts.s3, opts.ims, opts.hsm, opts.onOptions);

  // Bodies: JSON (any +json type) is parsed; anything else is marked and refused by routes that read a body.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(JSON_TYPE, { parseAs: 'string', bodyLimit }, (_req, body, done) => {
    const text = body as string;
    if (text.trim() === '') return done(null, EMPTY_BODY);
    try {
      const parsed: unknown = JSON.parse(text);
      // Deeply nested values would overflow the stack later (validation messages, serialisation).
      if (parsed !== null && typeof parsed === 'object' && nestedDeeperThan(parsed, MAX_BODY_DEPTH)) {
        throw new SyntaxError(`the data is nested more than ${MAX_BODY_DEPTH} levels deep`);
      }
      // Keys that could change an object's prototype when merged are refused, as fastify's own parser
      // does, naming where they are so the sender can find them (looked for in bodies of bounded depth).
      const holder = text.includes('__proto__') ? protoKeyHolder(parsed) : undefined;
      if (holder !== undefined) {
        throw new SyntaxError(holder === '' ? 'the key "__proto__" is not allowed' : `the key "__proto__" is not allowed - '${holder}'`);
      }
      done(null, parsed);
    } catch (err) {
      done(badRequest(`Error parsing the data provided: ${(err as Error).message}`), undefined);
    }
  });
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit }, (_req, body, done) => {
    done(null, (body as Buffer).length === 0 ? EMPTY_BODY : NON_JSON);
  });

  app.setErrorHandler((error: unknown, req, reply) => {
    if (error instanceof Problem) return sendProblem(reply, error);
    const err = (error instanceof Error ? error : new Error(String(error))) as FastifyError;
    if (isStoreUnavailable(err)) {
      req.log.error({ err: err.message }, 'store unavailable');
      return sendProblem(reply, storeUnavailable(err.message));
    }
    const code = err.code;
    if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return sendProblem(reply, new Problem(413, 'Request Entity Too Large', `The request body is larger than the limit of ${bodyLimit} bytes`));
    }
    if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || code === 'FST_ERR_CTP_INVALID_CONTENT_LENGTH' || code === 'FST_ERR_CTP_EMPTY_JSON_BODY') {
      return sendProblem(reply, badRequest(`Error parsing the data provided: ${err.message}`));
    }
    if (err instanceof ServiceError) {
      // Another service failed while this request needed it: say which, and what to check.
      req.log.warn({ service: err.service, err: err.message }, 'a service the request needs failed');
      return sendProblem(reply, serviceUnavailable(err));
    }
    const status = err.statusCode;
    if (status && status >= 400 && status < 500) {
      return sendProblem(reply, new Problem(status, STATUS_CODES[status] ?? 'Bad Request', err.message));
    }
    req.log.error({ err }, 'unexpected error handling the request');
    return sendProblem(reply, internalError());
  });

  if (opts.metrics) {
    const { registry } = opts.metrics;
    installRequestMetrics(app, opts.metrics);
    // Open like the probes: it names route templates and counts, never a record.
    app.get('/metrics', async (_req, reply) => reply.type(registry.contentType).send(await registry.metrics()));
  }

  // Readiness: the store answers (without it nothing works); the services the API calls are listed
  // with their state, and one that does not answer only fails the requests that need it.
  app.get('/readyz', async (_req, reply) => {
    let store = false;
    try {
      store = await ctx.store.ping();
    } catch {
      store = false;
    }
    const services = opts.dependencies?.list() ?? [];
    return reply.code(store ? 200 : 503).type('application/json').send(
      JSON.stringify({ ready: store, store: store ? 'answers' : 'no answer', services }) + '\n',
    );
  });

  app.setNotFoundHandler((_req, reply) =>
    sendProblem(
      reply,
      new Problem(404, 'Not Found', 'The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.'),
    ),
  );

  if (opts.auth) installAuth(app, opts.auth);

  const routes = new RouteTable();
  baseRoutes(ctx, routes);
  componentRoutes(ctx, routes);
  templateRoutes(ctx, routes);
  sessionRoutes(ctx, routes);
  // Every request's calls to other services are bounded from the moment it reaches its route.
  const deadline = { deadlineSeconds: opts.deadlineSeconds ?? DEFAULT_DEADLINE_SECONDS };
  app.decorateRequest('callDeadline', null);
  routes.mount(app, opts.prefixes ?? [''], (handler) => (req, reply) => {
    req.callDeadline = callDeadline(deadline);
    return handler(req, reply);
  });
  if (opts.ui) uiRoutes(app, opts.prefixes ?? ['']);

  // Compile the request schemas now rather than on the first request.
  for (const name of ['V2Component', 'V2ComponentArrayWithIds', 'V2ComponentsUpdate', 'V2SessionTemplate', 'V2SessionCreate', 'V2Options']) {
    validator(name);
  }

  await purgeUnknownOptions(ctx);
  await app.ready();
  return app;
}

/** At start-up, unknown keys are removed from the stored options (docs/data-model.md, "Options"). Never fatal. */
async function purgeUnknownOptions(ctx: ServerContext): Promise<void> {
  try {
    const known = await ctx.store.updateOptions((stored) => {
      if (!stored || Object.keys(stored).every(isOptionName)) return undefined;
      return Object.fromEntries(Object.entries(stored).filter(([k]) => isOptionName(k)));
    });
    if (known) ctx.applyLogLevel(known.logging_level);
  } catch (err) {
    ctx.log.warn(`could not read the stored options at start-up (${messageOf(err)}); continuing`);
  }
}

export interface RunningServer {
  url: string;
  app: FastifyInstance;
  close(): Promise<void>;
}

/** Build the API and listen (host default 127.0.0.1, port 0 = a free port). */
export async function startServer(opts: AppOptions & { port?: number; host?: string }): Promise<RunningServer> {
  const app = await buildApp(opts);
  const host = opts.host ?? '127.0.0.1';
  await app.listen({ port: opts.port ?? 0, host });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  const shownHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  return {
    url: `http://${shownHost}:${port}`,
    app,
    close: () => app.close(),
  };
}
