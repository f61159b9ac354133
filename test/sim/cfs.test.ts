import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/common/clock.js';
import { startSimulator, type RunningSimulator } from '../../src/sim/index.js';
import type { CfsComponent } from '../../src/clients/types.js';
import { call } from './helpers.js';

const CFS = '/apis/cfs/v3';
const PCS = '/apis/power-control/v1';

let sim: RunningSimulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

type Page = { components: CfsComponent[]; next: Record<string, string | number> | null };

async function cfs(s: RunningSimulator, ids: string[]): Promise<Record<string, CfsComponent>> {
  const r = await call<Page>(`${s.url}${CFS}/components?ids=${ids.join(',')}`);
  expect(r.status).toBe(200);
  return Object.fromEntries(r.body.components.map((c) => [c.id, c]));
}

function patch(s: RunningSimulator, ids: string[], p: Record<string, unknown>) {
  return call<{ component_ids: string[] }>(`${s.url}${CFS}/components`, 'PATCH', { patch: p, filters: { ids: ids.join(',') } });
}

describe('CFS components', () => {
  const A = 'x1000c0s0b0n0';
  const B = 'x1000c0s0b0n1';

  it('goes pending → configured after the delay once the node is booted and re-enabled on boot', async () => {
    const clock = new FakeClock();
    sim = await startSimulator({ nodes: 4, clock, knobs: { powerOnDelayMs: 0, bootDelayMs: 10_000, cfsConfigureDelayMs: 60_000 } });
    // what power_on does: disable, set the desired configuration, clear state
    const r = await patch(sim, [A, B], { enabled: false, desired_config: 'compute-config', tags: { bos_session: 's1' }, state: [] });
    expect(r.status).toBe(200);
    expect(r.body.component_ids.sort()).toEqual([A, B]);
    let c = await cfs(sim, [A, B]);
    expect(c[A]).toMatchObject({ desired_config: 'compute-config', configuration_status: 'pending', enabled: false, tags: { bos_session: 's1' } });

    await call(sim.url + PCS + '/transitions', 'POST', { location: [{ xname: A }], operation: 'On', taskDeadlineMinutes: 1 });
    clock.advance(10_000);
    await sim.room.settle();
    c = await cfs(sim, [A, B]);
    expect(c[A]!.enabled).toBe(true); // the booted node enables itself in CFS
    expect(c[A]!.configuration_status).toBe('pending');
    clock.advance(59_999);
    await sim.room.settle();
    expect((await cfs(sim, [A]))[A]!.configuration_status).toBe('pending');
    clock.advance(1);
    await sim.room.settle();
    c = await cfs(sim, [A, B]);
    expect(c[A]!.configuration_status).toBe('configured');
    expect(c[A]!.state).toHaveLength(1);
    // B never booted: stays pending however long we wait
    clock.advance(3600_000);
    await sim.room.settle();
    expect((await cfs(sim, [B]))[B]!.configuration_status).toBe('pending');
  });

  it('marks failing configurations and failing nodes as failed', async () => {
    const clock = new FakeClock();
    sim = await startSimulator({
      nodes: 4,
      clock,
      knobs: { initialPower: 'on', cfsConfigureDelayMs: 1_000, failingConfigurations: ['broken-config'], cfsFailNodes: [B] },
    });
    await patch(sim, [A], { enabled: true, desired_config: 'broken-config' });
    await patch(sim, [B], { enabled: true, desired_config: 'good-config' });
    clock.advance(1_000);
    await sim.room.settle();
    let c = await cfs(sim, [A, B]);
    expect(c[A]!.configuration_status).toBe('failed');
    expect(c[A]!.error_count).toBe(1);
    expect(c[B]!.configuration_status).toBe('failed');
    // a different, working configuration on A configures
    await patch(sim, [A], { desired_config: 'good-config' });
    clock.advance(1_000);
    await sim.room.settle();
    c = await cfs(sim, [A, B]);
    expect(c[A]!.configuration_status).toBe('configured');
    expect(c[B]!.configuration_status).toBe('failed');
  });

  it('does not configure a disabled component and clears history on state: []', async () => {
    const clock = new FakeClock();
    sim = await startSimulator({ nodes: 4, clock, knobs: { initialPower: 'on', cfsConfigureDelayMs: 1_000 } });
    await patch(sim, [A], { enabled: false, desired_config: 'cfg' });
    clock.advance(10_000);
    await sim.room.settle();
    expect((await cfs(sim, [A]))[A]!.configuration_status).toBe('pending');
    await patch(sim, [A], { enabled: true });
    clock.advance(1_000);
    await sim.room.settle();
    expect((await cfs(sim, [A]))[A]!.configuration_status).toBe('configured');
    await patch(sim, [A], { enabled: false, state: [] });
    const c = (await cfs(sim, [A]))[A]!;
    expect(c.configuration_status).toBe('pending');
    expect(c.state).toEqual([]);
  });

  it('pages with next until every component was returned exactly once', async () => {
    sim = await startSimulator({ nodes: 23, clock: new FakeClock(), knobs: { cfsPageSize: 5 } });
    const seen: string[] = [];
    let params: Record<string, string | number> | null = {};
    let pages = 0;
    while (params) {
      const qs = new URLSearchParams(Object.entries(params).map(([k, v]): [string, string] => [k, String(v)])).toString();
      const r: { status: number; body: Page } = await call<Page>(`${sim.url}${CFS}/components${qs ? '?' + qs : ''}`);
      expect(r.status).toBe(200);
      expect(r.body.components.length).toBeLessThanOrEqual(5);
      seen.push(...r.body.components.map((c) => c.id));
      params = r.body.next;
      pages++;
      expect(pages).toBeLessThan(20);
    }
    expect(pages).toBe(5);
    expect(seen).toEqual([...sim.room.nodes().map((n) => n.id)].sort());

    // with an id filter the pages only hold those ids and next keeps the filter
    const ids = seen.slice(0, 7);
    const first = await call<Page>(`${sim.url}${CFS}/components?ids=${ids.join(',')}&limit=4`);
    expect(first.body.components.map((c) => c.id)).toEqual(ids.slice(0, 4));
    expect(first.body.next).toMatchObject({ ids: ids.join(','), after: ids[3] });
    const qs = new URLSearchParams(Object.entries(first.body.next!).map(([k, v]): [string, string] => [k, String(v)])).toString();
    const second = await call<Page>(`${sim.url}${CFS}/components?${qs}`);
    expect(second.body.components.map((c) => c.id)).toEqual(ids.slice(4));
    expect(second.body.next).toBeNull();
  });

  it('rejects a PATCH without patch/filters', async () => {
    sim = await startSimulator({ nodes: 2, clock: new FakeClock() });
    const r = await call(`${sim.url}${CFS}/components`, 'PATCH', { desired_config: 'x' });
    expect(r.status).toBe(400);
  });
});
