import { afterEach, describe, expect, it } from 'vitest';
import { LocalChangeBus, type ChangeEvent } from '../../src/events/bus.js';

const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('LocalChangeBus', () => {
  let bus: LocalChangeBus;
  afterEach(async () => bus?.close());

  it('coalesces a burst of component events into one event carrying the total count', async () => {
    bus = new LocalChangeBus({ windowMs: 5 });
    const got: ChangeEvent[] = [];
    bus.subscribe((e) => got.push(e));
    for (let i = 0; i < 1000; i++) bus.publish({ kind: 'components', op: 'report' });
    bus.publish({ kind: 'components', op: 'patch', count: 7 });
    await settle(30);
    expect(got).toHaveLength(2);
    expect(got.find((e) => e.op === 'report')?.count).toBe(1000);
    expect(got.find((e) => e.op === 'patch')?.count).toBe(7);
  });

  it('keeps events of different sessions apart and stops delivering after unsubscribe', async () => {
    bus = new LocalChangeBus({ windowMs: 5 });
    const got: ChangeEvent[] = [];
    const off = bus.subscribe((e) => got.push(e));
    bus.publish({ kind: 'sessions', op: 'create', name: 'a' });
    bus.publish({ kind: 'sessions', op: 'create', name: 'b' });
    await settle(30);
    expect(got.map((e) => e.name).sort()).toEqual(['a', 'b']);
    off();
    bus.publish({ kind: 'sessions', op: 'create', name: 'c' });
    await settle(30);
    expect(got).toHaveLength(2);
  });
});

describe('RedisChangeBus', () => {
  it('carries coalesced events from one process to subscribers of another through a real redis-server', async () => {
    const { RedisChangeBus } = await import('../../src/events/bus.js');
    const { startRedis } = await import('../helpers/redis.js');
    const redis = await startRedis();
    const publisher = new RedisChangeBus(redis.url, {}, { windowMs: 5 });
    const subscriber = new RedisChangeBus(redis.url, {}, { windowMs: 5 });
    try {
      const got: ChangeEvent[] = [];
      subscriber.subscribe((e) => got.push(e));
      await subscriber.ready();
      for (let i = 0; i < 50; i++) publisher.publish({ kind: 'components', op: 'report' });
      publisher.publish({ kind: 'sessions', op: 'put', name: 's1' });
      const deadline = Date.now() + 5000;
      while (got.length < 2 && Date.now() < deadline) await settle(20);
      expect(got.find((e) => e.kind === 'components')?.count).toBe(50);
      expect(got.find((e) => e.kind === 'sessions')?.name).toBe('s1');
      expect(got).toHaveLength(2);
    } finally {
      await publisher.close();
      await subscriber.close();
      await redis.stop();
    }
  });
});
