import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/common/clock.js';
import { startSimulator, type RunningSimulator } from '../../src/sim/index.js';
import { call, fakeBos } from './helpers.js';

const PCS = '/apis/power-control/v1';
const BSS = '/apis/bss/boot/v1';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function setup(answer?: (xname: string, n: number) => number, knobs = {}) {
  const bos = await fakeBos(answer);
  cleanups.push(bos.close);
  const clock = new FakeClock();
  const sim: RunningSimulator = await startSimulator({
    nodes: 4,
    clock,
    bosUrl: bos.url,
    seed: 7,
    knobs: { powerOnDelayMs: 1_000, bootDelayMs: 10_000, reportPeriodMs: 3600_000, ...knobs },
  });
  cleanups.push(sim.close);
  return { bos, clock, sim };
}

const NODE = 'x1000c0s0b0n0';

describe('on-node state reporter', () => {
  it('reports the BSS referral token it booted with, then keeps reporting every period', async () => {
    const { bos, clock, sim } = await setup();
    const put = await call(sim.url + BSS + '/bootparameters', 'PUT', { hosts: [NODE], params: 'console=ttyS0', kernel: 's3://b/k', initrd: 's3://b/i' });
    const token = put.headers.get('bss-referral-token');
    expect(token).toBeTruthy();
    await call(sim.url + PCS + '/transitions', 'POST', { location: [{ xname: NODE }], operation: 'On', taskDeadlineMinutes: 1 });

    clock.advance(10_999); // powered at 1 s, boot completes at 11 s
    await sim.room.settle();
    expect(bos.reports).toHaveLength(0);

    clock.advance(1);
    await sim.room.settle();
    expect(bos.reports).toEqual([{ xname: NODE, body: { id: NODE, actual_state: { bss_token: token } } }]);
    // The node does not read the updated record back, so it asks BOS not to send it.
    expect(bos.prefers).toEqual(['return=minimal']);
    expect(sim.room.node(NODE)!.boot!.cmdline).toContain(`bss_referral_token=${token}`);

    // The wait after the first report is a random fraction of the period; after that, whole periods.
    clock.advance(3600_000);
    await sim.room.settle();
    expect(bos.reports).toHaveLength(2);
    clock.advance(3600_000 - 1);
    await sim.room.settle();
    expect(bos.reports).toHaveLength(2);
    clock.advance(1);
    await sim.room.settle();
    expect(bos.reports).toHaveLength(3);
    expect(bos.reports.every((r) => r.body.actual_state?.bss_token === token)).toBe(true);
  });

  it('retries with growing waits while BOS answers 409, then succeeds', async () => {
    // the first three attempts are refused
    const { bos, clock, sim } = await setup((_x, n) => (n < 3 ? 409 : 200));
    await call(sim.url + PCS + '/transitions', 'POST', { location: [{ xname: NODE }], operation: 'On', taskDeadlineMinutes: 1 });
    clock.advance(11_000);
    await sim.room.settle();
    expect(sim.room.node(NODE)!.reportFailures).toBe(1);
    clock.advance(2_000); // second attempt after 2 s
    await sim.room.settle();
    expect(sim.room.node(NODE)!.reportFailures).toBe(2);
    clock.advance(3_999); // third attempt after 4 s more
    await sim.room.settle();
    expect(sim.room.node(NODE)!.reportFailures).toBe(2);
    clock.advance(1);
    await sim.room.settle();
    expect(sim.room.node(NODE)!.reportFailures).toBe(3);
    expect(bos.reports).toHaveLength(0);
    clock.advance(6_000);
    await sim.room.settle();
    expect(bos.reports).toHaveLength(1);
    expect(sim.room.node(NODE)!.reports).toBe(1);
  });

  it('keeps retrying when BOS is unreachable and stops reporting once powered off', async () => {
    const { bos, clock, sim } = await setup(() => 200, { forceOffDelayMs: 0 });
    await call(sim.url + PCS + '/transitions', 'POST', { location: [{ xname: NODE }], operation: 'On', taskDeadlineMinutes: 1 });
    clock.advance(11_000);
    await sim.room.settle();
    expect(bos.reports).toHaveLength(1);
    await call(sim.url + PCS + '/transitions', 'POST', { location: [{ xname: NODE }], operation: 'Force-Off', taskDeadlineMinutes: 1 });
    await sim.room.settle();
    expect(sim.room.node(NODE)!.power).toBe('off');
    clock.advance(10 * 3600_000);
    await sim.room.settle();
    expect(bos.reports).toHaveLength(1);

    // an unreachable BOS: the node keeps trying, capped at 30 s between attempts
    sim.room.bosUrl = 'http://127.0.0.1:1/apis/bos/v2';
    await call(sim.url + PCS + '/transitions', 'POST', { location: [{ xname: NODE }], operation: 'On', taskDeadlineMinutes: 1 });
    for (let i = 0; i < 30; i++) {
      clock.advance(30_000);
      await sim.room.settle();
    }
    const failures = sim.room.node(NODE)!.reportFailures;
    expect(failures).toBeGreaterThan(20);
    expect(failures).toBeLessThanOrEqual(30);
  });

  it('closing the room aborts reports waiting on a BOS that does not answer', async () => {
    const silent = createServer(() => {}); // accepts the request, never answers
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    cleanups.push(async () => {
      silent.closeAllConnections();
      await new Promise<void>((r) => silent.close(() => r()));
    });
    const received = new Promise<void>((r) => silent.on('request', () => r()));
    const { clock, sim } = await setup();
    sim.room.bosUrl = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/apis/bos/v2`;
    await call(sim.url + PCS + '/transitions', 'POST', { location: [{ xname: NODE }], operation: 'On', taskDeadlineMinutes: 1 });
    clock.advance(11_000);
    sim.room.tick();
    await received;
    const t0 = performance.now();
    await sim.room.close();
    expect(performance.now() - t0).toBeLessThan(5_000); // not the 10 s report timeout
    expect(sim.room.node(NODE)!.reports).toBe(0);
  });

  it('takes the report period from bos_update_frequency on the kernel command line', async () => {
    const { bos, clock, sim } = await setup();
    await call(sim.url + BSS + '/bootparameters', 'PUT', { hosts: [NODE], params: 'quiet bos_update_frequency=1h', kernel: 'k', initrd: 'i' });
    await call(sim.url + PCS + '/transitions', 'POST', { location: [{ xname: NODE }], operation: 'On', taskDeadlineMinutes: 1 });
    clock.advance(11_000);
    await sim.room.settle();
    clock.advance(45 * 60_000); // first wait ≤ 0.75 h
    await sim.room.settle();
    expect(bos.reports).toHaveLength(2);
    clock.advance(45 * 60_000); // then exactly 0.75 h
    await sim.room.settle();
    expect(bos.reports).toHaveLength(3);
  });
});
