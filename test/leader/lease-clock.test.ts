/**
 * Leader election driven by a FakeClock over the in-memory Lease store (same conflict rules as the
 * HTTP fake): exact timing bounds and a property over random kill/partition schedules.
 */
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { FakeClock } from '../../src/common/clock.js';
import { LeaderElectionConfigError, LeaderElector } from '../../src/leader/lease.js';
import type { LeadershipGate as RunnerGate } from '../../src/operators/runner.js';
import { LeaseStore, memoryLeaseApi } from './fake-lease-server.js';

const NS = 'services';
const LEASE = 'cray-bos-operators';
const DUR = { leaseDurationSeconds: 2, renewDeadlineSeconds: 1, retryPeriodSeconds: 0.2 };
const STEP = 10;

const flush = () => new Promise<void>((r) => setImmediate(r));

interface Harness {
  clock: FakeClock;
  store: LeaseStore;
  electors: LeaderElector[];
  events: { t: number; id: string; ev: 'start' | 'stop' }[];
  /** Advance virtual time, checking at every step that at most one elector leads. */
  run(ms: number, onStep?: () => void): Promise<void>;
  leaders(): string[];
}

function harness(ids: string[]): Harness {
  const clock = new FakeClock(Date.UTC(2026, 0, 1));
  const store = new LeaseStore();
  const events: Harness['events'] = [];
  const electors = ids.map((id) => {
    const e = new LeaderElector({ namespace: NS, leaseName: LEASE, identity: id, ...DUR, clock, api: memoryLeaseApi(store, id) });
    e.on('startedLeading', () => events.push({ t: clock.now(), id, ev: 'start' }));
    e.on('stoppedLeading', () => events.push({ t: clock.now(), id, ev: 'stop' }));
    return e;
  });
  const leaders = () => electors.filter((e) => e.isLeader()).map((e) => e.identity);
  return {
    clock,
    store,
    electors,
    events,
    leaders,
    async run(ms, onStep) {
      for (let t = 0; t < ms; t += STEP) {
        clock.advance(STEP);
        for (let i = 0; i < 4; i++) await flush();
        onStep?.();
        expect(leaders().length).toBeLessThanOrEqual(1);
      }
    },
  };
}

let current: Harness | undefined;
afterEach(async () => {
  if (!current) return;
  current.store.dropAll();
  const h = current;
  const stops = h.electors.map((e) => e.stop());
  for (let i = 0; i < 300; i++) {
    h.clock.advance(STEP);
    await flush();
  }
  await Promise.all(stops);
  current = undefined;
});

describe('LeaderElector settings', () => {
  const api = memoryLeaseApi(new LeaseStore(), 'x');
  it('rejects a renew deadline that is not shorter than the lease duration', () => {
    expect(() => new LeaderElector({ namespace: NS, leaseName: LEASE, identity: 'a', api, leaseDurationSeconds: 10, renewDeadlineSeconds: 10 })).toThrow(
      LeaderElectionConfigError,
    );
    expect(() => new LeaderElector({ namespace: NS, leaseName: LEASE, identity: 'a', api, leaseDurationSeconds: 10, renewDeadlineSeconds: 12 })).toThrow(
      /renewDeadlineSeconds \(12\) must be less than leaseDurationSeconds \(10\)/,
    );
  });
  it('rejects a retry period not shorter than the renew deadline, and empty identity', () => {
    expect(() => new LeaderElector({ namespace: NS, leaseName: LEASE, identity: 'a', api, renewDeadlineSeconds: 2, retryPeriodSeconds: 2 })).toThrow(
      /retryPeriodSeconds/,
    );
    expect(() => new LeaderElector({ namespace: NS, leaseName: LEASE, identity: '', api })).toThrow(/identity/);
  });
  it('defaults to 15 / 10 / 2 seconds', () => {
    const e = new LeaderElector({ namespace: NS, leaseName: LEASE, identity: 'a', api });
    expect([e.leaseDurationMs, e.renewDeadlineMs, e.retryPeriodMs]).toEqual([15000, 10000, 2000]);
  });
});

describe('LeaderElector with a driven clock', () => {
  it('one of two candidates leads, writes holderIdentity and keeps renewing', async () => {
    const h = (current = harness(['a', 'b']));
    h.electors.forEach((e) => e.start());
    await h.run(3000);
    expect(h.leaders()).toHaveLength(1);
    const leader = h.leaders()[0]!;
    const lease = h.store.get(NS, LEASE)!;
    expect(lease.spec.holderIdentity).toBe(leader);
    expect(lease.spec.leaseDurationSeconds).toBe(2);
    expect(lease.spec.leaseTransitions).toBe(0);
    // Renewed about every retry period: 3 s / 0.2 s.
    const renewals = h.store.writes.filter((w) => w.holder === leader).length;
    expect(renewals).toBeGreaterThanOrEqual(10);
    expect(new Set(h.store.writes.map((w) => w.holder))).toEqual(new Set([leader]));
  });

  it('the standby takes over within leaseDuration + retryPeriod after the leader dies, never before expiry', async () => {
    const h = (current = harness(['a', 'b']));
    h.electors.forEach((e) => e.start());
    await h.run(1000);
    const leader = h.leaders()[0]!;
    const standby = h.electors.find((e) => e.identity !== leader)!;
    h.store.kill(leader);
    const killedAt = h.clock.now();
    const lastRenew = Date.parse(h.store.get(NS, LEASE)!.spec.renewTime as string);
    let tookOver = NaN;
    await h.run(3500, () => {
      if (Number.isNaN(tookOver) && standby.isLeader()) tookOver = h.clock.now();
    });
    expect(tookOver).not.toBeNaN();
    expect(tookOver - lastRenew).toBeGreaterThan(2000);
    expect(tookOver - killedAt).toBeLessThanOrEqual(2000 + 200 + STEP);
    const lease = h.store.get(NS, LEASE)!;
    expect(lease.spec.holderIdentity).toBe(standby.identity);
    expect(lease.spec.leaseTransitions).toBe(1);
    // The dead leader stopped acting at its renew deadline, before the standby started.
    const stop = h.events.find((e) => e.id === leader && e.ev === 'stop')!;
    const start = h.events.filter((e) => e.id === standby.identity && e.ev === 'start').at(-1)!;
    expect(stop.t).toBeLessThan(start.t);
    expect(stop.t - lastRenew).toBeLessThanOrEqual(1000 + STEP);
  });

  it('stop() releases the lease and the standby takes over within one retry period', async () => {
    const h = (current = harness(['a', 'b']));
    h.electors.forEach((e) => e.start());
    await h.run(1000);
    const leader = h.electors.find((e) => e.isLeader())!;
    const standby = h.electors.find((e) => e !== leader)!;
    const stopping = leader.stop();
    expect(leader.isLeader()).toBe(false);
    const stoppedAt = h.clock.now();
    let tookOver = NaN;
    await h.run(1000, () => {
      if (Number.isNaN(tookOver) && standby.isLeader()) tookOver = h.clock.now();
    });
    await stopping;
    expect(h.store.writes.some((w) => w.instance === leader.identity && w.holder === '')).toBe(true);
    expect(tookOver - stoppedAt).toBeLessThanOrEqual(200 + 2 * STEP);
    expect(h.store.get(NS, LEASE)!.spec.leaseTransitions).toBe(1);
  });

  it('waitForLeadership resolves on becoming leader; leadershipSignal aborts when the term ends', async () => {
    const h = (current = harness(['a']));
    const [a] = h.electors as [LeaderElector];
    let resolved = false;
    void a.waitForLeadership().then(() => (resolved = true));
    expect(a.leadershipSignal().aborted).toBe(true);
    a.start();
    await h.run(100);
    expect(resolved).toBe(true);
    const term = a.leadershipSignal();
    expect(term.aborted).toBe(false);
    h.store.partition('a', 'fail');
    await h.run(1200);
    expect(a.isLeader()).toBe(false);
    expect(term.aborted).toBe(true);
    h.store.heal('a');
    await h.run(500);
    expect(a.isLeader()).toBe(true);
  });

  it('never two leaders, and a cut-off leader stops before another starts, over random fault schedules', async () => {
    type Ev = { at: number; who: number; what: 'kill' | 'fail' | 'hang' | 'heal' | 'heal-drop' };
    const ev = fc.record({
      at: fc.integer({ min: 0, max: 6000 }),
      who: fc.integer({ min: 0, max: 2 }),
      what: fc.constantFrom<Ev['what']>('kill', 'fail', 'hang', 'heal', 'heal-drop'),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(ev, { maxLength: 8 }), async (schedule) => {
        const ids = ['a', 'b', 'c'];
        const h = harness(ids);
        try {
          h.electors.forEach((e) => e.start());
          const todo = [...schedule].sort((x, y) => x.at - y.at);
          let elapsed = 0;
          await h.run(7000, () => {
            elapsed += STEP;
            while (todo.length && todo[0]!.at <= elapsed) {
              const e = todo.shift()!;
              const id = ids[e.who]!;
              if (e.what === 'kill') h.store.kill(id);
              else if (e.what === 'fail' || e.what === 'hang') h.store.partition(id, e.what);
              else h.store.heal(id, { drop: e.what === 'heal-drop' });
            }
          });
          // Terms never overlap: whenever someone starts leading, every earlier leader has stopped.
          const leading = new Set<string>();
          for (const e of h.events) {
            if (e.ev === 'start') {
              expect([...leading]).toEqual([]);
              leading.add(e.id);
            } else leading.delete(e.id);
          }
          // Liveness: with everyone healed, someone that is alive leads again.
          for (const id of ids) h.store.heal(id);
          const alive = ids.filter((id) => h.store.fault(id) !== 'dead');
          await h.run(2500);
          if (alive.length > 0) expect(alive).toContain(h.leaders()[0]);
        } finally {
          h.store.dropAll();
          const stops = h.electors.map((e) => e.stop());
          for (let i = 0; i < 200; i++) {
            h.clock.advance(STEP);
            await flush();
          }
          await Promise.all(stops);
        }
      }),
      { numRuns: 25 },
    );
  }, 120_000);
});

describe('startLeaderElection', () => {
  it('is an always-open gate when leader election is off', async () => {
    const { startLeaderElection } = await import('../../src/leader/index.js');
    const { loadConfig } = await import('../../src/config.js');
    const off = startLeaderElection(loadConfig({}));
    expect(off.elector).toBeUndefined();
    expect(off.gate.isLeader()).toBe(true);
    await off.gate.waitForLeadership();
    await off.stop();
  });

  it('builds an elector from the settings and its gate opens once it holds the Lease', async () => {
    const { startLeaderElection } = await import('../../src/leader/index.js');
    const { loadConfig } = await import('../../src/config.js');
    const clock = new FakeClock(Date.UTC(2026, 0, 1));
    const store = new LeaseStore();
    const cfg = loadConfig({ KUBERNETES_SERVICE_HOST: '10.96.0.1', POD_NAME: 'ops-0', POD_NAMESPACE: 'services', BOS_LEASE_NAME: 'bos-ops' });
    const on = startLeaderElection(cfg, { api: memoryLeaseApi(store, 'ops-0'), clock });
    // The gate is what the operators' runner takes as `leadership`.
    const runnerGate: RunnerGate = on.gate;
    let opened = false;
    void runnerGate.waitForLeadership().then(() => (opened = true));
    for (let i = 0; i < 10; i++) {
      clock.advance(STEP);
      await flush();
    }
    expect(opened).toBe(true);
    expect(on.gate.isLeader()).toBe(true);
    expect(store.get('services', 'bos-ops')!.spec.holderIdentity).toBe('ops-0');
    expect(on.elector!.leaseDurationMs).toBe(15_000);
    const stopping = on.stop();
    for (let i = 0; i < 10; i++) {
      clock.advance(STEP);
      await flush();
    }
    await stopping;
    expect(on.gate.isLeader()).toBe(false);
    expect(store.get('services', 'bos-ops')!.spec.holderIdentity).toBe('');
  });
});
