/**
 * Prometheus metrics of the API process (docs/observability.md): requests by route template, method
 * and status; requests in flight; store operations by name and outcome; the listing cache; change
 * events published; the Redis connection. Nothing here is a hidden global: the process creates the
 * registry and passes it in (in `bos up` the operators' registry, so one /metrics shows both).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { ChangeBus } from '../events/bus.js';
import { withChangeEvents } from '../events/store.js';
import { routeTemplate } from './route-template.js';
import type { Store } from './store/store.js';
import { StoreConflictError, StoreUnavailableError } from './store/store.js';

/** Buckets (seconds) for API requests: a cached GET to a listing of 100,000 components. */
const REQUEST_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Buckets (seconds) for store operations: one Redis round trip to a full scan. */
const STORE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The route label of a request no route matched (404s of unknown paths): never the raw path. */
const UNMATCHED_ROUTE = 'unmatched';

export class ApiMetrics {
  readonly requestDuration: Histogram<'route' | 'method' | 'status'>;
  readonly inFlight: Gauge;
  readonly storeDuration: Histogram<'operation' | 'outcome'>;
  readonly changeEvents: Counter<'kind' | 'op'>;

  constructor(readonly registry: Registry) {
    const registers = [registry];
    this.requestDuration = new Histogram({
      name: 'bos_api_request_duration_seconds',
      help: 'API requests by route template (without URL prefix), method and status code, and how long they took',
      labelNames: ['route', 'method', 'status'],
      buckets: REQUEST_BUCKETS,
      registers,
    });
    this.inFlight = new Gauge({ name: 'bos_api_requests_in_flight', help: 'API requests received and not yet answered', registers });
    this.storeDuration = new Histogram({
      name: 'bos_api_store_operation_duration_seconds',
      help: 'Store operations of the API by operation (e.g. components.update) and outcome (ok, unavailable, conflict, error)',
      labelNames: ['operation', 'outcome'],
      buckets: STORE_BUCKETS,
      registers,
    });
    this.changeEvents = new Counter({
      name: 'bos_api_change_events_published_total',
      help: 'Change events the API published for the operators, by kind of record and operation',
      labelNames: ['kind', 'op'],
      registers,
    });
  }

  /**
   * Expose the store's statistics (listing cache, Redis connection), read at each scrape. A store
   * without them (the memory store) has none of these series, rather than zeros that would read as
   * "Redis down".
   */
  watchStore(store: Store): void {
    if (!store.stats) return;
    const stats = () => store.stats!();
    const registers = [this.registry];
    new Gauge({
      name: 'bos_api_listing_cache_records',
      help: 'Component records held by the listing cache of the Redis store',
      registers,
      collect() {
        const c = stats().listingCache;
        if (c) this.set(c.records);
      },
    });
    new Counter({
      name: 'bos_api_listing_cache_reads_total',
      help: 'Component records read through the listing cache, by result: hit (the cached record was used) or miss (parsed from Redis)',
      labelNames: ['result'],
      registers,
      collect() {
        const c = stats().listingCache;
        if (!c) return;
        // Totals kept by the store: the counter is set to them (reset and incremented), never decreasing.
        this.reset();
        this.inc({ result: 'hit' }, c.hits);
        this.inc({ result: 'miss' }, c.misses);
      },
    });
    new Gauge({
      name: 'bos_api_redis_connected',
      help: '1 while every open connection of the Redis store is ready, 0 while one is connecting or reconnecting',
      registers,
      collect() {
        this.set(stats().connected === false ? 0 : 1);
      },
    });
  }
}

/** The outcome label of a store operation that threw. */
function storeOutcome(err: unknown): string {
  if (err instanceof StoreConflictError) return 'conflict';
  if (err instanceof StoreUnavailableError) return 'unavailable';
  return 'error';
}

/** Record every request of `app` in `metrics` (call before the routes are added). */
export function installRequestMetrics(app: FastifyInstance, metrics: ApiMetrics): void {
  const started = new WeakMap<FastifyRequest, number>();
  app.addHook('onRequest', async (req) => {
    started.set(req, performance.now());
    metrics.inFlight.inc();
  });
  app.addHook('onResponse', async (req, reply) => {
    const t0 = started.get(req);
    if (t0 === undefined) return;
    started.delete(req);
    metrics.inFlight.dec();
    metrics.requestDuration.observe({ route: routeTemplate(req) ?? UNMATCHED_ROUTE, method: req.method, status: String(reply.statusCode) }, (performance.now() - t0) / 1000);
  });
  // A request whose client went away is never answered: it leaves the in-flight count all the same.
  app.addHook('onRequestAbort', async (req) => {
    if (started.delete(req)) metrics.inFlight.dec();
  });
}

type Observe = (operation: string, outcome: string, seconds: number) => void;

/** `fn` with every call's duration and outcome told to `observe` under `operation`. */
function timed<A extends unknown[], R>(operation: string, observe: Observe, fn: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args: A) => {
    const t0 = performance.now();
    try {
      const out = await fn(...args);
      observe(operation, 'ok', (performance.now() - t0) / 1000);
      return out;
    } catch (err) {
      observe(operation, storeOutcome(err), (performance.now() - t0) / 1000);
      throw err;
    }
  };
}

/** An object with the named methods of `source` timed as `<prefix>.<method>`. */
function timedMethods<T extends object, K extends keyof T & string>(source: T, prefix: string, names: readonly K[], observe: Observe): Pick<T, K> {
  const out = {} as Pick<T, K>;
  for (const name of names) {
    const method = source[name] as unknown as (...args: unknown[]) => Promise<unknown>;
    (out as Record<string, unknown>)[name] = timed(`${prefix}.${name}`, observe, method.bind(source));
  }
  return out;
}

const COMPONENT_OPS = ['get', 'getMany', 'getManyShared', 'ids', 'list', 'listShared', 'update', 'putMany', 'delete', 'count'] as const;
const TABLE_OPS = ['get', 'put', 'update', 'delete', 'list'] as const;

/** A Store that tells `metrics` the duration and outcome of every operation, whatever the store behind it. */
export function withStoreMetrics(store: Store, metrics: ApiMetrics): Store {
  const observe: Observe = (operation, outcome, seconds) => metrics.storeDuration.observe({ operation, outcome }, seconds);
  const wrapped: Store = {
    kind: store.kind,
    components: timedMethods(store.components, 'components', COMPONENT_OPS, observe),
    templates: timedMethods(store.templates, 'templates', TABLE_OPS, observe),
    sessions: timedMethods(store.sessions, 'sessions', TABLE_OPS, observe),
    sessionStatus: timedMethods(store.sessionStatus, 'sessionStatus', TABLE_OPS, observe),
    bootArtifacts: timedMethods(store.bootArtifacts, 'bootArtifacts', ['get', 'put'], observe),
    getOptions: timed('options.get', observe, () => store.getOptions()),
    putOptions: timed('options.put', observe, (o) => store.putOptions(o)),
    updateOptions: timed('options.update', observe, (change) => store.updateOptions(change)),
    ping: timed('ping', observe, () => store.ping()),
    close: () => store.close(),
  };
  if (store.stats) wrapped.stats = () => store.stats!();
  return wrapped;
}

/** A change bus that counts what is published through it. */
export function countedBus(bus: ChangeBus, metrics: ApiMetrics): ChangeBus {
  return {
    publish: (event) => {
      metrics.changeEvents.inc({ kind: event.kind, op: event.op });
      bus.publish(event);
    },
    subscribe: (listener) => bus.subscribe(listener),
    close: () => bus.close(),
  };
}

/**
 * The API's store as every API process runs it: writes publish change events on `bus` (counted),
 * every operation is timed, and the store's own statistics are read at each scrape. Without a bus
 * (the memory store of `bos serve`) nothing is published.
 */
export function observedStore<B extends ChangeBus | undefined>(base: Store, bus: B, metrics: ApiMetrics): { store: Store; bus: B } {
  const counted = (bus && countedBus(bus, metrics)) as B;
  const store = withStoreMetrics(counted ? withChangeEvents(base, counted) : base, metrics);
  metrics.watchStore(store);
  return { store, bus: counted };
}
