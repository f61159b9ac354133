import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/common/clock.js';
import { SIM_CONTROL_PATH, startSimulator, type RunningSimulator } from '../../src/sim/index.js';
import { call } from './helpers.js';

let sim: RunningSimulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

describe('simulator control API', () => {
  it('stages faults on a running room: node flags and knobs, validated', async () => {
    const clock = new FakeClock();
    sim = await startSimulator({ nodes: 8, clock, knobs: { initialPower: 'on', reporterToken: 'secret-value' } });
    const ctl = sim.url + SIM_CONTROL_PATH;
    const summary = await call<Record<string, number>>(`${ctl}/summary`);
    expect(summary.body).toMatchObject({ nodes: 8, ready: 8, off: 0 });

    const node = 'x1000c0s0b0n0';
    const patched = await call<{ locked: boolean; ignoreSoftOff: boolean }>(`${ctl}/nodes/${node}`, 'PATCH', { locked: true, ignoreSoftOff: true });
    expect(patched.body).toMatchObject({ locked: true, ignoreSoftOff: true });
    const locks = await call<{ Components: { ID: string }[] }>(`${sim.url}/apis/smd/hsm/v2/locks/status?type=Node&locked=True`);
    expect(locks.body.Components.map((c) => c.ID)).toEqual([node]);
    expect((await call(`${ctl}/nodes/${node}`, 'PATCH', { power: 'off' })).status).toBe(400);
    expect((await call(`${ctl}/nodes/x9999c0s0b0n0`)).status).toBe(404);

    const knobs = await call<Record<string, unknown>>(`${ctl}/knobs`, 'PATCH', { failureRate: { hsm: 1 }, forceOffDelayMs: 0 });
    expect(knobs.status).toBe(200);
    expect(JSON.stringify(knobs.body)).not.toContain('secret-value');
    expect((await call(`${sim.url}/apis/smd/hsm/v2/groups`)).status).toBe(500);
    expect((await call(`${ctl}/knobs`, 'PATCH', { failureRate: { hsm: 2 } })).status).toBe(400);
    expect((await call(`${ctl}/knobs`, 'PATCH', { neverBoot: [node] })).status).toBe(400);
    expect((await call(`${ctl}/knobs`, 'PATCH', { noSuchKnob: 1 })).status).toBe(400);
    // the rejected patches changed nothing
    expect(sim.room.knobs.failureRate).toEqual({ hsm: 1 });

    await call(`${sim.url}/apis/power-control/v1/transitions`, 'POST', { location: [{ xname: 'x1000c0s0b0n1' }], operation: 'Force-Off' });
    await sim.room.settle();
    expect((await call<Record<string, number>>(`${ctl}/summary`)).body).toMatchObject({ ready: 7, off: 1, locked: 1 });

    // The running totals agree with the walk over every node, after boots.
    await call(`${sim.url}/apis/power-control/v1/transitions`, 'POST', { location: [{ xname: 'x1000c0s0b0n1' }], operation: 'On' });
    clock.advance(600_000);
    await sim.room.settle();
    const walked = (await call<Record<string, number>>(`${ctl}/summary`)).body;
    const counts = (await call<Record<string, number>>(`${ctl}/counts`)).body;
    expect(walked.boots).toBeGreaterThan(8);
    expect(counts).toMatchObject({ boots: walked.boots, reports: walked.reports, reportFailures: walked.reportFailures });
  });
});
