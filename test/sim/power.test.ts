import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/common/clock.js';
import { startSimulator, type RunningSimulator } from '../../src/sim/index.js';
import type { HsmComponent } from '../../src/clients/types.js';
import { call } from './helpers.js';

const PCS = '/apis/power-control/v1';
const HSM = '/apis/smd/hsm/v2';

let sim: RunningSimulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

async function powerStates(s: RunningSimulator, ids: string[]): Promise<Record<string, string>> {
  const r = await call<{ status: { xname: string; powerState: string; error: string }[] }>(s.url + PCS + '/power-status', 'POST', { xname: ids });
  expect(r.status).toBe(200);
  return Object.fromEntries(r.body.status.map((e) => [e.xname, e.powerState]));
}

async function hsmStates(s: RunningSimulator, ids: string[]): Promise<Record<string, string>> {
  const r = await call<{ Components: HsmComponent[] }>(s.url + HSM + '/State/Components/Query', 'POST', { ComponentIDs: ids });
  return Object.fromEntries(r.body.Components.map((c) => [c.ID, c.State ?? '']));
}

function transition(s: RunningSimulator, operation: string, ids: string[]) {
  return call<{ transitionID: string; operation: string }>(s.url + PCS + '/transitions', 'POST', {
    location: ids.map((xname) => ({ xname })),
    operation,
    taskDeadlineMinutes: 1,
  });
}

describe('PCS power transitions', () => {
  it('powers nodes on only after the power-on delay, then boots them after the boot delay', async () => {
    const clock = new FakeClock();
    sim = await startSimulator({ nodes: 8, clock, knobs: { powerOnDelayMs: 10_000, bootDelayMs: 60_000 } });
    const ids = ['x1000c0s0b0n0', 'x1000c0s0b0n1'];
    const t = await transition(sim, 'On', ids);
    expect(t.status).toBe(200);
    expect(t.body.operation).toBe('On');
    expect(t.body.transitionID).toMatch(/^[0-9a-f-]{36}$/);

    clock.advance(9_999);
    await sim.room.settle();
    expect(await powerStates(sim, ids)).toEqual({ [ids[0]!]: 'off', [ids[1]!]: 'off' });

    clock.advance(1);
    await sim.room.settle();
    expect(await powerStates(sim, ids)).toEqual({ [ids[0]!]: 'on', [ids[1]!]: 'on' });
    expect(await hsmStates(sim, ids)).toEqual({ [ids[0]!]: 'On', [ids[1]!]: 'On' });
    // untouched node stays off
    expect((await powerStates(sim, ['x1000c0s0b1n0']))['x1000c0s0b1n0']).toBe('off');

    clock.advance(60_000);
    await sim.room.settle();
    expect(await hsmStates(sim, ids)).toEqual({ [ids[0]!]: 'Ready', [ids[1]!]: 'Ready' });

    const status = await call<{ transitionStatus: string; tasks: { taskStatus: string }[] }>(sim.url + PCS + '/transitions/' + t.body.transitionID);
    expect(status.body.transitionStatus).toBe('completed');
    expect(status.body.tasks.map((x) => x.taskStatus)).toEqual(['succeeded', 'succeeded']);
  });

  it('plays a whole chain of delays out of one large clock jump', async () => {
    const clock = new FakeClock();
    sim = await startSimulator({ nodes: 4, clock, knobs: { powerOnDelayMs: 5_000, bootDelayMs: 100_000 } });
    await transition(sim, 'On', ['x1000c0s0b0n0']);
    clock.advance(3600_000);
    await sim.room.settle();
    const node = sim.room.node('x1000c0s0b0n0')!;
    expect(node.booted).toBe(true);
    // the boot finished at power-on time + delays, not at the time the clock was looked at
    expect(node.boot!.at - node.lastPowerChange).toBe(100_000);
  });

  it('stubborn nodes ignore Soft-Off while Force-Off powers them off', async () => {
    const clock = new FakeClock();
    const stubborn = 'x1000c0s0b0n1';
    sim = await startSimulator({
      nodes: 4,
      clock,
      knobs: { initialPower: 'on', ignoreSoftOff: [stubborn], powerOffDelayMs: 30_000, forceOffDelayMs: 1_000 },
    });
    const ids = ['x1000c0s0b0n0', stubborn];
    expect(await powerStates(sim, ids)).toEqual({ [ids[0]!]: 'on', [stubborn]: 'on' });
    const soft = await transition(sim, 'Soft-Off', ids);
    clock.advance(30_000);
    await sim.room.settle();
    expect(await powerStates(sim, ids)).toEqual({ [ids[0]!]: 'off', [stubborn]: 'on' });
    clock.advance(60_000); // past the one-minute task deadline
    await sim.room.settle();
    const st = await call<{ tasks: { xname: string; taskStatus: string }[] }>(sim.url + PCS + '/transitions/' + soft.body.transitionID);
    expect(Object.fromEntries(st.body.tasks.map((t) => [t.xname, t.taskStatus]))).toEqual({ [ids[0]!]: 'succeeded', [stubborn]: 'failed' });

    await transition(sim, 'Force-Off', [stubborn]);
    clock.advance(999);
    await sim.room.settle();
    expect((await powerStates(sim, [stubborn]))[stubborn]).toBe('on');
    clock.advance(1);
    await sim.room.settle();
    expect((await powerStates(sim, [stubborn]))[stubborn]).toBe('off');
    expect((await hsmStates(sim, [stubborn]))[stubborn]).toBe('Off');
  });

  it('never-booting nodes power on but stay On, never Ready', async () => {
    const clock = new FakeClock();
    const bad = 'x1000c0s0b1n0';
    sim = await startSimulator({ nodes: 4, clock, knobs: { neverBoot: [bad], powerOnDelayMs: 0, bootDelayMs: 1_000 } });
    const ids = ['x1000c0s0b0n0', bad];
    await transition(sim, 'On', ids);
    clock.advance(24 * 3600_000);
    await sim.room.settle();
    expect(await powerStates(sim, ids)).toEqual({ [ids[0]!]: 'on', [bad]: 'on' });
    expect(await hsmStates(sim, ids)).toEqual({ [ids[0]!]: 'Ready', [bad]: 'On' });
  });

  it('refuses to transition HSM-locked nodes and rejects unknown operations', async () => {
    const clock = new FakeClock();
    const locked = 'x1000c0s0b0n0';
    sim = await startSimulator({ nodes: 4, clock, knobs: { locked: [locked], powerOnDelayMs: 0 } });
    const t = await transition(sim, 'On', [locked, 'x1000c0s0b0n1']);
    await sim.room.settle();
    expect(await powerStates(sim, [locked, 'x1000c0s0b0n1'])).toEqual({ [locked]: 'off', x1000c0s0b0n1: 'on' });
    const st = await call<{ tasks: { xname: string; taskStatus: string }[] }>(sim.url + PCS + '/transitions/' + t.body.transitionID);
    expect(st.body.tasks.find((x) => x.xname === locked)?.taskStatus).toBe('failed');

    const bad = await transition(sim, 'Reboot', ['x1000c0s0b0n1']);
    expect(bad.status).toBe(400);
  });

  it('reports unknown xnames in power-status with an error instead of a state', async () => {
    sim = await startSimulator({ nodes: 4, clock: new FakeClock() });
    const r = await call<{ status: { xname: string; powerState: string; error: string }[] }>(sim.url + PCS + '/power-status', 'POST', {
      xname: ['x9999c0s0b0n0'],
    });
    expect(r.body.status).toHaveLength(1);
    expect(r.body.status[0]!.error).not.toBe('');
    expect(r.body.status[0]!.powerState).toBe('undefined');
  });
});

describe('PCS power-status answers', () => {
  it('are the JSON of the entries, kept per node and renewed when its power changes', async () => {
    const clock = new FakeClock();
    sim = await startSimulator({ nodes: 8, clock, knobs: { powerOnDelayMs: 1_000, bootDelayMs: 5_000 } });
    const room = sim.room;
    const ids = ['x1000c0s0b0n1', 'x9999c0s0b0n0', 'x1000c0s0b0n0', 'x1000c0s0b0n1'];
    const same = () => {
      for (const list of [ids, [], undefined]) expect(room.powerStatusJson(list)).toBe(JSON.stringify({ status: room.powerStatus(list) }));
    };
    same();
    const before = JSON.parse(room.powerStatusJson(ids)) as { status: { powerState: string; lastUpdated: string }[] };
    expect(before.status.map((e) => e.powerState)).toEqual(['off', 'undefined', 'off', 'off']);
    await transition(sim, 'On', ['x1000c0s0b0n1']);
    clock.advance(1_000);
    await room.settle();
    same();
    const after = JSON.parse(room.powerStatusJson(ids)) as typeof before;
    expect(after.status.map((e) => e.powerState)).toEqual(['on', 'undefined', 'off', 'on']);
    expect(after.status[0]!.lastUpdated).not.toBe(before.status[0]!.lastUpdated);
    // over HTTP, by POST and by GET, the same text
    const post = await fetch(sim.url + PCS + '/power-status', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ xname: ids }) });
    expect(post.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await post.text()).toBe(room.powerStatusJson(ids));
    const get = await fetch(`${sim.url}${PCS}/power-status?xname=${ids.join('&xname=')}`);
    expect(await get.text()).toBe(room.powerStatusJson(ids));
  });
});
