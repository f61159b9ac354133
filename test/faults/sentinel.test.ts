/**
 * Redis high availability: the BOS database as a primary with two replicas watched by three Redis
 * Sentinels. The primary is killed mid-boot (SIGKILL, append-only files on); Sentinel promotes a
 * replica, the API and the operators reconnect through the sentinels, the session completes, and
 * no write the API acknowledged is lost (writes wait for one replica: BOS_REDIS_WAIT_REPLICAS=1).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { RunningSystem } from '../../src/system.js';
import { RedisStore } from '../../src/server/store/redis/index.js';
import { StoreUnavailableError } from '../../src/server/store/store.js';
import { Redis } from 'ioredis';
import { connectionEpoch, waitForReplicas } from '../../src/clients/redis-wait.js';
import { startSentinels, type TestSentinels } from '../helpers/sentinel.js';
import { bootTemplate, bos, checkOutcome, sleep, startFaultSystem, startSession, until, waitComplete, waitDiscovered, x86ComputeNodes } from './harness.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
}, 90_000);

describe('Redis Sentinel failover', () => {
  it('the primary killed mid-boot: a replica is promoted, the session completes, no acknowledged write is lost', async () => {
    const sentinels: TestSentinels = await startSentinels({ replicas: 2, downAfterMs: 1000 });
    cleanups.push(() => sentinels.stop());
    // Nodes take 4 s to boot once powered on: their reports and the rest of the boot come after the failover.
    const sys: RunningSystem = await startFaultSystem({ redisUrl: sentinels.url, redisWaitReplicas: 1, redisWaitTimeoutSeconds: 2, knobs: { bootDelayMs: 4000 } });
    cleanups.push(() => sys.close());
    const call = bos(sys.bosUrl);
    await waitDiscovered(call, sys.room);
    const nodes = x86ComputeNodes(sys.room);
    const session = await startSession(call, bootTemplate());

    // Alongside the boot, a writer keeps setting options and creating templates; it notes every write
    // the API acknowledged.
    const acknowledged: string[] = [];
    const ackedAt = new Map<string, number>();
    let killAt = 0;
    const refusals: string[] = [];
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        const name = `ack-${i}`;
        const r = await call('PUT', `/sessiontemplates/${name}`, bootTemplate()).catch((e: unknown) => ({ status: 0, body: String(e) }));
        // Refused while no primary answers (503): not acknowledged, so the test does not look for it.
        if (r.status === 200) {
          acknowledged.push(name);
          ackedAt.set(name, Date.now());
        } else refusals.push(`${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
        await sleep(20);
      }
    })();

    await until('the first power-on', async () => sys.room.transitions.size > 0, 30_000, 10);
    const primary = await sentinels.primaryPort();
    expect(primary).toBe(sentinels.ports[0]);
    const before = acknowledged.length;
    // Mid-boot: powered on, not yet booted (the reports come once the failover has begun).
    expect(nodes.some((id) => !sys.room.node(id)!.booted)).toBe(true);
    killAt = Date.now();
    await sentinels.kill(primary);
    const promoted = await sentinels.waitFailover(primary, 1);
    expect(sentinels.ports).toContain(promoted);
    expect((await call('GET', `/sessions/${session}`)).body.status.status).not.toBe('complete');
    await until('a write acknowledged after the failover', async () => acknowledged.length > before + 5, 30_000, 100).catch((e: Error) => {
      throw new Error(`${e.message}; the last refusals: ${refusals.slice(-3).join(' | ')}`);
    });

    await waitComplete(call, session, 90_000);
    writing = false;
    await writer;
    const { stable } = await checkOutcome(sys, call, session, { nodes, services: ['redis', 'bos'], templates: ['faults'] });
    expect(stable.length).toBe(nodes.length);
    for (const id of nodes) expect(sys.room.node(id)!.booted).toBe(true);

    // Every template the API acknowledged is there, on the promoted primary.
    const listed = await call('GET', '/sessiontemplates');
    const names = new Set(listed.body.map((t: { name: string }) => t.name));
    const lost = acknowledged.filter((n) => !names.has(n));
    // On a loss, where it fell: the writes acknowledged before the kill, and when each lost one was.
    const when = lost.map((n) => `${n} at kill${(ackedAt.get(n) ?? 0) - killAt >= 0 ? '+' : ''}${(ackedAt.get(n) ?? 0) - killAt} ms`);
    expect(lost, `${acknowledged.length} acknowledged, ${before} before the kill; lost: ${when.join(', ')}`).toEqual([]);
    expect(acknowledged.length).toBeGreaterThan(10);
  }, 150_000);

  it('a write waits for a replica: with every replica stopped it is answered 503 naming them, once they are back it is acknowledged', async () => {
    const sentinels = await startSentinels({ replicas: 1, downAfterMs: 5000 });
    cleanups.push(() => sentinels.stop());
    const store = await RedisStore.connect({ url: sentinels.url, waitReplicas: 1, waitTimeoutSeconds: 0.5 });
    cleanups.push(() => store.close());
    await store.components.putMany([{ id: 'x1', enabled: false }]);
    sentinels.pause(sentinels.ports[1]!);
    try {
      const err = await store.components.update(['x1'], (c) => ({ ...c!, enabled: true })).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreUnavailableError);
      expect((err as Error).message).toMatch(/took the write, but only 0 of the 1 replica\(s\) asked for confirmed it within 0.5 s: it may be lost if the primary fails now\. Check that the replicas are running/);
      const optionsErr = await store.putOptions({ a: 1 }).catch((e: unknown) => e);
      expect((optionsErr as Error).message).toMatch(/only 0 of the 1 replica/);
    } finally {
      sentinels.resume(sentinels.ports[1]!);
    }
    await store.components.update(['x1'], (c) => ({ ...c!, error: 'acknowledged' }));
    expect(await store.components.get('x1')).toMatchObject({ error: 'acknowledged' });
  }, 60_000);

  it('a write waits for every connected replica, not only the minimum, and on the connection that made it', async () => {
    const sentinels = await startSentinels({ replicas: 2, downAfterMs: 5000 });
    cleanups.push(() => sentinels.stop());
    const primary = new Redis({ host: '127.0.0.1', port: sentinels.ports[0]!, lazyConnect: true });
    cleanups.push(async () => primary.disconnect());
    await primary.connect();
    await primary.set('k', '1');
    expect(await waitForReplicas(primary, connectionEpoch(primary), 1, 2000)).toEqual({ got: 2, asked: 2 });
    // One replica stopped: the minimum of one is met, and the wait still asked for both.
    sentinels.pause(sentinels.ports[2]!);
    try {
      await primary.set('k', '2');
      expect(await waitForReplicas(primary, connectionEpoch(primary), 1, 300)).toEqual({ got: 1, asked: 2 });
    } finally {
      sentinels.resume(sentinels.ports[2]!);
    }
    // A connection that reconnected between the write and the wait confirms nothing of that write.
    const epoch = connectionEpoch(primary);
    await primary.set('k', '3');
    const ready = new Promise((r) => primary.once('ready', r));
    primary.disconnect(true);
    await ready;
    expect(await waitForReplicas(primary, epoch, 1, 2000)).toEqual({ got: 0, asked: 2, reconnected: true });
  }, 60_000);
});
