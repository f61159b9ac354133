/**
 * End to end: sessions over the same nodes (the newer takes the nodes over) and the removal of
 * completed sessions once they are older than cleanup_completed_session_ttl (machine time).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { computeTemplate, simpleTemplate, startE2e, type E2eSystem, E2E_TEST_TIMEOUT_MS } from '../helpers/system.js';
import { expectBooted, expectSessionClean } from './checks.js';

let e2e: E2eSystem | undefined;
afterEach(async () => {
  await e2e?.close();
  e2e = undefined;
});

describe('sessions end to end', { timeout: E2E_TEST_TIMEOUT_MS }, () => {
  it('a second session over the same nodes takes them over mid-boot; the first completes, the second boots its image', async () => {
    e2e = await startE2e({ nodes: 24 });
    const ids = e2e.computeNodes().map((n) => n.id);
    await e2e.putTemplate('a', computeTemplate('config-a', { kernel_parameters: 'console=ttyS0 image=a' }));
    await e2e.putTemplate('b', computeTemplate('config-b', { kernel_parameters: 'console=ttyS0 image=b' }));
    await e2e.createSession({ name: 'first', template_name: 'a', operation: 'boot' });
    // Wait until the first session is under way: power-on requested for its nodes.
    await e2e.waitFor('the first session to power nodes on', async () => {
      const comps = await e2e!.components({ session: 'first' });
      const powering = comps.length === ids.length && comps.some((c) => c.last_action?.action === 'powering_on' && !e2e!.node(c.id).booted);
      return powering && (await e2e!.getSession('first')).status.status === 'running';
    });

    await e2e.createSession({ name: 'second', template_name: 'b', operation: 'boot' });
    const first = await e2e.waitComplete('first');
    expect(first.status.error).toBeNull();
    const second = await e2e.waitComplete('second');
    expect(second.status.error).toBeNull();

    const comps = await e2e.components();
    for (const id of ids) expect(comps.find((c) => c.id === id)!.session, id).toBe('second');
    await expectBooted(e2e, ids, { session: 'second', configuration: 'config-b' });
    for (const id of ids) expect(e2e.node(id).boot!.params, id).toContain(' image=b ');
    await expectSessionClean(e2e, 'second', ids.length);
    // The first session no longer manages any node.
    const st = await e2e.sessionStatus('first');
    expect(st.status).toBe('complete');
    expect(st.managed_components_count).toBe(0);
  });

  // The two takeovers below land the second session's setup inside an operator's pass over the
  // same nodes, by slowing down the service that operator is waiting on (real-time latency).
  it('takes over nodes whose power-on is in flight (slow BSS): the nodes stay with the second session and boot its image', async () => {
    e2e = await startE2e({ nodes: 12 });
    const ids = e2e.computeNodes().map((n) => n.id);
    await e2e.putTemplate('a', computeTemplate('config-a', { kernel_parameters: 'console=ttyS0 image=a' }));
    await e2e.putTemplate('b', computeTemplate('config-b', { kernel_parameters: 'console=ttyS0 image=b' }));
    e2e.sys.room.updateKnobs({ latencyMs: { bss: 1500 } });
    await e2e.createSession({ name: 'first', template_name: 'a', operation: 'boot' });
    // Power-on has recorded its action and is now waiting on BSS.
    await e2e.waitFor('power-on to be under way', async () => {
      const comps = await e2e!.components({ session: 'first' });
      return comps.length === ids.length && comps.every((c) => c.last_action.action === 'powering_on' && c.event_stats.power_on_attempts === 0);
    });
    await e2e.createSession({ name: 'second', template_name: 'b', operation: 'boot' });
    await e2e.waitFor('the second session to run', async () => (await e2e!.getSession('second')).status.status === 'running');
    e2e.sys.room.updateKnobs({ latencyMs: {} });
    await e2e.waitComplete('second');
    await e2e.waitComplete('first');
    await expectBooted(e2e, ids, { session: 'second', configuration: 'config-b' });
    for (const id of ids) expect(e2e.node(id).boot!.params, id).toContain(' image=b ');
    await expectSessionClean(e2e, 'second', ids.length);
  });

  it('takes over nodes the status operator is deciding (slow CFS): none is left disabled on the old image', async () => {
    // CFS takes a minute, so the nodes are seen configuring.
    e2e = await startE2e({ nodes: 12, knobs: { cfsConfigureDelayMs: 60_000 } });
    const ids = e2e.computeNodes().map((n) => n.id);
    await e2e.putTemplate('a', computeTemplate('config-a', { kernel_parameters: 'console=ttyS0 image=a' }));
    await e2e.putTemplate('b', computeTemplate('config-b', { kernel_parameters: 'console=ttyS0 image=b' }));
    await e2e.createSession({ name: 'first', template_name: 'a', operation: 'boot' });
    await e2e.waitFor('the first session to configure its nodes', async () => {
      const comps = await e2e!.components({ session: 'first' });
      return comps.length === ids.length && comps.every((c) => c.status.status === 'configuring' && e2e!.cfs(c.id).desired_config === 'config-a');
    });
    e2e.sys.room.updateKnobs({ latencyMs: { cfs: 1500 } });
    // CFS is done; the status operator is about to find out (slowly) and disable the nodes.
    await e2e.waitFor('CFS to configure the nodes', () => ids.every((id) => e2e!.cfs(id).configuration_status === 'configured'));
    await e2e.createSession({ name: 'second', template_name: 'b', operation: 'boot' });
    await e2e.waitFor('the second session to run', async () => (await e2e!.getSession('second')).status.status === 'running');
    e2e.sys.room.updateKnobs({ latencyMs: {} });
    await e2e.waitComplete('second');
    await e2e.waitComplete('first');
    await expectBooted(e2e, ids, { session: 'second', configuration: 'config-b' });
    for (const id of ids) expect(e2e.node(id).boot!.params, id).toContain(' image=b ');
    await expectSessionClean(e2e, 'second', ids.length);
  });

  it('deletes completed sessions once older than cleanup_completed_session_ttl, and only those', async () => {
    e2e = await startE2e({ nodes: 12, options: { cleanup_completed_session_ttl: '2h' } });
    const [n1, n2, n3] = e2e.computeNodes().map((n) => n.id);
    await e2e.putTemplate('one', simpleTemplate({ node_list: [n1!] }));
    await e2e.putTemplate('two', simpleTemplate({ node_list: [n2!] }));
    await e2e.putTemplate('three', simpleTemplate({ node_list: [n3!] }));
    await e2e.createSession({ name: 'old', template_name: 'one', operation: 'boot' });
    await e2e.waitComplete('old');
    // A staged session that stays running (nothing applied) is never cleaned up, however old.
    await e2e.createSession({ name: 'still-running', template_name: 'two', operation: 'boot', stage: true });
    await e2e.waitFor('the staged session to run', async () => (await e2e!.getSession('still-running')).status.status === 'running');

    // Young completed sessions stay.
    await e2e.waitPasses(['session-cleanup']);
    expect((await e2e.call('GET', '/sessions/old')).status).toBe(200);

    // Two hours of machine time later the completed one goes; a session completed since stays.
    e2e.clock.advance(2 * 3600_000 + 60_000);
    await e2e.createSession({ name: 'new', template_name: 'three', operation: 'boot' });
    await e2e.waitComplete('new');
    await e2e.waitFor('the old completed session to be deleted', async () => (await e2e!.call('GET', '/sessions/old')).status === 404);
    await e2e.waitPasses(['session-cleanup']);
    expect((await e2e.call('GET', '/sessions/new')).status).toBe(200);
    expect((await e2e.getSession('still-running')).status.status).toBe('running');
    // Its saved status went with it.
    expect((await e2e.call('GET', '/sessions/old/status')).status).toBe(404);
    const names = ((await e2e.ok('GET', '/sessions')) as { name: string }[]).map((s) => s.name).sort();
    expect(names).toEqual(['new', 'still-running']);
  });
});
