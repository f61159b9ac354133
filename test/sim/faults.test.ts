import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { FakeClock } from '../../src/common/clock.js';
import { startSimulator, type RunningSimulator, MachineRoom } from '../../src/sim/index.js';
import { call } from './helpers.js';

let sims: RunningSimulator[] = [];
afterEach(async () => {
  await Promise.all(sims.map((s) => s.close()));
  sims = [];
});

async function statuses(seed: number, n: number): Promise<number[]> {
  const sim = await startSimulator({ nodes: 4, seed, clock: new FakeClock(), knobs: { failureRate: { hsm: 0.3 } } });
  sims.push(sim);
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await call(sim.url + '/apis/smd/hsm/v2/State/Components')).status);
  return out;
}

describe('fault knobs', () => {
  it('fails about the configured share of calls with 500, reproducibly for one seed', async () => {
    const a = await statuses(42, 200);
    const b = await statuses(42, 200);
    const c = await statuses(43, 200);
    expect(new Set(a)).toEqual(new Set([200, 500]));
    expect(a).toEqual(b);
    expect(c).not.toEqual(a);
    const failures = a.filter((s) => s === 500).length;
    expect(failures).toBeGreaterThan(30);
    expect(failures).toBeLessThan(90);
  });

  it('fails only the service the knob names, with a problem+json body', async () => {
    const sim = await startSimulator({ nodes: 4, clock: new FakeClock(), knobs: { failureRate: { pcs: 1 } } });
    sims.push(sim);
    const pcs = await call<{ status: number; detail: string }>(sim.url + '/apis/power-control/v1/power-status', 'POST', { xname: ['x1000c0s0b0n0'] });
    expect(pcs.status).toBe(500);
    expect(pcs.body.detail).toMatch(/pcs/);
    expect((await call(sim.url + '/apis/smd/hsm/v2/groups')).status).toBe(200);
    expect((await call(sim.url + '/apis/cfs/v3/components')).status).toBe(200);
  });

  it('gives the same BSS tokens and transition ids for the same seed and requests', async () => {
    const run = async (seed: number) => {
      const sim = await startSimulator({ nodes: 4, seed, clock: new FakeClock() });
      sims.push(sim);
      const put = await call(sim.url + '/apis/bss/boot/v1/bootparameters', 'PUT', { hosts: ['x1000c0s0b0n0'], params: '', kernel: 'k', initrd: 'i' });
      const t = await call<{ transitionID: string }>(sim.url + '/apis/power-control/v1/transitions', 'POST', {
        location: [{ xname: 'x1000c0s0b0n0' }],
        operation: 'On',
      });
      return [put.headers.get('bss-referral-token'), t.body.transitionID];
    };
    const a = await run(5);
    expect(await run(5)).toEqual(a);
    const c = await run(6);
    expect(c[0]).not.toBe(a[0]);
    expect(c[1]).not.toBe(a[1]);
  });

  it('rejects failure rates outside [0, 1]', () => {
    expect(() => new MachineRoom({ nodes: 2, knobs: { failureRate: { bss: 1.5 } } })).toThrow(/between 0 and 1/);
  });

  it('observed failure share follows the rate for any seed (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 }), fc.double({ min: 0, max: 1, noNaN: true }), (seed, rate) => {
        const room = new MachineRoom({ nodes: 1, seed, knobs: { failureRate: { cfs: rate } } });
        let fails = 0;
        const n = 2000;
        for (let i = 0; i < n; i++) if (room.shouldFail('cfs')) fails++;
        if (rate === 0) return fails === 0;
        if (rate === 1) return fails === n;
        return Math.abs(fails / n - rate) < 0.06;
      }),
      { numRuns: 40 },
    );
  });
});
