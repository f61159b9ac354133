/**
 * Leader election through the real @kubernetes/client-node against a loopback fake of the Lease
 * endpoints. Real time with short durations (lease 2 s, renew deadline 1 s, retry 0.2 s); the exact
 * timing bounds are checked with a driven clock in lease-clock.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { LeaderElector } from '../../src/leader/lease.js';
import { startFakeLeaseServer, type FakeLeaseServer } from './fake-lease-server.js';

const NS = 'services';
const LEASE = 'cray-bos-operators';
const DUR = { leaseDurationSeconds: 2, renewDeadlineSeconds: 1, retryPeriodSeconds: 0.2 };
/** Roomier timings where the test is not about timing, so a busy machine cannot cause a handover. */
const CALM = { leaseDurationSeconds: 6, renewDeadlineSeconds: 4, retryPeriodSeconds: 0.2 };

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

let server: FakeLeaseServer | undefined;
let electors: LeaderElector[] = [];

afterEach(async () => {
  server?.store.dropAll();
  await Promise.all(electors.map((e) => e.stop()));
  electors = [];
  await server?.close();
  server = undefined;
});

function elector(s: FakeLeaseServer, id: string, timings = DUR): LeaderElector {
  const e = new LeaderElector({ namespace: NS, leaseName: LEASE, identity: id, ...timings, kubeConfig: s.kubeConfig(id) });
  electors.push(e);
  return e;
}

/** Sample every elector at once, every 10 ms, for `ms`; fail if two lead at one instant. */
async function watch(es: LeaderElector[], ms: number, until?: () => boolean): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const leaders = es.filter((e) => e.isLeader()).map((e) => e.identity);
    expect(leaders.length, `leaders at one instant: ${leaders.join(', ')}`).toBeLessThanOrEqual(1);
    if (until?.()) return;
    await sleep(10);
  }
}

describe('LeaderElector over HTTP (client-node against a fake Lease API)', () => {
  it('exactly one of two candidates leads, and the Lease says so', async () => {
    const s = (server = await startFakeLeaseServer());
    const [a, b] = [elector(s, 'bos-operators-a', CALM), elector(s, 'bos-operators-b', CALM)];
    a.start();
    b.start();
    await watch([a, b], 10_000, () => a.isLeader() || b.isLeader());
    await watch([a, b], 1000);
    const leaders = [a, b].filter((e) => e.isLeader());
    expect(leaders).toHaveLength(1);
    const lease = s.store.get(NS, LEASE)!;
    expect(lease.spec.holderIdentity).toBe(leaders[0]!.identity);
    expect(lease.spec.leaseDurationSeconds).toBe(6);
    expect(lease.spec.renewTime).toMatch(/\.\d{6}Z$/);
    // Both tried; the loser of the create race or of a resourceVersion race never wrote.
    expect(new Set(s.store.writes.map((w) => w.instance))).toEqual(new Set([leaders[0]!.identity]));
    expect(a.holder).toBe(leaders[0]!.identity);
    expect(b.holder).toBe(leaders[0]!.identity);
  });

  it('the standby takes over after the leader dies, not before the lease expired', async () => {
    const s = (server = await startFakeLeaseServer());
    const [a, b] = [elector(s, 'a'), elector(s, 'b')];
    a.start();
    await watch([a], 10_000, () => a.isLeader());
    b.start();
    await watch([a, b], 600);
    s.store.kill('a');
    await watch([a, b], 15_000, () => b.isLeader());
    expect(b.isLeader()).toBe(true);
    expect(a.isLeader()).toBe(false);
    const lastByA = s.store.writes.filter((w) => w.holder === 'a').at(-1)!;
    const firstByB = s.store.writes.find((w) => w.holder === 'b')!;
    expect(Date.parse(firstByB.renewTime) - Date.parse(lastByA.renewTime)).toBeGreaterThan(2000);
    const lease = s.store.get(NS, LEASE)!;
    expect(lease.spec.holderIdentity).toBe('b');
    expect(lease.spec.leaseTransitions).toBe(1);
  });

  it.each(['hang', 'fail'] as const)('a leader cut off from the API (requests %s) stops acting before the standby takes over', async (mode) => {
    const s = (server = await startFakeLeaseServer());
    const [a, b] = [elector(s, 'a'), elector(s, 'b')];
    const stoppedAt: number[] = [];
    const startedAt: number[] = [];
    a.on('stoppedLeading', () => stoppedAt.push(Date.now()));
    b.on('startedLeading', () => startedAt.push(Date.now()));
    a.start();
    await watch([a], 10_000, () => a.isLeader());
    b.start();
    await watch([a, b], 600);
    s.store.partition('a', mode);
    await watch([a, b], 15_000, () => b.isLeader());
    expect(b.isLeader()).toBe(true);
    expect(a.isLeader()).toBe(false);
    expect(stoppedAt).toHaveLength(1);
    expect(startedAt).toHaveLength(1);
    expect(stoppedAt[0]!).toBeLessThan(startedAt[0]!);
    // The cut-off leader stopped before its lease expired: before the standby's first write.
    const firstByB = s.store.writes.find((w) => w.holder === 'b')!;
    expect(stoppedAt[0]!).toBeLessThan(Date.parse(firstByB.renewTime));
    // Healed, the old leader's held requests arrive late and are refused (409): it stays a follower.
    s.store.heal('a');
    await watch([a, b], 800);
    expect(a.isLeader()).toBe(false);
    expect(b.isLeader()).toBe(true);
    expect(s.store.get(NS, LEASE)!.spec.holderIdentity).toBe('b');
  });

  it('stop() releases the lease so the standby takes over without waiting for expiry', async () => {
    const s = (server = await startFakeLeaseServer());
    const [a, b] = [elector(s, 'a', CALM), elector(s, 'b', CALM)];
    a.start();
    await watch([a], 10_000, () => a.isLeader());
    b.start();
    await a.stop();
    expect(a.isLeader()).toBe(false);
    const released = s.store.writes.at(-1)!;
    expect(released).toMatchObject({ instance: 'a', holder: '' });
    await watch([a, b], 10_000, () => b.isLeader());
    const firstByB = s.store.writes.find((w) => w.holder === 'b')!;
    // Taken from a released lease: well inside the 6 s the lease would otherwise have lasted.
    expect(Date.parse(firstByB.renewTime) - Date.parse(released.renewTime)).toBeLessThan(6000);
    expect(s.store.get(NS, LEASE)!.spec.leaseTransitions).toBe(1);
  });

  it('never two leaders at one instant over random kill/partition schedules', async () => {
    type Ev = { at: number; who: number; what: 'kill' | 'fail' | 'hang' | 'heal' | 'heal-drop' };
    const ev = fc.record({
      at: fc.integer({ min: 0, max: 3000 }),
      who: fc.integer({ min: 0, max: 2 }),
      what: fc.constantFrom<Ev['what']>('kill', 'fail', 'hang', 'heal', 'heal-drop'),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(ev, { minLength: 1, maxLength: 5 }), async (schedule) => {
        const s = await startFakeLeaseServer();
        const ids = ['a', 'b', 'c'];
        const es = ids.map(
          (id) => new LeaderElector({ namespace: NS, leaseName: LEASE, identity: id, ...DUR, kubeConfig: s.kubeConfig(id) }),
        );
        const timers: NodeJS.Timeout[] = [];
        try {
          es.forEach((e) => e.start());
          for (const e of schedule) {
            const id = ids[e.who]!;
            timers.push(
              setTimeout(() => {
                if (e.what === 'kill') s.store.kill(id);
                else if (e.what === 'fail' || e.what === 'hang') s.store.partition(id, e.what);
                else s.store.heal(id, { drop: e.what === 'heal-drop' });
              }, e.at),
            );
          }
          await watch(es, 3500);
        } finally {
          timers.forEach(clearTimeout);
          s.store.dropAll();
          await Promise.all(es.map((e) => e.stop()));
          await s.close();
        }
      }),
      { numRuns: 6 },
    );
  }, 90_000);
});
