/**
 * End to end: which nodes a session acts upon. Limits (groups, roles, xnames, `&`, `!`), HSM locks
 * and HSM-disabled nodes, and boot-set architecture, checked against the machine room's layout.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SIM_IMAGES, manifestPath } from '../../src/sim/index.js';
import { simpleTemplate, startE2e, type E2eSystem, E2E_TEST_TIMEOUT_MS } from '../helpers/system.js';
import { expectBooted } from './checks.js';

let e2e: E2eSystem | undefined;
afterEach(async () => {
  await e2e?.close();
  e2e = undefined;
});

const NODES = 54; // 3 management, 1 UAN, 50 compute

function members(e2e: E2eSystem, label: string): Set<string> {
  const g = e2e.sys.room.groups.find((x) => x.label === label);
  if (!g) throw new Error(`no group ${label}`);
  return new Set(g.members.ids);
}

/** Nodes the session took (BOS side) must be exactly `expected`; every other node untouched. */
async function expectExactly(e2e: E2eSystem, session: string, expected: Set<string>, configuration: string): Promise<void> {
  const comps = await e2e.components();
  const taken = new Set(comps.filter((c) => c.session === session).map((c) => c.id as string));
  expect([...taken].sort()).toEqual([...expected].sort());
  const s = await e2e.getSession(session);
  expect(new Set(s.components.split(','))).toEqual(expected);
  await expectBooted(e2e, [...expected], { session, configuration });
  for (const c of comps.filter((x) => !expected.has(x.id))) {
    expect(c.session, c.id).toBe('');
    expect(c.desired_state.boot_artifacts.kernel, c.id).toBe('');
    expect(e2e.node(c.id).power, c.id).toBe('off');
  }
}

describe('node selection end to end', { timeout: E2E_TEST_TIMEOUT_MS }, () => {
  it('a limit of roles, groups, an xname, & and ! selects exactly those nodes; locked and disabled nodes are left alone', async () => {
    const locked = 'x1000c0s0b0n1'; // compute 1, in blue, not gpu
    const disabled = 'x1000c0s0b1n0'; // compute 2, in blue, not gpu
    const excluded = 'x1000c0s0b0n0'; // compute 0
    e2e = await startE2e({ nodes: NODES, knobs: { locked: [locked], disabled: [disabled] } });
    const room = e2e.sys.room;
    const blue = members(e2e, 'blue');
    const gpu = members(e2e, 'gpu');
    const apps = room.nodes().filter((n) => n.role === 'Application').map((n) => n.id);
    expect(apps).toHaveLength(1);
    expect(blue.has(locked) && blue.has(disabled) && blue.has(excluded)).toBe(true);

    await e2e.putTemplate('all', simpleTemplate({ node_roles_groups: ['Compute', 'Application'] }, { configuration: 'limit-config' }));
    await e2e.createSession({ name: 'limited', template_name: 'all', operation: 'boot', limit: `Compute,&blue,!gpu,Application,!${excluded}` });
    const done = await e2e.waitComplete('limited');
    expect(done.status.error).toBeNull();

    const expected = new Set([
      ...[...blue].filter((id) => !gpu.has(id) && id !== excluded && id !== locked && id !== disabled),
      ...apps,
    ]);
    // The blue, non-gpu compute nodes include some whose HSM Arch is UNKNOWN or missing: an X86 boot set takes them.
    expect([...expected].some((id) => room.node(id)!.arch === undefined)).toBe(true);
    expect([...expected].some((id) => room.node(id)!.arch === 'UNKNOWN')).toBe(true);
    await expectExactly(e2e, 'limited', expected, 'limit-config');

    // The locked and the disabled node: no desired state, no power-on, nothing in BSS from BOS.
    for (const id of [locked, disabled]) {
      const c = await e2e.component(id);
      expect(c.enabled, id).toBe(false);
      expect(c.last_action.action, id).toBe('newly_discovered');
      expect(e2e.node(id).boots, id).toBe(0);
    }
    const pcsTargets = new Set([...room.transitions.values()].flatMap((t) => t.tasks.map((x) => x.xname)));
    expect(pcsTargets.has(locked)).toBe(false);
    expect(pcsTargets.has(disabled)).toBe(false);
  });

  it('include_disabled takes HSM-disabled nodes too, but never locked ones', async () => {
    const locked = 'x1000c0s0b0n1';
    const disabled = ['x1000c0s0b1n0', 'x1000c0s0b1n1'];
    e2e = await startE2e({ nodes: 24, knobs: { locked: [locked], disabled } });
    await e2e.putTemplate('few', simpleTemplate({ node_list: [locked, ...disabled, 'x1000c0s1b0n0'] }, { configuration: 'few-config' }));

    await e2e.createSession({ name: 'enabled-only', template_name: 'few', operation: 'boot' });
    await e2e.waitComplete('enabled-only');
    await expectExactly(e2e, 'enabled-only', new Set(['x1000c0s1b0n0']), 'few-config');

    await e2e.createSession({ name: 'with-disabled', template_name: 'few', operation: 'boot', include_disabled: true, limit: disabled.join(',') + `,${locked}` });
    const done = await e2e.waitComplete('with-disabled');
    expect(done.status.error).toBeNull();
    const comps = await e2e.components();
    expect(comps.filter((c) => c.session === 'with-disabled').map((c) => c.id).sort()).toEqual([...disabled].sort());
    await expectBooted(e2e, disabled, { session: 'with-disabled', configuration: 'few-config' });
    expect(e2e.node(locked).power).toBe('off');
    expect((await e2e.component(locked)).session).toBe('');
  });

  it('an ARM boot set touches only the ARM nodes', async () => {
    e2e = await startE2e({ nodes: NODES });
    const room = e2e.sys.room;
    const arm = new Set(room.nodes().filter((n) => n.arch === 'ARM').map((n) => n.id));
    expect(arm.size).toBe(6);
    await e2e.putTemplate('arm', {
      enable_cfs: true,
      cfs: { configuration: 'arm-config' },
      boot_sets: {
        arm: {
          path: manifestPath(SIM_IMAGES.computeArm),
          type: 's3',
          node_roles_groups: ['Compute', 'Application'],
          node_groups: ['compute'],
          arch: 'ARM',
          rootfs_provider: 'sbps',
        },
      },
    });
    await e2e.createSession({ name: 'arm-boot', template_name: 'arm', operation: 'boot' });
    const done = await e2e.waitComplete('arm-boot');
    expect(done.status.error).toBeNull();
    await expectExactly(e2e, 'arm-boot', arm, 'arm-config');
    for (const id of arm) expect(e2e.node(id).boot!.kernel).toBe(`s3://boot-images/${SIM_IMAGES.computeArm}/kernel`);
  });
});
