/**
 * End to end: administrator workflows beyond a single clean boot — a new configuration on the same
 * image, re-running a session after repairing a failed node, taking over nodes that were running
 * before BOS knew them, and riding out flaky downstream services.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { computeTemplate, startE2e, type E2eSystem, E2E_TEST_TIMEOUT_MS } from '../helpers/system.js';
import { expectBooted, expectSessionClean } from './checks.js';

let e2e: E2eSystem | undefined;
afterEach(async () => {
  await e2e?.close();
  e2e = undefined;
});

const NODES = 24; // 3 management, 1 UAN, 20 compute

describe('administrator workflows end to end', { timeout: E2E_TEST_TIMEOUT_MS }, () => {
  it('a new configuration on the same image reaches CFS without power-cycling any node', async () => {
    e2e = await startE2e({ nodes: NODES });
    const ids = e2e.computeNodes().map((n) => n.id);
    await e2e.putTemplate('v1', computeTemplate('config-v1'));
    await e2e.createSession({ name: 'boot', template_name: 'v1', operation: 'boot' });
    await e2e.waitComplete('boot');
    const transitions = e2e.sys.room.transitions.size;

    await e2e.putTemplate('v2', computeTemplate('config-v2'));
    await e2e.createSession({ name: 'reconfigure', template_name: 'v2', operation: 'boot' });
    const done = await e2e.waitComplete('reconfigure');
    expect(done.status.error).toBeNull();
    await expectBooted(e2e, ids, { session: 'reconfigure', configuration: 'config-v2' });
    for (const id of ids) expect(e2e.node(id).boots, id).toBe(1);
    expect(e2e.sys.room.transitions.size).toBe(transitions);
    await expectSessionClean(e2e, 'reconfigure', ids.length);
  });

  it('after the repair of a node that failed to boot, the same session template boots it', async () => {
    const bad = 'x1000c0s0b1n0';
    e2e = await startE2e({ nodes: NODES, speed: 100, knobs: { neverBoot: [bad] }, options: { max_boot_wait_time: 120 } });
    const ids = e2e.computeNodes().map((n) => n.id);
    await e2e.putTemplate('compute', computeTemplate());
    await e2e.createSession({ name: 'first', template_name: 'compute', operation: 'boot' });
    await e2e.waitComplete('first');
    expect((await e2e.component(bad)).status.status).toBe('failed');

    e2e.sys.room.setNode(bad, { neverBoot: false });
    await e2e.createSession({ name: 'retry', template_name: 'compute', operation: 'boot', limit: bad });
    const done = await e2e.waitComplete('retry');
    expect(done.status.error).toBeNull();
    // The new session starts the node's retry count afresh: it boots at the first attempt.
    await expectBooted(e2e, [bad], { session: 'retry', configuration: 'compute-config' });
    expect((await e2e.component(bad)).event_stats).toEqual({ power_on_attempts: 0, power_off_graceful_attempts: 0, power_off_forceful_attempts: 0 });
    expect(e2e.node(bad).boots).toBe(1);
    await expectSessionClean(e2e, 'retry', 1);
    // The others were left with the first session.
    for (const id of ids.filter((x) => x !== bad)) expect((await e2e.component(id)).session, id).toBe('first');
  });

  it('reboots nodes that were already running before BOS knew them onto the template image', async () => {
    e2e = await startE2e({ nodes: NODES, knobs: { initialPower: 'on' } });
    const ids = e2e.computeNodes().map((n) => n.id);
    expect(ids.every((id) => e2e!.node(id).booted && e2e!.node(id).boots === 1)).toBe(true);
    const oldTokens = new Map(ids.map((id) => [id, e2e!.node(id).boot!.token]));
    await e2e.putTemplate('compute', computeTemplate());
    await e2e.createSession({ name: 'reboot', template_name: 'compute', operation: 'reboot' });
    const done = await e2e.waitComplete('reboot');
    expect(done.status.error).toBeNull();
    await expectBooted(e2e, ids, { session: 'reboot', configuration: 'compute-config' });
    for (const id of ids) {
      expect(e2e.node(id).boots, id).toBe(2);
      expect(e2e.node(id).boot!.token, id).not.toBe(oldTokens.get(id));
    }
    await expectSessionClean(e2e, 'reboot', ids.length);
  });

  it('rides out failing PCS and CFS calls: every node boots and no error is left behind', async () => {
    e2e = await startE2e({
      nodes: NODES,
      seed: 7,
      knobs: { failureRate: { pcs: 0.2, cfs: 0.2 } },
      // A flaky system gets a more patient retry policy.
      options: { default_retry_policy: 10 },
    });
    const ids = e2e.computeNodes().map((n) => n.id);
    await e2e.putTemplate('compute', computeTemplate());
    await e2e.createSession({ name: 'reboot', template_name: 'compute', operation: 'reboot' });
    const done = await e2e.waitComplete('reboot');
    expect(done.status.error).toBeNull();
    await expectBooted(e2e, ids, { session: 'reboot', configuration: 'compute-config' });
    await expectSessionClean(e2e, 'reboot', ids.length);
    // The failures did happen: some passes of the PCS/CFS users failed or recorded errors.
    const health = e2e.sys.operators!.health();
    const failed = health.filter((h) => ['status', 'configuration', 'power-on', 'power-off-graceful'].includes(h.operator)).reduce((n, h) => n + h.failedPasses, 0);
    const metrics = await (await fetch(`${e2e.sys.url}/metrics`)).text();
    const errors = /bos_operator_component_errors_total\{[^}]*\} [1-9]/.test(metrics);
    expect(failed > 0 || errors).toBe(true);
  });
});
