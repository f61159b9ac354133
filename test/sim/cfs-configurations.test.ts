/** CFS v3 configurations and batcher-style sessions, over loopback in both layouts. */
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/common/clock.js';
import { startSimulator, type CfsConfiguration, type CfsSession, type RunningSimulator } from '../../src/sim/index.js';
import { call, raw } from './helpers.js';

const CFS = '/apis/cfs/v3';
const PCS = '/apis/power-control/v1';
const A = 'x1000c0s0b0n0';
const B = 'x1000c0s0b0n1';
const C = 'x1000c0s0b1n0';

let sim: RunningSimulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

type Problem = { type: string; title: string; status: number; detail: string };
type ConfigPage = { configurations: CfsConfiguration[]; next: Record<string, string | number> | null };
type SessionPage = { sessions: CfsSession[]; next: Record<string, string | number> | null };

function patch(s: RunningSimulator, ids: string[], p: Record<string, unknown>) {
  return call<{ component_ids: string[] }>(`${s.url}${CFS}/components`, 'PATCH', { patch: p, filters: { ids: ids.join(',') } });
}

describe('CFS v3 configurations', () => {
  it('lists, reads, stores and deletes configurations, with CFS problem answers for unknown ones', async () => {
    sim = await startSimulator({ nodes: 4, clock: new FakeClock(Date.parse('2025-03-01T10:00:00Z')) });
    const base = `${sim.url}${CFS}/configurations`;
    expect((await call<ConfigPage>(base)).body).toEqual({ configurations: [], next: null });

    const missing = await call<Problem>(`${base}/nope`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(missing.body).toMatchObject({ status: 404, title: expect.any(String), detail: expect.stringContaining('nope') });

    const layers = [
      { name: 'cos', clone_url: 'https://vcs/cray/cos-config-management.git', playbook: 'site.yml', commit: 'a'.repeat(40) },
      { name: 'slurm', clone_url: 'https://vcs/cray/slurm-config-management.git', playbook: 'site.yml', branch: 'integration' },
    ];
    const put = await call<CfsConfiguration>(`${base}/compute-23.7`, 'PUT', { description: 'compute nodes', layers });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ name: 'compute-23.7', description: 'compute nodes', last_updated: '2025-03-01T10:00:00Z' });
    expect(put.body.layers[0]).toEqual(layers[0]);
    // a layer given by branch gets the commit CFS would resolve
    expect(put.body.layers[1]).toMatchObject({ ...layers[1], commit: expect.stringMatching(/^[0-9a-f]{40}$/) });

    const got = await call<CfsConfiguration>(`${base}/compute-23.7`);
    expect(got.status).toBe(200);
    expect(got.body).toEqual(put.body);

    // replaced by a second PUT
    const again = await call<CfsConfiguration>(`${base}/compute-23.7`, 'PUT', { layers: [layers[0]] });
    expect(again.body.layers).toHaveLength(1);
    expect(again.body.description).toBeUndefined();

    // bad bodies
    for (const bad of [{}, { layers: 'x' }, { layers: [{ name: 'no-playbook', clone_url: 'u' }] }, { layers: [{ playbook: 'p.yml' }] }]) {
      const r = await call<Problem>(`${base}/bad`, 'PUT', bad);
      expect(r.status, JSON.stringify(bad)).toBe(400);
      expect(r.body.status).toBe(400);
    }
    expect((await call(`${base}/bad`)).status).toBe(404);

    // paging: limit / after, next carries on
    await call(`${base}/a-config`, 'PUT', { layers: [layers[0]] });
    await call(`${base}/z-config`, 'PUT', { layers: [layers[0]] });
    const p1 = await call<ConfigPage>(`${base}?limit=2`);
    expect(p1.body.configurations.map((c) => c.name)).toEqual(['a-config', 'compute-23.7']);
    expect(p1.body.next).toEqual({ limit: 2, after: 'compute-23.7' });
    const p2 = await call<ConfigPage>(`${base}?limit=2&after=compute-23.7`);
    expect(p2.body).toMatchObject({ configurations: [{ name: 'z-config' }], next: null });

    // delete
    const del = await call(`${base}/a-config`, 'DELETE');
    expect(del.status).toBe(204);
    expect((await call(`${base}/a-config`)).status).toBe(404);
    const del2 = await call<Problem>(`${base}/a-config`, 'DELETE');
    expect(del2.status).toBe(404);
    expect(del2.body.status).toBe(404);
  });

  it('creates a configuration a component is given, with one plausible layer, so a GET of it answers', async () => {
    sim = await startSimulator({ nodes: 4, clock: new FakeClock() });
    // what BOS power-on sends (the demo and templates use demo-config)
    await patch(sim, [A, B], { enabled: false, desired_config: 'demo-config', tags: { bos_session: 's1' }, state: [] });
    // and a single-component PATCH, and the list form
    await call(`${sim.url}${CFS}/components/${C}`, 'PATCH', { desired_config: 'uan-config' });
    await call(`${sim.url}${CFS}/components`, 'PATCH', [{ id: C, desired_config: 'listed-config' }]);

    const demo = await call<CfsConfiguration>(`${sim.url}${CFS}/configurations/demo-config`);
    expect(demo.status).toBe(200);
    expect(demo.body.name).toBe('demo-config');
    expect(demo.body.layers).toHaveLength(1);
    expect(demo.body.layers[0]).toMatchObject({ clone_url: expect.stringMatching(/\.git$/), playbook: expect.any(String), commit: expect.stringMatching(/^[0-9a-f]{40}$/) });
    expect((await call(`${sim.url}${CFS}/configurations/uan-config`)).status).toBe(200);
    expect((await call(`${sim.url}${CFS}/configurations/listed-config`)).status).toBe(200);
    // an empty desired configuration creates nothing; one PUT earlier is not overwritten
    await call(`${sim.url}${CFS}/configurations/mine`, 'PUT', { layers: [{ clone_url: 'u', playbook: 'mine.yml' }] });
    await patch(sim, [A], { desired_config: '' });
    await patch(sim, [B], { desired_config: 'mine' });
    const mine = await call<CfsConfiguration>(`${sim.url}${CFS}/configurations/mine`);
    expect(mine.body.layers[0]!.playbook).toBe('mine.yml');
    const list = await call<ConfigPage>(`${sim.url}${CFS}/configurations`);
    expect(list.body.configurations.map((c) => c.name)).toEqual(['demo-config', 'listed-config', 'mine', 'uan-config']);
    // in_use: configurations some component is set to
    const used = await call<ConfigPage>(`${sim.url}${CFS}/configurations?in_use=true`);
    expect(used.body.configurations.map((c) => c.name)).toEqual(['listed-config', 'mine']);
    const unused = await call<ConfigPage>(`${sim.url}${CFS}/configurations?in_use=false`);
    expect(unused.body.configurations.map((c) => c.name)).toEqual(['demo-config', 'uan-config']);
  });

  it('answers the configuration endpoints in the in-cluster layout', async () => {
    sim = await startSimulator({ nodes: 4, clock: new FakeClock(), servicePorts: 0 });
    const put = await raw<CfsConfiguration>(sim.url, '/v3/configurations/cluster', {
      method: 'PUT',
      host: 'cray-cfs-api',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ layers: [{ clone_url: 'u', playbook: 'site.yml' }] }),
    });
    expect(put.status).toBe(200);
    expect((await call(`${sim.servicePorts!.urls.cfs}/configurations/cluster`)).status).toBe(200);
    const del = await raw(sim.url, '/v3/configurations/cluster', { method: 'DELETE', host: 'cray-cfs-api' });
    expect(del.status).toBe(204);
  });
});

describe('CFS v3 sessions', () => {
  it('lists a batcher session per configuration applied: running while configuring, then complete', async () => {
    const clock = new FakeClock(Date.parse('2025-03-01T10:00:00Z'));
    sim = await startSimulator({
      nodes: 8,
      clock,
      knobs: { powerOnDelayMs: 0, bootDelayMs: 10_000, cfsConfigureDelayMs: 60_000, failingConfigurations: ['broken'] },
    });
    const sessions = async (q = '') => (await call<SessionPage>(`${sim!.url}${CFS}/sessions${q}`)).body;
    expect(await sessions()).toEqual({ sessions: [], next: null });

    await patch(sim, [A, B], { enabled: false, desired_config: 'demo-config', state: [] });
    await patch(sim, [C], { enabled: false, desired_config: 'broken', state: [] });
    await call(`${sim.url}${PCS}/transitions`, 'POST', { operation: 'On', location: [{ xname: A }, { xname: B }, { xname: C }] });
    clock.advance(10_000);
    await sim.room.settle();

    let page = await sessions();
    expect(page.next).toBeNull();
    expect(page.sessions).toHaveLength(2);
    const byConfig = Object.fromEntries(page.sessions.map((x) => [x.configuration.name, x]));
    const demo = byConfig['demo-config']!;
    expect(demo.name).toMatch(/^batcher-[0-9a-f-]{36}$/);
    expect(demo.status.session).toMatchObject({ status: 'running', succeeded: 'none', start_time: '2025-03-01T10:00:10Z' });
    expect(demo.status.session.completion_time).toBeUndefined();
    expect(demo.ansible.limit.split(',').sort()).toEqual([A, B]);
    expect(demo.target.definition).toBe('dynamic');
    expect((await sessions('?status=running')).sessions).toHaveLength(2);
    expect((await sessions('?status=complete')).sessions).toHaveLength(0);

    clock.advance(60_000);
    await sim.room.settle();
    page = await sessions();
    const done = Object.fromEntries(page.sessions.map((x) => [x.configuration.name, x]));
    expect(done['demo-config']!.status.session).toMatchObject({ status: 'complete', succeeded: 'true', completion_time: '2025-03-01T10:01:10Z' });
    expect(done['broken']!.status.session).toMatchObject({ status: 'complete', succeeded: 'false' });
    expect((await sessions('?succeeded=false')).sessions.map((x) => x.configuration.name)).toEqual(['broken']);

    // the component's state names the session that configured it (CFS v3 state layers)
    const comp = await call<{ state: Record<string, unknown>[]; configuration_status: string }>(`${sim.url}${CFS}/components/${A}`);
    expect(comp.body.configuration_status).toBe('configured');
    expect(comp.body.state[0]).toMatchObject({ session_name: demo.name, status: 'applied', playbook: 'site.yml', last_updated: '2025-03-01T10:01:10Z' });

    const one = await call<CfsSession>(`${sim.url}${CFS}/sessions/${demo.name}`);
    expect(one.body).toEqual(done['demo-config']);
    const missing = await call<Problem>(`${sim.url}${CFS}/sessions/nope`);
    expect(missing.status).toBe(404);
    expect(missing.body.status).toBe(404);

    // paging
    const p1 = await sessions('?limit=1');
    expect(p1.sessions).toHaveLength(1);
    expect(p1.next).toEqual({ limit: 1, after: p1.sessions[0]!.name });
    const p2 = await sessions(`?limit=1&after=${p1.sessions[0]!.name}`);
    expect(p2.sessions).toHaveLength(1);
    expect(p2.next).toBeNull();
  });

  it('completes a session whose nodes went away before they were configured', async () => {
    const clock = new FakeClock();
    sim = await startSimulator({ nodes: 4, clock, knobs: { initialPower: 'on', cfsConfigureDelayMs: 60_000, powerOffDelayMs: 0, forceOffDelayMs: 0 } });
    await patch(sim, [A], { enabled: true, desired_config: 'c1' });
    clock.advance(1);
    await sim.room.settle();
    let s = (await call<SessionPage>(`${sim.url}${CFS}/sessions`)).body.sessions;
    expect(s).toHaveLength(1);
    expect(s[0]!.status.session.status).toBe('running');
    await call(`${sim.url}${PCS}/transitions`, 'POST', { operation: 'Force-Off', location: [{ xname: A }] });
    clock.advance(1);
    await sim.room.settle();
    s = (await call<SessionPage>(`${sim.url}${CFS}/sessions`)).body.sessions;
    expect(s[0]!.status.session).toMatchObject({ status: 'complete', succeeded: 'unknown' });
  });
});
