import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MemoryBootArtifacts,
  RedisBootArtifacts,
  serializeRecord,
  storeBootArtifacts,
} from '../../src/clients/boot-artifacts.js';
import { ServiceError } from '../../src/clients/types.js';
import { MemoryStore } from '../../src/server/store/memory.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

const record = { kernel: 's3://b/k', kernel_parameters: 'console=ttyS0', initrd: 's3://b/i', timestamp: '2026-01-01T00:00:00' };

describe('boot-artifact records in Redis', () => {
  let redis: TestRedis;
  let probe: Redis;
  beforeAll(async () => {
    redis = await startRedis();
    probe = new Redis(redis.url, { db: 4 });
  });
  afterAll(async () => {
    probe?.disconnect();
    await redis?.stop();
  });

  it('stores the JSON record under the bare token in DB 4', async () => {
    const calls: string[] = [];
    const r = new RedisBootArtifacts(`${redis.url}/0`, { onRequest: (s, m, o) => calls.push(`${s} ${m} ${o}`) });
    try {
      await r.put('tok-1', record);
      expect(await probe.get('tok-1')).toBe(
        '{"kernel":"s3://b/k","kernel_parameters":"console=ttyS0","initrd":"s3://b/i","timestamp":"2026-01-01T00:00:00"}',
      );
      expect(await r.get('tok-1')).toEqual(record);
      expect(await r.get('unknown')).toBeUndefined();
      expect(calls).toEqual(['redis SET ok', 'redis GET ok', 'redis GET ok']);
      const db0 = new Redis(redis.url, { db: 0 });
      expect(await db0.get('tok-1')).toBeNull();
      db0.disconnect();
    } finally {
      await r.close();
    }
  });

  it('reconnects and retries once when the connection was dropped', async () => {
    const r = new RedisBootArtifacts(redis.url);
    try {
      await r.put('tok-2', record);
      await probe.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
      expect(await r.get('tok-2')).toEqual(record);
    } finally {
      await r.close();
    }
  });

  it('an unreachable Redis is a ServiceError naming host and DB, not credentials', async () => {
    const r = new RedisBootArtifacts('redis://user:hunter22@127.0.0.1:1', { connectTimeoutMs: 200 });
    try {
      const err = await r.get('tok').then(
        () => undefined,
        (e: unknown) => e as ServiceError,
      );
      expect(err).toBeInstanceOf(ServiceError);
      expect(err!.service).toBe('redis');
      expect(err!.message).toMatch(/^Redis at 127\.0\.0\.1:1 \(DB 4\) failed a GET: /);
      expect(err!.message).not.toContain('hunter22');
    } finally {
      await r.close();
    }
  });
});

describe('in-memory records', () => {
  it('wrap a Store: what power-on writes the API store reads', async () => {
    const store = new MemoryStore();
    const records = storeBootArtifacts(store);
    const mine = { ...record };
    await records.put('tok', mine);
    mine.kernel = 'changed';
    expect(await store.bootArtifacts.get('tok')).toEqual(record);
    expect(await records.get('tok')).toEqual(record);
  });

  it('standalone memory records copy in and out', async () => {
    const m = new MemoryBootArtifacts();
    await m.put('t', record);
    const got = (await m.get('t'))!;
    got.kernel = 'x';
    expect((await m.get('t'))!.kernel).toBe('s3://b/k');
  });

  it('serialises exactly the four keys', () => {
    expect(Object.keys(JSON.parse(serializeRecord({ ...record, extra: 1 } as typeof record)))).toEqual([
      'kernel',
      'kernel_parameters',
      'initrd',
      'timestamp',
    ]);
  });
});
