import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/common/clock.js';
import { startSimulator, type RunningSimulator } from '../../src/sim/index.js';
import type { HsmComponent, HsmGroup, HsmLock, HsmPartition } from '../../src/clients/types.js';
import { call } from './helpers.js';

const HSM = '/apis/smd/hsm/v2';
const TAPMS = '/apis/tapms/v1alpha3';

let sim: RunningSimulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

describe('HSM and tenants', () => {
  it('lists nodes with roles, subroles, architectures and groups that make limits interesting', async () => {
    sim = await startSimulator({ nodes: 100, clock: new FakeClock() });
    const r = await call<{ Components: HsmComponent[] }>(sim.url + HSM + '/State/Components');
    const comps = r.body.Components;
    expect(comps).toHaveLength(100);
    expect(new Set(comps.map((c) => c.ID)).size).toBe(100);
    expect(comps.every((c) => c.Type === 'Node' && /^x\d+c\d+s\d+b\d+n\d+$/.test(c.ID))).toBe(true);
    const roles = new Set(comps.map((c) => `${c.Role}/${c.SubRole ?? ''}`));
    expect(roles).toEqual(new Set(['Compute/', 'Management/Master', 'Management/Worker', 'Management/Storage', 'Application/UAN']));
    const arches = new Set(comps.map((c) => c.Arch ?? '(none)'));
    expect(arches).toEqual(new Set(['X86', 'ARM', 'UNKNOWN', '(none)']));
    expect(new Set(comps.map((c) => c.NID)).size).toBe(100);

    const groups = (await call<HsmGroup[]>(sim.url + HSM + '/groups')).body;
    const byLabel = Object.fromEntries(groups.map((g) => [g.label, new Set(g.members.ids)]));
    for (const label of ['compute', 'gpu', 'blue', 'green', 'uan']) expect(byLabel[label]?.size).toBeGreaterThan(0);
    const compute = comps.filter((c) => c.Role === 'Compute').map((c) => c.ID);
    expect(byLabel.compute).toEqual(new Set(compute));
    // blue and green split the compute nodes
    expect(byLabel.blue!.size + byLabel.green!.size).toBe(compute.length);
    expect([...byLabel.blue!].some((id) => byLabel.green!.has(id))).toBe(false);
    const partitions = (await call<HsmPartition[]>(sim.url + HSM + '/partitions')).body;
    expect(partitions.map((p) => p.name)).toEqual(['p1', 'p2']);

    const filtered = await call<{ Components: HsmComponent[] }>(sim.url + HSM + '/State/Components?role=Application');
    expect(filtered.body.Components.map((c) => c.SubRole)).toEqual(['UAN', 'UAN']);
  });

  it('shows locked and disabled nodes and filters the Query by enabled', async () => {
    const locked = ['x1000c0s0b0n1', 'x1000c0s1b0n0'];
    const disabled = ['x1000c0s0b1n0'];
    sim = await startSimulator({ nodes: 16, clock: new FakeClock(), knobs: { locked, disabled } });
    const locks = await call<{ Components: HsmLock[] }>(sim.url + HSM + '/locks/status?type=Node&locked=True');
    expect(locks.status).toBe(200);
    expect(locks.body.Components.map((c) => c.ID).sort()).toEqual(locked);
    expect(locks.body.Components.every((c) => c.Locked === true)).toBe(true);

    const ids = ['x1000c0s0b0n0', 'x1000c0s0b1n0', 'x1000c0s0b1n1', 'x9999c0s0b0n0'];
    const all = await call<{ Components: HsmComponent[] }>(sim.url + HSM + '/State/Components/Query', 'POST', { ComponentIDs: ids });
    expect(all.body.Components.map((c) => c.ID)).toEqual(ids.slice(0, 3)); // unknown id left out
    expect(all.body.Components.find((c) => c.ID === disabled[0])?.Enabled).toBe(false);
    const enabledOnly = await call<{ Components: HsmComponent[] }>(sim.url + HSM + '/State/Components/Query', 'POST', {
      ComponentIDs: ids,
      enabled: ['True'],
    });
    expect(enabledOnly.body.Components.map((c) => c.ID)).toEqual(['x1000c0s0b0n0', 'x1000c0s0b1n1']);

    // altering a node through the room shows up on the wire
    sim.room.setNode('x1000c0s0b0n0', { locked: true, enabled: false });
    const locks2 = await call<{ Components: HsmLock[] }>(sim.url + HSM + '/locks/status?type=Node&locked=True');
    expect(locks2.body.Components.map((c) => c.ID)).toContain('x1000c0s0b0n0');
    expect(() => sim!.room.setNode('nope', { locked: true })).toThrow(/unknown node nope/);
  });

  it('answers tenants with their xnames and 404 for an unknown tenant', async () => {
    sim = await startSimulator({ nodes: 64, clock: new FakeClock() });
    const t = await call<{ status: { tenantresources: { xnames: string[] }[] } }>(sim.url + TAPMS + '/tenants/tenant-a');
    expect(t.status).toBe(200);
    const xnames = t.body.status.tenantresources.flatMap((r) => r.xnames);
    expect(xnames.length).toBeGreaterThan(0);
    const b = await call<{ status: { tenantresources: { xnames: string[] }[] } }>(sim.url + TAPMS + '/tenants/tenant-b');
    const bx = new Set(b.body.status.tenantresources.flatMap((r) => r.xnames));
    expect(xnames.some((x) => bx.has(x))).toBe(false);
    expect((await call(sim.url + TAPMS + '/tenants/nobody')).status).toBe(404);
  });
});
