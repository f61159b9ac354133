/**
 * The API's metrics (docs/observability.md): requests labelled by route template whatever the prefix
 * and the id in the path, the in-flight gauge back at zero, store operations by name and outcome,
 * change events counted, and the Redis store's listing cache and connection read at each scrape.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { buildApp } from '../../src/server/app.js';
import { ApiMetrics, countedBus, withStoreMetrics } from '../../src/server/metrics.js';
import { MemoryStore } from '../../src/server/store/memory.js';
import { RedisStore } from '../../src/server/store/redis/index.js';
import { StoreConflictError, StoreUnavailableError, type Store } from '../../src/server/store/store.js';
import { LocalChangeBus } from '../../src/events/bus.js';
import { withChangeEvents } from '../../src/events/store.js';
import { startRedis } from '../helpers/redis.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** The value of one sample of the exposition text, or undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    const m = /^([a-z_:]+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = (m[2] ?? '').split(',').filter(Boolean);
    if (want.every((w) => have.includes(w))) return Number(m[3]);
  }
  return undefined;
}

async function appWithMetrics(store: Store = new MemoryStore()) {
  const metrics = new ApiMetrics(new Registry());
  const wrapped = withStoreMetrics(store, metrics);
  metrics.watchStore(wrapped);
  const app = await buildApp({ store: wrapped, logger: false, prefixes: ['', '/apis/bos'], metrics });
  cleanups.push(() => app.close());
  return { app, metrics };
}

describe('API request metrics', () => {
  it('label requests by route template, without prefix or ids, and serve them at /metrics', async () => {
    const { app } = await appWithMetrics();
    await app.inject({ method: 'PUT', url: '/v2/components', payload: [{ id: 'x1000c0s0b0n0' }, { id: 'x1000c0s0b0n1' }] });
    await app.inject({ method: 'GET', url: '/v2/components/x1000c0s0b0n0' });
    await app.inject({ method: 'GET', url: '/apis/bos/v2/components/x1000c0s0b0n1' });
    await app.inject({ method: 'GET', url: '/v2/components/x9999c0s0b0n0' });
    await app.inject({ method: 'GET', url: '/no/such/path/x1000c0s0b0n0' });
    const r = await app.inject({ method: 'GET', url: '/metrics' });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = r.body;
    const count = (labels: Record<string, string>) => sample(text, 'bos_api_request_duration_seconds_count', labels);
    expect(count({ route: '/v2/components/:component_id', method: 'GET', status: '200' })).toBe(2);
    expect(count({ route: '/v2/components/:component_id', method: 'GET', status: '404' })).toBe(1);
    expect(count({ route: '/v2/components', method: 'PUT', status: '200' })).toBe(1);
    expect(count({ route: 'unmatched', method: 'GET', status: '404' })).toBe(1);
    expect(text).not.toMatch(/x\d+c\d+s\d+b\d+n\d+/);
    // Every request answered has left the gauge: only the scrape itself is in flight.
    expect(sample(text, 'bos_api_requests_in_flight')).toBe(1);
    // The memory store has no listing cache and no Redis: those series are absent, not zero.
    expect(sample(text, 'bos_api_redis_connected')).toBeUndefined();
    expect(sample(text, 'bos_api_listing_cache_records')).toBeUndefined();
  });

  it('time store operations by name and outcome', async () => {
    const { app } = await appWithMetrics();
    await app.inject({ method: 'PUT', url: '/v2/components', payload: [{ id: 'x1000c0s0b0n0' }] });
    await app.inject({ method: 'PATCH', url: '/v2/components/x1000c0s0b0n0', payload: { enabled: true } });
    const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(sample(text, 'bos_api_store_operation_duration_seconds_count', { operation: 'components.putMany', outcome: 'ok' })).toBe(1);
    expect(sample(text, 'bos_api_store_operation_duration_seconds_count', { operation: 'components.update', outcome: 'ok' })).toBeGreaterThanOrEqual(1);
  });
});

describe('store metrics', () => {
  it('give the plain store\'s answers and name each failure\'s outcome', async () => {
    const metrics = new ApiMetrics(new Registry());
    const plain = new MemoryStore();
    let fail: Error | undefined;
    const count = plain.components.count.bind(plain.components);
    plain.components.count = async () => {
      if (fail) throw fail;
      return count();
    };
    const store = withStoreMetrics(plain, metrics);
    await plain.components.putMany([{ id: 'x1' }]);
    expect(await store.components.count()).toBe(1);
    fail = new StoreUnavailableError('down');
    await expect(store.components.count()).rejects.toBe(fail);
    fail = new StoreConflictError('x1', 30);
    await expect(store.components.count()).rejects.toBe(fail);
    fail = new Error('bad');
    await expect(store.components.count()).rejects.toBe(fail);
    const text = await metrics.registry.metrics();
    for (const outcome of ['ok', 'unavailable', 'conflict', 'error']) {
      expect(sample(text, 'bos_api_store_operation_duration_seconds_count', { operation: 'components.count', outcome }), outcome).toBe(1);
    }
  });

  it('count change events as they are published', async () => {
    const metrics = new ApiMetrics(new Registry());
    const bus = countedBus(new LocalChangeBus(), metrics);
    const seen: string[] = [];
    bus.subscribe((e) => seen.push(`${e.kind}/${e.op}`));
    const store = withChangeEvents(new MemoryStore(), bus);
    await store.components.putMany([{ id: 'x1' }, { id: 'x2' }]);
    await store.putOptions({ a: 1 });
    await bus.close();
    const text = await metrics.registry.metrics();
    expect(sample(text, 'bos_api_change_events_published_total', { kind: 'components', op: 'put' })).toBe(1);
    expect(sample(text, 'bos_api_change_events_published_total', { kind: 'options', op: 'put' })).toBe(1);
  });

  it('read the Redis store\'s listing cache and connection at each scrape', async () => {
    const redis = await startRedis();
    cleanups.push(() => redis.stop());
    const store = await RedisStore.connect({ url: redis.url });
    cleanups.push(() => store.close());
    const { app } = await appWithMetrics(store);
    await app.inject({ method: 'PUT', url: '/v2/components', payload: Array.from({ length: 20 }, (_, i) => ({ id: `x1000c0s${i}b0n0` })) });
    await app.inject({ method: 'GET', url: '/v2/components' });
    const first = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    await app.inject({ method: 'GET', url: '/v2/components' });
    const second = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(sample(second, 'bos_api_listing_cache_records')).toBe(20);
    // The second listing used the cached records: hits grew by every record, misses did not.
    const hits = (t: string) => sample(t, 'bos_api_listing_cache_reads_total', { result: 'hit' }) ?? 0;
    const misses = (t: string) => sample(t, 'bos_api_listing_cache_reads_total', { result: 'miss' }) ?? 0;
    expect(hits(second) - hits(first)).toBe(20);
    expect(misses(second)).toBe(misses(first));
    expect(sample(second, 'bos_api_redis_connected')).toBe(1);

    await redis.stop();
    expect((await app.inject({ method: 'GET', url: '/v2/components/x1000c0s0b0n0' })).statusCode).toBe(503);
    const down = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(sample(down, 'bos_api_redis_connected')).toBe(0);
    expect(sample(down, 'bos_api_store_operation_duration_seconds_count', { operation: 'options.get', outcome: 'unavailable' })).toBeGreaterThanOrEqual(1);
  }, 30_000);
});
