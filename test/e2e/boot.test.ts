/**
 * End to end: boot, reboot and shutdown sessions over the whole system (API + machine room +
 * operators), checked both through BOS and in the machine room.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { computeTemplate, startE2e, type E2eSystem, E2E_TEST_TIMEOUT_MS } from '../helpers/system.js';
import { expectBooted, expectSessionClean } from './checks.js';

let e2e: E2eSystem | undefined;
afterEach(async () => {
  await e2e?.close();
  e2e = undefined;
});

// 54 nodes: 3 management, 1 UAN and 50 compute nodes (X86, ARM and some without a known Arch).
const NODES = 54;

describe('boot, reboot and shutdown end to end', { timeout: E2E_TEST_TIMEOUT_MS }, () => {
  it('boots 50 compute nodes: every node stable, booted on the desired artifacts, configured by CFS', async () => {
    e2e = await startE2e({ nodes: NODES });
    const compute = e2e.computeNodes().map((n) => n.id);
    expect(compute).toHaveLength(50);
    expect(compute.every((id) => e2e!.node(id).power === 'off')).toBe(true);

    await e2e.putTemplate('compute', computeTemplate('compute-config'));
    const created = await e2e.createSession({ name: 'boot-all', template_name: 'compute', operation: 'boot' });
    expect(created.status.status).toBe('pending');

    const done = await e2e.waitComplete('boot-all');
    expect(done.status.error).toBeNull();
    expect(done.status.end_time).toEqual(expect.any(String));
    expect(new Set(done.components.split(','))).toEqual(new Set(compute));

    await expectBooted(e2e, compute, { session: 'boot-all', configuration: 'compute-config' });
    // ARM nodes got the ARM image, the others the X86 one.
    for (const id of compute) {
      const n = e2e.node(id);
      expect(n.boot!.kernel).toContain(n.arch === 'ARM' ? 'f17631a1' : 'e06530f1');
      expect(n.boots).toBe(1);
    }
    // Nodes outside the template were not touched.
    for (const n of e2e.sys.room.nodes().filter((x) => x.role !== 'Compute')) {
      expect(n.power).toBe('off');
      expect((await e2e.component(n.id)).session).toBe('');
    }
    await expectSessionClean(e2e, 'boot-all', 50);
  });

  it('reboots booted nodes onto a new image: each node is powered off, then on, and boots the new artifacts', async () => {
    e2e = await startE2e({ nodes: NODES });
    const compute = e2e.computeNodes().map((n) => n.id);
    await e2e.putTemplate('v1', computeTemplate('config-v1', { kernel_parameters: 'console=ttyS0 v1' }));
    await e2e.createSession({ name: 'boot-v1', template_name: 'v1', operation: 'boot' });
    await e2e.waitComplete('boot-v1');
    await expectBooted(e2e, compute, { session: 'boot-v1', configuration: 'config-v1' });
    const before = new Map(compute.map((id) => [id, { boots: e2e!.node(id).boots, power: e2e!.node(id).lastPowerChange, token: e2e!.node(id).boot!.token }]));

    await e2e.putTemplate('v2', computeTemplate('config-v2', { kernel_parameters: 'console=ttyS0 v2' }));
    await e2e.createSession({ name: 'reboot-v2', template_name: 'v2', operation: 'reboot' });
    const done = await e2e.waitComplete('reboot-v2');
    expect(done.status.error).toBeNull();

    await expectBooted(e2e, compute, { session: 'reboot-v2', configuration: 'config-v2' });
    for (const id of compute) {
      const n = e2e.node(id);
      const was = before.get(id)!;
      // Booted once more, on a new BSS entry, after a power change.
      expect(n.boots).toBe(was.boots + 1);
      expect(n.boot!.token).not.toBe(was.token);
      expect(n.boot!.params).toContain(' v2 ');
      expect(n.lastPowerChange).toBeGreaterThan(was.power);
      expect(n.boot!.at).toBeGreaterThanOrEqual(n.lastPowerChange);
      const c = await e2e.component(id);
      expect(c.last_action.action).toBe('powering_on');
    }
    // PCS really was asked to power the nodes off (gracefully) and on again.
    const ops = new Map<string, Set<string>>();
    for (const t of e2e.sys.room.transitions.values()) {
      for (const task of t.tasks) {
        if (!ops.has(task.xname)) ops.set(task.xname, new Set());
        ops.get(task.xname)!.add(t.operation);
      }
    }
    for (const id of compute) {
      expect(ops.get(id)).toEqual(new Set(['On', 'Soft-Off']));
    }
    await expectSessionClean(e2e, 'reboot-v2', 50);
  });

  it('shuts booted nodes down: every node off in the room, stable, the session complete', async () => {
    e2e = await startE2e({ nodes: NODES });
    const compute = e2e.computeNodes().map((n) => n.id);
    await e2e.putTemplate('compute', computeTemplate());
    await e2e.createSession({ name: 'boot', template_name: 'compute', operation: 'boot' });
    await e2e.waitComplete('boot');
    expect(compute.every((id) => e2e!.node(id).power === 'on' && e2e!.node(id).booted)).toBe(true);

    await e2e.createSession({ name: 'shutdown', template_name: 'compute', operation: 'shutdown' });
    const done = await e2e.waitComplete('shutdown');
    expect(done.status.error).toBeNull();
    for (const id of compute) {
      const n = e2e.node(id);
      expect(n.power).toBe('off');
      expect(n.booted).toBe(false);
      expect(e2e.pcs(id).powerState).toBe('off');
      const c = await e2e.component(id);
      expect(c.session).toBe('shutdown');
      expect(c.enabled).toBe(false);
      expect(c.status.status).toBe('stable');
      expect(c.error).toBe('');
      expect(c.desired_state.boot_artifacts).toMatchObject({ kernel: '', initrd: '', kernel_parameters: '' });
      // Once off, the actual state no longer claims the old boot.
      expect(c.actual_state.boot_artifacts?.kernel ?? '').toBe('');
    }
    await expectSessionClean(e2e, 'shutdown', 50);
  });
});
