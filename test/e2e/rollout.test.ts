/**
 * End to end, rolling sessions on the simulated machine room (docs/rollouts.md): a preview that is
 * exactly what setup then writes; 10,000 nodes rebooted at most 500 at a time; a failure budget and a
 * failing canary that stop the rollout with the rest untouched; a resume; an operators restart
 * mid-rollout. In flight is counted on every component write the API makes, not by sampling.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Component } from '../../src/common/types.js';
import { silentLogger } from '../../src/log.js';
import { startOperators, type RunningOperators } from '../../src/operators/index.js';
import type { ComponentChange } from '../../src/server/store/store.js';
import { simpleTemplate, startE2e, type E2eSystem } from '../helpers/system.js';

let e2e: E2eSystem | undefined;
let extraOperators: RunningOperators | undefined;
afterEach(async () => {
  await extraOperators?.stop();
  extraOperators = undefined;
  await e2e?.close();
  e2e = undefined;
});

/** Quick hardware: a rollout's pace is set by the operators, not by machine-room delays. */
const QUICK = { powerOnDelayMs: 1_000, powerOffDelayMs: 1_000, bootDelayMs: 2_000, cfsConfigureDelayMs: 1_000 };

/**
 * Count the session's nodes in flight (enabled, in the session) after every component write the API
 * makes, and keep the highest count seen. Each change is counted as the store applies it.
 */
function watchInFlight(sys: E2eSystem['sys'], session: string): { max: () => number; now: () => number } {
  const table = sys.store.components;
  const original = table.update.bind(table);
  const inFlight = new Set<string>();
  let max = 0;
  table.update = (ids, change, meta) => {
    const counted: ComponentChange = (current, id) => {
      const next = change(current, id);
      const rec: Pick<Component, 'enabled' | 'session'> | undefined = next === undefined ? current : (next ?? undefined);
      if (rec?.enabled === true && rec.session === session) inFlight.add(id);
      else inFlight.delete(id);
      max = Math.max(max, inFlight.size);
      return next;
    };
    return original(ids, counted, meta);
  };
  return { max: () => max, now: () => inFlight.size };
}

describe('rolling sessions end to end', () => {
  it('10,000 nodes, at most 500 in flight: the preview is what setup writes; every node rebooted; never more than 500 at once', { timeout: 240_000 }, async () => {
    e2e = await startE2e({ nodes: 10_000, knobs: { ...QUICK, initialPower: 'on' }, options: { max_component_batch_size: 1000 } });
    const ids = e2e.computeNodes().map((n) => n.id).filter((id) => e2e!.node(id).arch !== 'ARM');
    await e2e.putTemplate('next', simpleTemplate({ node_groups: ['compute'] }, { configuration: 'next-config' }));
    const body = { name: 'roll', template_name: 'next', operation: 'reboot', max_in_flight: 500 };
    const preview = await e2e.ok('POST', '/sessionpreview', body);
    expect(preview.error).toBeNull();
    expect([...preview.nodes].sort()).toEqual([...ids].sort()); // every X86 compute node of the room

    const inFlight = watchInFlight(e2e.sys, 'roll');
    await e2e.createSession(body);
    const done = await e2e.waitComplete('roll', 200_000);
    expect(done.status.error).toBeNull();
    expect(inFlight.max()).toBeGreaterThan(400); // the limit was used, not merely respected
    expect(inFlight.max()).toBeLessThanOrEqual(500);

    const comps = await e2e.components({ session: 'roll' });
    expect(comps.map((c) => c.id).sort()).toEqual([...preview.nodes].sort());
    const state = preview.boot_sets[Object.keys(preview.boot_sets)[0]!].state;
    for (const c of comps) {
      expect(c.status.status, c.id).toBe('stable');
      expect(c.enabled, c.id).toBe(false);
      expect(c.staged_state.session, c.id).toBe('');
      expect(c.desired_state.configuration, c.id).toBe('next-config');
      expect(c.desired_state.boot_artifacts.kernel, c.id).toBe(state.boot_artifacts.kernel);
      expect(c.actual_state.boot_artifacts.kernel, c.id).toBe(state.boot_artifacts.kernel);
    }
    const st = await e2e.sessionStatus('roll');
    expect(st.rollout).toMatchObject({ waiting: 0, in_flight: 0, done: comps.length, failed: 0, stopped: null });
  });

  it('a failure budget stops the rollout with the rest untouched; a resume lets it finish', async () => {
    e2e = await startE2e({ nodes: 60, knobs: QUICK });
    const ids = e2e.computeNodes().map((n) => n.id).filter((id) => e2e!.node(id).arch !== 'ARM').sort();
    const bad = ids.filter((_, i) => i % 4 === 1); // the image fails on every fourth node
    for (const id of bad) e2e.sys.room.setNode(id, { cfsFails: true });
    await e2e.putTemplate('next', simpleTemplate({ node_list: ids }, { configuration: 'next-config' }));
    await e2e.createSession({ name: 'roll', template_name: 'next', operation: 'boot', max_in_flight: 4, max_failed: 1 });

    const stopped = await e2e.waitFor('the rollout to stop at its budget', async () => {
      const st = await e2e!.sessionStatus('roll');
      return st.rollout?.stopped && st.rollout.in_flight === 0 ? st : undefined;
    });
    expect(stopped.rollout.failed).toBe(2);
    expect(stopped.rollout.stopped).toMatch(/^failure budget exceeded: 2 node\(s\) failed, max_failed is 1/);
    // The rollout operator says so on the session at its next pass.
    await e2e.waitFor('the stop written on the session', async () => (await e2e!.getSession('roll')).status.error === stopped.rollout.stopped);
    // Nothing after the stop was touched: still waiting, powered off, CFS not asked.
    const waiting = await e2e.components({ staged_session: 'roll' });
    expect(waiting.length).toBe(stopped.rollout.waiting);
    expect(waiting.length).toBeGreaterThan(ids.length / 2);
    for (const c of waiting) {
      expect(c.enabled, c.id).toBe(false);
      expect(c.desired_state.boot_artifacts.kernel, c.id).toBe('');
      expect(e2e.node(c.id).power, c.id).toBe('off');
      expect(e2e.cfs(c.id).desired_config, c.id).toBe('');
    }
    expect((await e2e.getSession('roll')).status.status).toBe('running');

    // Resume: forgive the failures so far and allow more (the rest of the bad nodes fail too).
    await e2e.ok('PATCH', '/sessions/roll', { failures_forgiven: stopped.rollout.failed, max_failed: ids.length, status: { error: null } });
    const complete = await e2e.waitComplete('roll');
    expect(complete.status.error).toBeNull();
    const final = await e2e.sessionStatus('roll');
    expect(final.rollout).toMatchObject({ waiting: 0, in_flight: 0, failed: bad.length, done: ids.length - bad.length });
  });

  it('a failing canary stops the rollout before any other node is touched', async () => {
    e2e = await startE2e({ nodes: 24, knobs: QUICK });
    const ids = e2e.computeNodes().map((n) => n.id).filter((id) => e2e!.node(id).arch !== 'ARM').sort();
    e2e.sys.room.setNode(ids[1]!, { cfsFails: true });
    await e2e.putTemplate('next', simpleTemplate({ node_list: ids }, { configuration: 'next-config' }));
    await e2e.createSession({ name: 'roll', template_name: 'next', operation: 'boot', canary: 3, max_in_flight: 10 });
    const st = await e2e.waitFor('the canary to fail', async () => {
      const s = await e2e!.sessionStatus('roll');
      return s.rollout?.stopped && s.rollout.in_flight === 0 ? s : undefined;
    });
    expect(st.rollout).toMatchObject({ waiting: ids.length - 3, done: 2, failed: 1 });
    expect(st.rollout.stopped).toMatch(/^canary failed: 1 of the first 3 node\(s\) failed/);
    expect((await e2e.components({ session: 'roll' })).map((c) => c.id).sort()).toEqual(ids.slice(0, 3));
    for (const id of ids.slice(3)) expect(e2e.node(id).power, id).toBe('off');
  });

  it('an operators restart mid-rollout loses nothing and never exceeds max_in_flight', async () => {
    e2e = await startE2e({ nodes: 60, knobs: QUICK, operators: [] });
    const start = () =>
      startOperators({ services: e2e!.sys.services, clock: e2e!.clock, logger: silentLogger(), minIntervalMs: 50, pollingOverride: 1 });
    extraOperators = start();
    await e2e.waitFor('discovery of every node', async () => (await e2e!.components()).length >= 60);
    const ids = e2e.computeNodes().map((n) => n.id).filter((id) => e2e!.node(id).arch !== 'ARM').sort();
    await e2e.putTemplate('next', simpleTemplate({ node_list: ids }, { configuration: 'next-config' }));
    const inFlight = watchInFlight(e2e.sys, 'roll');
    await e2e.createSession({ name: 'roll', template_name: 'next', operation: 'boot', max_in_flight: 5 });
    await e2e.waitFor('a third of the nodes done', async () => {
      const st = await e2e!.sessionStatus('roll');
      return (st.rollout?.done ?? 0) >= ids.length / 3;
    });
    await extraOperators.stop();
    const held = await e2e.sessionStatus('roll');
    extraOperators = start();
    await e2e.waitComplete('roll');
    expect(held.rollout.waiting).toBeGreaterThan(0);
    expect(inFlight.max()).toBeLessThanOrEqual(5);
    const final = await e2e.sessionStatus('roll');
    expect(final.rollout).toMatchObject({ waiting: 0, in_flight: 0, failed: 0, done: ids.length });
  });
});
