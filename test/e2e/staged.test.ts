/**
 * End to end: a staged session only records what each node should boot next; `POST
 * /v2/applystaged` (what the workload manager calls when a node is idle) then boots those nodes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { computeTemplate, simpleTemplate, startE2e, type E2eSystem, E2E_TEST_TIMEOUT_MS } from '../helpers/system.js';
import { expectBooted } from './checks.js';

let e2e: E2eSystem | undefined;
afterEach(async () => {
  await e2e?.close();
  e2e = undefined;
});

describe('staged sessions end to end', { timeout: E2E_TEST_TIMEOUT_MS }, () => {
  it('stages without touching the nodes; applystaged boots the applied nodes only; the session completes once all are applied', async () => {
    e2e = await startE2e({ nodes: 24, options: { clear_stage: true } });
    const ids = e2e.computeNodes().map((n) => n.id).filter((id) => e2e!.node(id).arch !== 'ARM');
    const first = ids.slice(0, 6);
    const rest = ids.slice(6);
    await e2e.putTemplate('next', simpleTemplate({ node_groups: ['compute'] }, { configuration: 'next-config' }));
    await e2e.createSession({ name: 'staged', template_name: 'next', operation: 'boot', stage: true });

    const running = await e2e.waitFor('the staged session to be set up', async () => {
      const s = await e2e!.getSession('staged');
      return s.status.status === 'running' ? s : undefined;
    });
    expect(new Set(running.components.split(','))).toEqual(new Set(ids));
    // Give every operator time to act, then check nothing but staged_state changed.
    await e2e.waitPasses(['power-on', 'status', 'configuration', 'session-completion']);
    for (const id of ids) {
      const c = await e2e.component(id);
      expect(c.staged_state.session, id).toBe('staged');
      expect(c.staged_state.configuration, id).toBe('next-config');
      expect(c.staged_state.boot_artifacts.kernel, id).toMatch(/\/kernel$/);
      expect(c.staged_state.boot_artifacts.kernel_parameters, id).toContain('console=ttyS0');
      expect(c.desired_state.boot_artifacts.kernel, id).toBe('');
      expect(c.desired_state.configuration, id).toBe('');
      expect(c.enabled, id).toBe(false);
      expect(c.session, id).toBe('');
      expect(c.last_action.action, id).toBe('newly_discovered');
      expect(e2e.node(id).power, id).toBe('off');
      expect(e2e.cfs(id).desired_config, id).toBe('');
    }
    expect((await e2e.getSession('staged')).status.status).toBe('running');
    const st = await e2e.sessionStatus('staged');
    expect(st.percent_staged).toBe(100);

    // The workload manager applies the stage on the first few nodes (plus one unknown xname).
    const applied = await e2e.ok('POST', '/applystaged', { xnames: [...first, 'x9999c0s0b0n0'] });
    expect(new Set(applied.succeeded)).toEqual(new Set(first));
    expect(applied.failed).toEqual([]);
    expect(applied.ignored).toEqual(['x9999c0s0b0n0']);

    await e2e.waitFor('the applied nodes to boot', async () => {
      const comps = await e2e!.components({ session: 'staged' });
      return comps.length === first.length && comps.every((c) => c.status.status === 'stable' && !c.enabled) ? comps : undefined;
    });
    await expectBooted(e2e, first, { session: 'staged', configuration: 'next-config' });
    for (const id of first) expect((await e2e.component(id)).staged_state.boot_artifacts?.kernel ?? '').toBe('');
    // The others still wait, off, with their stage; the session is still running.
    for (const id of rest) {
      const c = await e2e.component(id);
      expect(c.staged_state.session, id).toBe('staged');
      expect(e2e.node(id).power, id).toBe('off');
    }
    expect((await e2e.getSession('staged')).status.status).toBe('running');

    const applied2 = await e2e.ok('POST', '/applystaged', { xnames: rest });
    expect(new Set(applied2.succeeded)).toEqual(new Set(rest));
    const done = await e2e.waitComplete('staged');
    expect(done.status.error).toBeNull();
    await expectBooted(e2e, ids, { session: 'staged', configuration: 'next-config' });
  });
  it('rolling upgrade: a staged reboot onto a new image is applied node by node; the others keep running the old one', async () => {
    e2e = await startE2e({ nodes: 24 });
    const ids = e2e.computeNodes().map((n) => n.id);
    await e2e.putTemplate('v1', computeTemplate('config-v1', { kernel_parameters: 'console=ttyS0 v1' }));
    await e2e.createSession({ name: 'boot-v1', template_name: 'v1', operation: 'boot' });
    await e2e.waitComplete('boot-v1');
    await e2e.putTemplate('v2', computeTemplate('config-v2', { kernel_parameters: 'console=ttyS0 v2' }));
    await e2e.createSession({ name: 'upgrade', template_name: 'v2', operation: 'reboot', stage: true });
    await e2e.waitFor('the staged reboot to be set up', async () => (await e2e!.getSession('upgrade')).status.status === 'running');

    const upgraded = ids.slice(0, 3);
    for (const id of upgraded) {
      // What the workload manager's reboot program does once the node is idle.
      const r = await e2e.ok('POST', '/applystaged', { xnames: [id] });
      expect(r).toEqual({ succeeded: [id], failed: [], ignored: [] });
      await e2e.waitFor(`${id} to reboot onto v2`, async () => {
        const c = await e2e!.component(id);
        return c.status.status === 'stable' && e2e!.node(id).boots === 2 ? c : undefined;
      });
    }
    await expectBooted(e2e, upgraded, { session: 'upgrade', configuration: 'config-v2' });
    for (const id of upgraded) expect(e2e.node(id).boot!.params, id).toContain(' v2 ');
    for (const id of ids.slice(3)) {
      const c = await e2e.component(id);
      expect(c.session, id).toBe('boot-v1');
      expect(c.staged_state.session, id).toBe('upgrade');
      expect(e2e.node(id).boots, id).toBe(1);
      expect(e2e.node(id).boot!.params, id).toContain(' v1 ');
    }
    await expectBooted(e2e, ids.slice(3), { session: 'boot-v1', configuration: 'config-v1' });
  });
});
