/**
 * End to end: nodes that misbehave (ignore a graceful power-off, never boot, fail configuration)
 * are handled as an administrator expects while the rest of the session completes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { computeTemplate, startE2e, type E2eSystem, E2E_TEST_TIMEOUT_MS } from '../helpers/system.js';
import { expectBooted } from './checks.js';

let e2e: E2eSystem | undefined;
afterEach(async () => {
  await e2e?.close();
  e2e = undefined;
});

const NODES = 24; // 3 management, 21 compute

function transitionsOf(e2e: E2eSystem, id: string): { operation: string; at: number; status: string }[] {
  const out: { operation: string; at: number; status: string }[] = [];
  for (const t of e2e.sys.room.transitions.values()) {
    const task = t.tasks.find((x) => x.xname === id);
    if (task) out.push({ operation: t.operation, at: Date.parse(t.createTime), status: task.taskStatus });
  }
  return out.sort((a, b) => a.at - b.at);
}

describe('misbehaving nodes end to end', { timeout: E2E_TEST_TIMEOUT_MS }, () => {
  it('forces off a node that ignores the graceful power-off once max_power_off_wait_time has passed', async () => {
    // A slow forced power-off (150 s, still shorter than max_power_off_wait_time, so it is not
    // repeated) keeps the node in power_off_forcefully_called long enough to be seen.
    e2e = await startE2e({ nodes: NODES, speed: 100, knobs: { ignoreSoftOff: ['x1000c0s1b0n0'], forceOffDelayMs: 150_000 }, options: { max_power_off_wait_time: 300 } });
    const stubborn = 'x1000c0s1b0n0';
    const ids = e2e.computeNodes().map((n) => n.id);
    expect(ids).toContain(stubborn);
    await e2e.putTemplate('compute', computeTemplate());
    await e2e.createSession({ name: 'boot', template_name: 'compute', operation: 'boot' });
    await e2e.waitComplete('boot');
    await expectBooted(e2e, ids, { session: 'boot', configuration: 'compute-config' });

    await e2e.createSession({ name: 'shutdown', template_name: 'compute', operation: 'shutdown' });
    // While the forced power-off runs, the component tells the story.
    const mid = await e2e.waitFor('the forced power-off of the stubborn node', async () => {
      const c = await e2e!.component(stubborn);
      return c.last_action?.action === 'powering_off_forcefully' && c.status.status === 'power_off_forcefully_called' ? c : undefined;
    });
    expect(e2e.node(stubborn).power).toBe('on');
    expect(mid.event_stats).toMatchObject({ power_off_graceful_attempts: 1, power_off_forceful_attempts: 1, power_on_attempts: 0 });
    expect(mid.error).toBe('');

    const done = await e2e.waitComplete('shutdown');
    expect(done.status.error).toBeNull();
    for (const id of ids) {
      const c = await e2e.component(id);
      expect(c.status.status, id).toBe('stable');
      expect(c.enabled, id).toBe(false);
      expect(c.error, id).toBe('');
      expect(e2e.node(id).power, id).toBe('off');
      expect(c.last_action.action, id).toBe(id === stubborn ? 'powering_off_forcefully' : 'powering_off_gracefully');
    }
    // In the room: the graceful request was ignored (PCS timed it out); the forced one came no
    // sooner than max_power_off_wait_time after it, and worked.
    const ts = transitionsOf(e2e, stubborn).filter((t) => t.operation !== 'On');
    expect(ts.map((t) => `${t.operation}:${t.status}`)).toEqual(['Soft-Off:failed', 'Force-Off:succeeded']);
    expect(ts[1]!.at - ts[0]!.at).toBeGreaterThanOrEqual(300_000);
    // The well-behaved nodes were never forced.
    for (const id of ids.filter((x) => x !== stubborn)) {
      expect(transitionsOf(e2e, id).map((t) => t.operation)).toEqual(['On', 'Soft-Off']);
    }
  });

  it('gives up on a node that never boots after default_retry_policy power-on attempts; the others complete', async () => {
    const bad = 'x1000c0s0b1n0';
    e2e = await startE2e({ nodes: NODES, speed: 100, knobs: { neverBoot: [bad] }, options: { max_boot_wait_time: 120, default_retry_policy: 3 } });
    const ids = e2e.computeNodes().map((n) => n.id);
    await e2e.putTemplate('compute', computeTemplate());
    await e2e.createSession({ name: 'boot', template_name: 'compute', operation: 'boot' });
    const done = await e2e.waitComplete('boot');
    expect(done.status.error).toBeNull();

    const good = ids.filter((id) => id !== bad);
    await expectBooted(e2e, good, { session: 'boot', configuration: 'compute-config' });

    const c = await e2e.component(bad);
    expect(c.session).toBe('boot');
    expect(c.enabled).toBe(false);
    expect(c.status.status).toBe('failed');
    expect(c.status.status_override).toBe('failed');
    expect(c.event_stats.power_on_attempts).toBe(3);
    // No service reported a specific error (the node powered on and simply never came up), so the
    // retry-limit text explains why BOS gave up.
    expect(c.error).toBe('The retry limit has been hit for this component, but no services have reported specific errors');
    // The room: powered on exactly three times, never booted.
    const n = e2e.node(bad);
    expect(n.boots).toBe(0);
    expect(transitionsOf(e2e, bad).filter((t) => t.operation === 'On')).toHaveLength(3);

    const st = await e2e.sessionStatus('boot');
    expect(st.managed_components_count).toBe(ids.length);
    expect(st.percent_failed).toBeCloseTo(100 / ids.length, 2);
    expect(st.percent_successful).toBeCloseTo((100 * good.length) / ids.length, 2);
    expect(Object.values(st.error_summary)).toEqual([{ count: 1, list: bad }]);
  });

  it('marks nodes whose CFS configuration fails as failed with an error naming CFS; the others complete', async () => {
    const bad = ['x1000c0s0b0n1', 'x1000c0s2b1n0'];
    e2e = await startE2e({ nodes: NODES, knobs: { cfsFailNodes: bad } });
    const ids = e2e.computeNodes().map((n) => n.id);
    await e2e.putTemplate('compute', computeTemplate());
    await e2e.createSession({ name: 'boot', template_name: 'compute', operation: 'boot' });
    const done = await e2e.waitComplete('boot');
    expect(done.status.error).toBeNull();

    await expectBooted(e2e, ids.filter((id) => !bad.includes(id)), { session: 'boot', configuration: 'compute-config' });
    for (const id of bad) {
      const c = await e2e.component(id);
      expect(c.enabled, id).toBe(false);
      expect(c.status.status, id).toBe('failed');
      expect(c.error, id).toMatch(/cfs/i);
      expect(c.error, id).toBe('cfs configuration failed');
      // Booted on the right image; only configuration failed.
      expect(e2e.node(id).booted, id).toBe(true);
      expect(c.actual_state.boot_artifacts.kernel, id).toBe(c.desired_state.boot_artifacts.kernel);
      expect(e2e.cfs(id).configuration_status, id).toBe('failed');
    }
    const st = await e2e.sessionStatus('boot');
    expect(st.error_summary['cfs configuration failed']).toEqual({ count: 2, list: expect.any(String) });
    expect(new Set(st.error_summary['cfs configuration failed'].list.split(','))).toEqual(new Set(bad));
  });

  it('enables CFS again for booted nodes it was disabled for while their configuration was pending; the session completes', async () => {
    // CFS takes five machine minutes per node: a wide window to disable it in after the boot, as a
    // second operator instance's late power-on (or an administrator) would.
    e2e = await startE2e({ nodes: 12, knobs: { cfsConfigureDelayMs: 300_000 } });
    const ids = e2e.computeNodes().map((n) => n.id);
    await e2e.putTemplate('compute', computeTemplate());
    await e2e.createSession({ name: 'boot', template_name: 'compute', operation: 'boot' });
    // Each node as soon as it is booted and configuring with CFS enabled: CFS disabled, its state
    // cleared (so a configuration just applied is pending again).
    const hit = new Set<string>();
    await e2e.waitFor('every node booted, configuring, and CFS disabled for it', async () => {
      for (const c of await e2e!.components({ session: 'boot' })) {
        if (hit.has(c.id) || c.status.phase !== 'configuring' || e2e!.cfs(c.id).enabled !== true) continue;
        e2e!.sys.room.patchCfs([c.id], { enabled: false, state: [] });
        expect(e2e!.cfs(c.id)).toMatchObject({ enabled: false, configuration_status: 'pending' });
        hit.add(c.id);
      }
      return hit.size === ids.length;
    });

    const done = await e2e.waitComplete('boot');
    expect(done.status.error).toBeNull();
    await expectBooted(e2e, ids, { session: 'boot', configuration: 'compute-config' });
    for (const id of ids) {
      expect(e2e.cfs(id), id).toMatchObject({ enabled: true, configuration_status: 'configured' });
      expect(e2e.node(id).boots, id).toBe(1); // enabled again, not rebooted
    }
  });

  it('fails every node of a configuration that CFS cannot apply', async () => {
    e2e = await startE2e({ nodes: 12, knobs: { failingConfigurations: ['broken-config'] } });
    const ids = e2e.computeNodes().map((n) => n.id);
    await e2e.putTemplate('broken', computeTemplate('broken-config'));
    await e2e.createSession({ name: 'boot', template_name: 'broken', operation: 'boot' });
    const done = await e2e.waitComplete('boot');
    expect(done.status.error).toBeNull();
    for (const id of ids) {
      const c = await e2e.component(id);
      expect(c.status.status, id).toBe('failed');
      expect(c.error, id).toBe('cfs configuration failed');
      expect(e2e.cfs(id)).toMatchObject({ desired_config: 'broken-config', configuration_status: 'failed' });
    }
    const st = await e2e.sessionStatus('boot');
    expect(st.percent_failed).toBe(100);
  });
});
