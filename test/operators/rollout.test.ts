/**
 * Rolling sessions in the operators (docs/rollouts.md): session setup stages a rolling session's nodes
 * for it; the rollout operator starts them a few at a time, stops at the canary or the failure budget,
 * goes on after a resume, and lets nodes a newer session took over go.
 */
import { describe, expect, it } from 'vitest';
import type { Component, Session } from '../../src/common/types.js';
import { createMetrics } from '../../src/metrics.js';
import { rollout } from '../../src/operators/rollout.js';
import { Runner } from '../../src/operators/runner.js';
import { sessionSetup } from '../../src/operators/session-setup.js';
import type { OperatorDefinition } from '../../src/operators/types.js';
import { ago, comp, pendingSession, world, type World } from './fakes.js';

const NODES = Array.from({ length: 10 }, (_, i) => `x${i}`);

function run(w: World, op: OperatorDefinition, metrics = createMetrics()) {
  return new Runner(op, { services: w, clock: w.clock, metrics }).runOnce();
}

const session = (extra: Partial<Session> = {}): Session => pendingSession('roll', { operation: 'reboot', ...extra });

/** Ten HSM nodes known to BOS (booted on an old image), a template over all of them, the session set up. */
async function setUp(extra: Partial<Session>): Promise<World> {
  const w = world();
  w.hsm.addNodes(NODES);
  for (const id of NODES) {
    w.bos.put(comp(id, { enabled: false, actual_state: { boot_artifacts: { kernel: 'old', kernel_parameters: '', initrd: 'old' }, bss_token: '' } }));
  }
  const manifest = w.s3.addImage('img1');
  w.bos.templates.set('t1', { name: 't1', tenant: null, enable_cfs: true, cfs: { configuration: 'cfg' }, boot_sets: { compute: { path: manifest, type: 's3', node_list: NODES } } });
  w.bos.sessions.set('roll', session(extra));
  const r = await run(w, sessionSetup);
  expect(r.ok).toBe(true);
  return w;
}

const started = (w: World) => NODES.filter((id) => w.bos.get(id).session === 'roll');
const waiting = (w: World) => NODES.filter((id) => w.bos.get(id).staged_state?.session === 'roll');

/** The status operator's verdict on a started node: done (disabled) or failed. */
function finish(w: World, id: string, outcome: 'done' | 'failed'): void {
  const c = w.bos.components.get(id)!;
  const status = { phase: '', status_override: outcome === 'failed' ? 'failed' : '' };
  w.bos.components.set(id, { ...c, enabled: false, status } as Component);
}

describe('session setup of a rolling session', () => {
  it('stages every node for the session instead of starting it; the session runs', async () => {
    const w = await setUp({ max_in_flight: 3 });
    expect(w.bos.sessions.get('roll')!.status.status).toBe('running');
    expect(waiting(w)).toEqual(NODES);
    for (const id of NODES) {
      const c = w.bos.get(id);
      expect(c.enabled, id).toBe(false);
      expect(c.session ?? '', id).toBe('');
      expect(c.desired_state?.boot_artifacts?.kernel ?? '', id).toBe('');
      expect(c.actual_state?.boot_artifacts?.kernel, id).toBe('old');
      expect(c.staged_state?.configuration, id).toBe('cfg');
      expect(c.staged_state?.boot_artifacts?.kernel, id).toMatch(/\/kernel$/);
    }
  });

  it('a rolling shutdown stages the empty state, still named for the session', async () => {
    const w = await setUp({ operation: 'shutdown', max_in_flight: 2 });
    for (const id of NODES) {
      const c = w.bos.get(id);
      expect(c.staged_state?.session).toBe('roll');
      expect(c.staged_state?.boot_artifacts).toEqual({ kernel: '', kernel_parameters: '', initrd: '' });
    }
    await run(w, rollout);
    expect(started(w)).toEqual(['x0', 'x1']);
    expect(w.bos.get('x0').desired_state?.boot_artifacts).toMatchObject({ kernel: '', initrd: '' });
  });
});

describe('the rollout operator', () => {
  it('starts nodes in id order within max_in_flight, as session setup would have, and more as nodes finish', async () => {
    const w = await setUp({ max_in_flight: 3 });
    w.bos.sessions.get('roll')!.status.status = 'running';
    const metrics = createMetrics();
    expect(await run(w, rollout, metrics)).toMatchObject({ ok: true, selected: 1, acted: 3 });
    expect(started(w)).toEqual(['x0', 'x1', 'x2']);
    const c = w.bos.get('x0');
    expect(c.enabled).toBe(true);
    expect(c.desired_state?.configuration).toBe('cfg');
    expect(c.desired_state?.boot_artifacts?.kernel).toMatch(/\/kernel$/);
    expect(c.staged_state?.session ?? '').toBe('');
    expect(c.last_action?.action).toBe('session_setup');
    expect(c.actual_state?.boot_artifacts?.kernel ?? '').toBe(''); // a reboot empties the actual state
    const gauge = await metrics.rolloutNodes.get();
    expect(Object.fromEntries(gauge.values.map((v) => [v.labels.state, v.value]))).toEqual({ waiting: 7, in_flight: 3, done: 0, failed: 0 });

    expect(await run(w, rollout)).toMatchObject({ acted: 0 });
    finish(w, 'x0', 'done');
    finish(w, 'x2', 'done');
    expect(await run(w, rollout)).toMatchObject({ acted: 2 });
    expect(started(w)).toEqual(['x0', 'x1', 'x2', 'x3', 'x4']);
    expect(waiting(w)).toEqual(NODES.slice(5));
  });

  it('a failing canary stops the rollout with the reason on the session; a resume goes on', async () => {
    const w = await setUp({ canary: 2, max_in_flight: 4 });
    w.bos.sessions.get('roll')!.status.status = 'running';
    await run(w, rollout);
    expect(started(w)).toEqual(['x0', 'x1']);
    finish(w, 'x0', 'done');
    finish(w, 'x1', 'failed');
    await run(w, rollout);
    expect(started(w)).toEqual(['x0', 'x1']);
    expect(w.bos.sessions.get('roll')!.status.error).toMatch(/^canary failed: 1 of the first 2 node\(s\) failed/);
    await run(w, rollout);
    const stops = w.rec.of('bos', 'patchSession').filter((c) => (c.args[2] as { status?: { error?: unknown } }).status?.error);
    expect(stops).toHaveLength(1); // written once, not every pass

    // Resume: the failure so far is forgiven; the canary still needs its second success.
    w.bos.sessions.get('roll')!.failures_forgiven = 1;
    await run(w, rollout);
    expect(w.bos.sessions.get('roll')!.status.error).toBeNull();
    expect(started(w)).toEqual(['x0', 'x1', 'x2']);
    finish(w, 'x2', 'done');
    await run(w, rollout);
    expect(started(w)).toEqual(['x0', 'x1', 'x2', 'x3', 'x4', 'x5', 'x6']);
  });

  it('more failures than max_failed stop the rollout; nodes in flight go on, waiting ones stay waiting', async () => {
    const w = await setUp({ max_in_flight: 4, max_failed: 1 });
    w.bos.sessions.get('roll')!.status.status = 'running';
    await run(w, rollout);
    finish(w, 'x0', 'failed');
    finish(w, 'x1', 'failed');
    await run(w, rollout);
    expect(started(w)).toEqual(['x0', 'x1', 'x2', 'x3']);
    expect(waiting(w)).toEqual(NODES.slice(4));
    expect(w.bos.sessions.get('roll')!.status.error).toBe('failure budget exceeded: 2 node(s) failed, max_failed is 1; 6 node(s) not started (resume or delete the session)');
    expect(w.bos.get('x2').enabled).toBe(true);
  });

  it('lets a waiting node go when a newer session took it over', async () => {
    const w = await setUp({ max_in_flight: 10 });
    w.bos.sessions.get('roll')!.status.status = 'running';
    const x5 = w.bos.components.get('x5')!;
    w.bos.components.set('x5', { ...x5, session: 'newer', enabled: true, last_action: { action: 'session_setup', failed: false, last_updated: ago(w, 1) } });
    await run(w, rollout);
    expect(started(w)).toEqual(NODES.filter((id) => id !== 'x5'));
    expect(w.bos.get('x5').session).toBe('newer');
    expect(w.bos.get('x5').staged_state?.session ?? '').toBe('');
  });

  it('leaves sessions that do not roll alone', async () => {
    const w = await setUp({});
    w.bos.sessions.get('roll')!.status.status = 'running';
    w.rec.calls.length = 0;
    expect(await run(w, rollout)).toMatchObject({ ok: true, selected: 0, acted: 0 });
    expect(w.rec.of('bos', 'patchComponents')).toEqual([]);
  });
});
