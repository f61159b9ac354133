import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Registry, createMetrics } from '../../src/metrics.js';
import { actualStateCleanup } from '../../src/operators/actual-state-cleanup.js';
import { configuration } from '../../src/operators/configuration.js';
import { discovery } from '../../src/operators/discovery.js';
import { Runner } from '../../src/operators/runner.js';
import { AHEAD_WHILE_CFS, CFS_BY_ID_MAX, sameDecisionInputs, status, WRITES_IN_FLIGHT } from '../../src/operators/status.js';
import type { OperatorDefinition } from '../../src/operators/types.js';
import { buildStatusPatch, decideStatus } from '../../src/operators/rules.js';
import { statusView } from '../../src/common/status-view.js';
import type { Component } from '../../src/common/types.js';
import { ago, bootArtifacts, comp, world, type World } from './fakes.js';

function run(w: World, op: OperatorDefinition, registry?: Registry) {
  return new Runner(op, { services: w, clock: w.clock, metrics: registry ? createMetrics(registry) : undefined }).runOnce();
}

describe('configuration', () => {
  it('hands CFS the desired configuration of configuring components it does not have yet', async () => {
    const w = world();
    const configuring = { status: { phase: 'configuring', status_override: '' } };
    w.bos.put(comp('a', { ...configuring, session: 's1', desired_state: { configuration: 'cfg1' }, error: 'old' }));
    w.bos.put(comp('b', { ...configuring, session: 's1', desired_state: { configuration: 'cfg1' } }));
    w.bos.put(comp('c', { ...configuring, session: 's2', desired_state: { configuration: 'cfg2' } }));
    w.bos.put(comp('done', { ...configuring, session: 's1', desired_state: { configuration: 'cfg1' } }));
    w.bos.put(comp('stable', { session: 's1', desired_state: { configuration: 'cfg1' } }));
    for (const id of ['a', 'b', 'c', 'stable']) w.cfs.components.set(id, { id, desired_config: 'older' });
    w.cfs.components.set('done', { id: 'done', desired_config: 'cfg1' });
    const r = await run(w, configuration);
    expect(r.selected).toBe(3);
    expect(w.rec.of('cfs', 'setDesiredConfig').map((c) => c.args)).toEqual([
      [['a', 'b'], 'cfg1', { enabled: true, session: 's1' }],
      [['c'], 'cfg2', { enabled: true, session: 's2' }],
    ]);
    // the base update writes only the error
    expect(w.rec.of('bos', 'patchComponents')[0]!.args[0]).toEqual([
      { id: 'a', error: '' },
      { id: 'b', error: '' },
      { id: 'c', error: '' },
    ]);
    expect(w.bos.get('a').last_action).toBeUndefined();
  });

  it('enables CFS again for booted nodes it was left disabled for, and only for those', async () => {
    const w = world();
    // Power-on acted 100 s ago (the default max_boot_wait_time is 1200 s).
    const base = {
      status: { phase: 'configuring', status_override: '' },
      session: 's1',
      desired_state: { configuration: 'cfg1' },
      last_action: { action: 'powering_on', failed: false, last_updated: ago(w, 100) },
    };
    const disabled = { desired_config: 'cfg1', enabled: false, configuration_status: 'pending' };
    // Reported after the power-on: booted, and CFS was disabled after the boot.
    w.bos.put(comp('booted', { ...base, actual_state: { last_updated: ago(w, 50) } }));
    // Last report before the power-on, within the boot wait: still booting, CFS stays off.
    w.bos.put(comp('booting', { ...base, actual_state: { last_updated: ago(w, 200) } }));
    // No report at all, but the power-on is older than max_boot_wait_time.
    w.bos.put(comp('waited', { ...base, last_action: { ...base.last_action, last_updated: ago(w, 1300) } }));
    // CFS enabled (it is configuring), or disabled with the configuration already applied.
    w.bos.put(comp('working', { ...base, actual_state: { last_updated: ago(w, 50) } }));
    w.bos.put(comp('configured', { ...base, actual_state: { last_updated: ago(w, 50) } }));
    for (const id of ['booted', 'booting', 'waited']) w.cfs.components.set(id, { id, ...disabled });
    w.cfs.components.set('working', { id: 'working', ...disabled, enabled: true });
    w.cfs.components.set('configured', { id: 'configured', ...disabled, configuration_status: 'configured' });
    const r = await run(w, configuration);
    expect(r.ok).toBe(true);
    expect(w.rec.of('cfs', 'setDesiredConfig').map((c) => c.args)).toEqual([[['booted', 'waited'], 'cfg1', { enabled: true, session: 's1' }]]);
  });

  it('skips components CFS does not know instead of stalling the others', async () => {
    const w = world();
    w.bos.put(comp('a', { status: { phase: 'configuring' }, desired_state: { configuration: 'cfg1' } }));
    w.bos.put(comp('ghost', { status: { phase: 'configuring' }, desired_state: { configuration: 'cfg1' } }));
    w.cfs.components.set('a', { id: 'a' });
    const r = await run(w, configuration);
    expect(r.ok).toBe(true);
    expect(w.rec.of('cfs', 'setDesiredConfig').map((c) => c.args[0])).toEqual([['a']]);
  });

  it('records a CFS failure on the batch', async () => {
    const w = world();
    w.bos.put(comp('a', { status: { phase: 'configuring' }, desired_state: { configuration: 'cfg1' } }));
    w.cfs.components.set('a', { id: 'a' });
    w.rec.fail('cfs', 'setDesiredConfig', 'Non-2XX response (503)');
    await run(w, configuration);
    expect(w.bos.get('a').error).toBe('cfs: Non-2XX response (503)');
  });

  it('fails the pass (not silently "no work") when CFS cannot be read', async () => {
    const w = world();
    w.bos.put(comp('a', { status: { phase: 'configuring' }, desired_state: { configuration: 'cfg1' } }));
    w.rec.fail('cfs', 'getComponents', 'read timeout');
    const r = await run(w, configuration);
    expect(r.ok).toBe(false);
    expect(r.error).toBe('filter CFSNeedsDesiredConfiguration failed: cfs: read timeout');
  });
});

describe('actual-state-cleanup', () => {
  it('empties actual states older than component_actual_state_ttl', async () => {
    const w = world();
    const set = { boot_artifacts: bootArtifacts(), bss_token: 't' };
    w.bos.put(comp('stale', { enabled: false, actual_state: { ...set, last_updated: ago(w, 4 * 3600 + 1) } }));
    w.bos.put(comp('fresh', { actual_state: { ...set, last_updated: ago(w, 3600) } }));
    w.bos.put(comp('never', { actual_state: { ...set } }));
    w.bos.put(comp('empty', { actual_state: { boot_artifacts: { kernel: '', initrd: '', kernel_parameters: '', timestamp: 'x' }, last_updated: ago(w, 99999) } }));
    const r = await run(w, actualStateCleanup);
    expect(r.selected).toBe(2);
    const patches = w.rec.of('bos', 'patchComponents').map((c) => c.args[0]);
    expect(patches[0]).toEqual(['never', 'stale'].map((id) => ({ id, actual_state: { boot_artifacts: { kernel: '', kernel_parameters: '', initrd: '' }, bss_token: '' } })));
    expect(patches[1]).toEqual(['never', 'stale'].map((id) => ({ id, error: '', last_action: { action: 'actual_state_cleanup', failed: false } })));
    expect(w.bos.get('stale').actual_state?.boot_artifacts?.kernel).toBe('');
    expect(w.bos.get('fresh').actual_state?.boot_artifacts?.kernel).not.toBe('');
  });

  it('follows the TTL option, in either case', async () => {
    const w = world();
    w.bos.options = { component_actual_state_ttl: '1H' };
    w.bos.put(comp('a', { actual_state: { boot_artifacts: bootArtifacts(), last_updated: ago(w, 3601) } }));
    const r = await run(w, actualStateCleanup);
    expect(r.selected).toBe(1);
  });
});

describe('discovery', () => {
  it('adds HSM nodes BOS lacks, sorted, as disabled components with empty states', async () => {
    const w = world();
    w.hsm.addNodes(['x3', 'x1', 'x2']);
    w.hsm.components.push({ ID: 'x0c0s0b0', Type: 'NodeBMC' });
    w.bos.put(comp('x2'));
    w.bos.put(comp('gone-from-hsm'));
    w.bos.options = { max_component_batch_size: 1 };
    const r = await run(w, discovery);
    expect(r.acted).toBe(2);
    const puts = w.rec.of('bos', 'putComponents').map((c) => c.args[0] as { id: string }[]);
    expect(puts.map((p) => p.map((c) => c.id))).toEqual([['x1'], ['x3']]);
    expect(puts[0]![0]).toEqual({
      id: 'x1',
      actual_state: { boot_artifacts: { kernel: '', kernel_parameters: '', initrd: '' }, bss_token: '' },
      desired_state: { configuration: '', boot_artifacts: { kernel: '', kernel_parameters: '', initrd: '' }, bss_token: '' },
      staged_state: {},
      last_action: { action: 'newly_discovered', failed: false },
      enabled: false,
      error: '',
      session: '',
    });
    expect(w.bos.components.has('gone-from-hsm')).toBe(true);
    expect(w.bos.components.has('x0c0s0b0')).toBe(false);
  });

  it('reads what BOS knows page by page where the client pages', async () => {
    const w = world();
    w.bos.enablePaging();
    w.hsm.addNodes(['x1', 'x2', 'x3', 'x4', 'x5']);
    for (const id of ['x1', 'x2', 'x4']) w.bos.put(comp(id));
    w.bos.options = { max_component_batch_size: 2 };
    const r = await run(w, discovery);
    expect(r.acted).toBe(2);
    expect(w.rec.of('bos', 'listComponentPages').map((c) => c.args[2])).toEqual([undefined, 'x2']);
    expect(w.rec.of('bos', 'listComponents')).toHaveLength(0);
    expect(w.rec.of('bos', 'putComponents').map((c) => (c.args[0] as { id: string }[]).map((x) => x.id))).toEqual([['x3', 'x5']]);
  });

  it('sends nothing when BOS knows every node, and runs on discovery_frequency', async () => {
    const w = world();
    w.hsm.addNodes(['x1']);
    w.bos.put(comp('x1'));
    await run(w, discovery);
    expect(w.rec.of('bos', 'putComponents')).toHaveLength(0);
    expect(discovery.frequency).toBe('discovery_frequency');
  });
});

describe('status operator', () => {
  function statusWorld() {
    const w = world();
    const booted = { desired_state: { boot_artifacts: bootArtifacts(), configuration: 'cfg' }, actual_state: { boot_artifacts: bootArtifacts() } };
    w.bos.put(comp('done', { ...booted, status: { phase: 'configuring', status_override: '' } }));
    w.bos.put(comp('cfg-pending', { ...booted, status: { phase: 'configuring', status_override: '' } }));
    w.bos.put(comp('needs-off', { status: { phase: '', status_override: 'on_hold' } }));
    w.bos.put(comp('no-pcs', { ...booted }));
    w.bos.put(comp('disabled', { enabled: false }));
    w.pcs.power.set('done', 'on').set('cfg-pending', 'on').set('needs-off', 'on').set('disabled', 'on');
    w.cfs.components.set('done', { id: 'done', desired_config: 'cfg', configuration_status: 'configured' });
    w.cfs.components.set('cfg-pending', { id: 'cfg-pending', desired_config: 'cfg', configuration_status: 'pending' });
    w.cfs.components.set('needs-off', { id: 'needs-off' });
    w.cfs.components.set('no-pcs', { id: 'no-pcs' });
    return w;
  }

  /** `n` enabled components, every node off and known to CFS (a pass disables each), listed page by page (`batch` per page). */
  function offWorld(n: number, batch?: number): World {
    const w = world();
    w.bos.enablePaging();
    if (batch !== undefined) w.bos.options = { max_component_batch_size: batch };
    for (let i = 0; i < n; i++) {
      const id = `n${String(i).padStart(5, '0')}`;
      w.bos.put(comp(id, { status: { phase: '', status_override: '' } }));
      w.pcs.power.set(id, 'off');
      w.cfs.components.set(id, { id });
    }
    return w;
  }

  /** Every patch a world's passes wrote, in order. */
  const written = (w: World) => w.rec.of('bos', 'patchComponents').flatMap((c) => c.args[0] as unknown[]);

  it('with a client that lists in pages, decides page by page and writes what the one-listing pass writes', async () => {
    const whole = statusWorld();
    const paged = statusWorld();
    const pages: number[] = [];
    Object.assign(paged.bos, {
      async *listComponentPages(query: object, size: number) {
        const all = await paged.bos.listComponents(query, size);
        for (let i = 0; i < all.length; i += 2) {
          pages.push(all.slice(i, i + 2).length);
          yield all.slice(i, i + 2);
        }
      },
    });
    const a = await run(whole, status);
    const b = await run(paged, status);
    expect(b.ok).toBe(true);
    expect([b.selected, b.acted]).toEqual([a.selected, a.acted]);
    expect(pages).toEqual([2, 2, 1]); // the full listing (disabled included), two at a time
    expect(written(paged)).toEqual(written(whole));
    for (const id of ['done', 'cfg-pending', 'needs-off', 'no-pcs', 'disabled']) expect(paged.bos.get(id)).toEqual(whole.bos.get(id));
    // PCS once per page of enabled components, CFS once per pass
    expect(paged.rec.of('pcs', 'powerStatus').map((c) => (c.args[0] as string[]).length)).toEqual([1, 2, 1]);
    expect(paged.rec.of('cfs', 'getComponents')).toHaveLength(1);
  });

  it('writes a page while the next ones are read and decided, at most two at once, started in page order, and a failed write fails the pass', async () => {
    const paged = statusWorld();
    paged.bos.enablePaging();
    paged.bos.options = { max_component_batch_size: 1 };
    // Pages of one (disabled included): cfg-pending and disabled write nothing; done, needs-off and
    // no-pcs write one each. The first write is held until the second is sent.
    const order: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const patch = paged.bos.patchComponents.bind(paged.bos);
    let writes = 0;
    Object.assign(paged.bos, {
      async patchComponents(...args: Parameters<typeof patch>) {
        const n = ++writes;
        order.push(`write ${n} sent: ${args[0].map((p) => p.id).join(' ')}`);
        if (n === 2) release();
        if (n === 1) await held;
        const out = await patch(...args);
        order.push(`write ${n} done`);
        return out;
      },
    });
    const fallback = setTimeout(() => release(), 500); // one write at a time would never send the second
    const r = await run(paged, status);
    clearTimeout(fallback);
    expect(r.ok).toBe(true);
    const at = (prefix: string) => order.findIndex((o) => o.startsWith(prefix));
    expect(order.filter((o) => o.includes('sent'))).toEqual(['write 1 sent: done', 'write 2 sent: needs-off', 'write 3 sent: no-pcs']);
    expect(at('write 2 sent')).toBeLessThan(at('write 1 done')); // two at once
    expect(at('write 1 done')).toBeLessThan(at('write 3 sent')); // never three
    expect(WRITES_IN_FLIGHT).toBe(2);

    const failing = statusWorld();
    failing.bos.enablePaging();
    failing.bos.options = { max_component_batch_size: 1 };
    failing.rec.fail('bos', 'patchComponents', 'Non-2XX response (503)', { times: 1 });
    const f = await run(failing, status);
    expect(f.ok).toBe(false);
    expect(f.error).toContain('503');
    // the write already sent beside the failed one goes through; none is started once the failure is seen
    expect(failing.rec.of('bos', 'patchComponents').map((c) => (c.args[0] as { id: string }[])[0]!.id)).toEqual(['done', 'needs-off']);
  });

  it('decides every enabled component and writes only the changes', async () => {
    const w = statusWorld();
    const registry = new Registry();
    const r = await run(w, status, registry);
    expect(r.ok).toBe(true);
    expect(r.selected).toBe(4);
    const patch = w.rec.of('bos', 'patchComponents')[0]!.args[0];
    expect(patch).toEqual([
      {
        id: 'done',
        status: { status_override: '', phase: '' },
        event_stats: { power_on_attempts: 0, power_off_graceful_attempts: 0, power_off_forceful_attempts: 0 },
        enabled: false,
      },
      { id: 'needs-off', status: { status_override: '', phase: 'powering_off' } },
      {
        id: 'no-pcs',
        status: { status_override: 'on_hold' },
        enabled: false,
        error: 'Component information was not returned by pcs',
      },
    ]);
    expect(w.bos.get('needs-off').status?.status).toBe('power_off_pending');
    // PCS and CFS are asked about enabled components only (a pass this small asks CFS by id)
    expect(w.rec.of('pcs', 'powerStatus')[0]!.args[0]).toEqual(['cfg-pending', 'done', 'needs-off', 'no-pcs']);
    expect(w.rec.of('cfs', 'getComponents')[0]!.args[0]).toEqual(['cfg-pending', 'done', 'needs-off', 'no-pcs']);
    expect(await registry.getSingleMetricAsString('bos_operator_component_errors_total')).toContain('{operator="status",service="pcs"} 1');
    const gauge = await registry.getSingleMetricAsString('bos_components');
    expect(gauge).toContain('bos_components{status="stable",phase="",enabled="false"} 2'); // done (disabled now) and disabled
    expect(gauge).toContain('bos_components{status="configuring",phase="configuring",enabled="true"} 1');
    expect(gauge).toContain('bos_components{status="power_off_pending",phase="powering_off",enabled="true"} 1');
    expect(gauge).toContain('bos_components{status="on_hold",phase="",enabled="false"} 1');
  });

  it('writes nothing over a component a new session set up while PCS and CFS were asked', async () => {
    const w = statusWorld();
    const getComponents = w.cfs.getComponents.bind(w.cfs);
    w.cfs.getComponents = async (...args) => {
      const out = await getComponents(...args);
      // A new session's setup lands now: new desired state, enabled, on hold.
      w.bos.put(comp('done', {
        session: 's2',
        desired_state: { boot_artifacts: bootArtifacts('s3://boot-images/img2/kernel'), configuration: 'cfg2' },
        actual_state: { boot_artifacts: bootArtifacts() },
        last_action: { action: 'session_setup', failed: false },
        status: { phase: 'configuring', status_override: 'on_hold' },
      }));
      return out;
    };
    const r = await run(w, status);
    expect(r.ok).toBe(true);
    const written = w.rec.of('bos', 'patchComponents').flatMap((c) => (c.args[0] as { id: string }[]).map((p) => p.id));
    expect(written).not.toContain('done');
    expect(written).toContain('needs-off');
    expect(w.bos.get('done')).toMatchObject({ enabled: true, session: 's2', status: { status_override: 'on_hold' } });
  });

  it('writes nothing when the components cannot be re-read before writing, and decides them again next pass', async () => {
    const w = statusWorld();
    const listComponents = w.bos.listComponents.bind(w.bos);
    let failRereads = true;
    w.bos.listComponents = async (query, size) => {
      if (failRereads && 'ids' in query) throw new Error('BOS failing over');
      return listComponents(query, size);
    };
    const first = await run(w, status);
    expect(first.ok).toBe(true);
    expect(w.rec.of('bos', 'patchComponents')).toHaveLength(0);
    expect(w.bos.get('done').enabled).toBe(true);
    failRereads = false;
    await run(w, status);
    expect(w.bos.get('done').enabled).toBe(false);
    expect(w.bos.get('needs-off').status?.phase).toBe('powering_off');
  });

  it('re-reads a mostly patched page conditionally: unchanged, it writes without re-reading by id; changed, it compares as before', async () => {
    // Unchanged: every enabled component of the page is patched, the re-read says nothing changed.
    const quiet = statusWorld();
    quiet.bos.enablePaging();
    await run(quiet, status);
    const reread = quiet.rec.of('bos', 'rereadPage').map((c) => c.args[0]);
    expect(reread).toEqual([['cfg-pending', 'disabled', 'done', 'needs-off', 'no-pcs']]);
    expect(quiet.rec.of('bos', 'listComponents').filter((c) => 'ids' in (c.args[0] as object))).toHaveLength(0);
    expect(quiet.bos.get('done').enabled).toBe(false);
    expect(quiet.bos.get('needs-off').status?.phase).toBe('powering_off');

    // Changed: a session sets 'done' up while PCS and CFS are asked; the page comes back in full and
    // only the components still as read are written.
    const raced = statusWorld();
    raced.bos.enablePaging();
    const getComponents = raced.cfs.getComponents.bind(raced.cfs);
    raced.cfs.getComponents = async (...args) => {
      const out = await getComponents(...args);
      raced.bos.put(comp('done', { session: 's2', desired_state: { configuration: 'cfg2' }, status: { phase: 'configuring', status_override: 'on_hold' } }));
      return out;
    };
    await run(raced, status);
    expect(raced.rec.of('bos', 'rereadPage')).toHaveLength(1);
    const written = raced.rec.of('bos', 'patchComponents').flatMap((c) => (c.args[0] as { id: string }[]).map((p) => p.id));
    expect(written).not.toContain('done');
    expect(written).toContain('needs-off');
    expect(raced.bos.get('done')).toMatchObject({ enabled: true, session: 's2' });

    // Few patches on a large page: re-read by id, not the whole page.
    const few = statusWorld();
    few.bos.enablePaging();
    // (copies of 'cfg-pending': configuring, CFS still pending, nothing to write)
    for (let i = 0; i < 8; i++) {
      few.bos.put({ ...few.bos.get('cfg-pending'), id: `pending${i}` });
      few.pcs.power.set(`pending${i}`, 'on');
      few.cfs.components.set(`pending${i}`, { id: `pending${i}`, desired_config: 'cfg', configuration_status: 'pending' });
    }
    await run(few, status);
    expect(few.rec.of('bos', 'rereadPage')).toHaveLength(0);
    expect(few.rec.of('bos', 'listComponents').filter((c) => 'ids' in (c.args[0] as object))).toHaveLength(1);
  });

  it('lists every component at most once a minute for the counts, else only enabled ones', async () => {
    const w = statusWorld();
    const metrics = createMetrics(new Registry());
    const runner = new Runner(status, { services: w, clock: w.clock, metrics });
    await runner.runOnce();
    w.clock.advance(30_000);
    await runner.runOnce();
    w.clock.advance(30_000);
    await runner.runOnce();
    // (listings by id are the re-reads before writing decisions)
    expect(w.rec.of('bos', 'listComponents').map((c) => c.args[0]).filter((q) => !('ids' in (q as object)))).toEqual([{}, { enabled: true }, {}]);
    // the second pass still counts the disabled components from the first
    const text = await metrics.registry.getSingleMetricAsString('bos_components');
    expect(text).toContain('bos_components{status="stable",phase="",enabled="false"} 2');
  });

  it('asks PCS once per batch, reads CFS once per pass and stops early with no enabled components', async () => {
    const w = statusWorld();
    w.bos.options = { max_component_batch_size: 2 };
    await run(w, status);
    expect(w.rec.of('pcs', 'powerStatus')).toHaveLength(2);
    expect(w.rec.of('cfs', 'getComponents')).toHaveLength(1);

    const empty = world();
    empty.bos.put(comp('x', { enabled: false }));
    await run(empty, status);
    expect(empty.rec.of('pcs', 'powerStatus')).toHaveLength(0);
  });

  it('asks CFS for the components of a pass with one small batch by id, else for every CFS component once', async () => {
    const cfsArgs = (w: World) => w.rec.of('cfs', 'getComponents').map((c) => c.args[0]);
    const small = statusWorld();
    small.bos.enablePaging();
    await run(small, status);
    expect(cfsArgs(small)).toEqual([['cfg-pending', 'done', 'needs-off', 'no-pcs']]);

    // several batches (pages of two): one read of everything, decisions as with the read by id
    const batches = statusWorld();
    batches.bos.enablePaging();
    batches.bos.options = { max_component_batch_size: 2 };
    await run(batches, status);
    expect(cfsArgs(batches)).toEqual([undefined]);
    for (const id of ['done', 'cfg-pending', 'needs-off', 'no-pcs']) expect(batches.bos.get(id)).toEqual(small.bos.get(id));

    // one page, but more components than CFS_BY_ID_MAX
    const large = offWorld(CFS_BY_ID_MAX + 1);
    const r = await run(large, status);
    expect(r.selected).toBe(CFS_BY_ID_MAX + 1);
    expect(cfsArgs(large)).toEqual([undefined]);
  });

  it('while CFS is read, lists and asks PCS about AHEAD_WHILE_CFS more batches, deciding none before CFS answers', async () => {
    const make = () => offWorld(AHEAD_WHILE_CFS + 3, 1);
    const plain = make();
    await run(plain, status);
    const held = make();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const read = held.cfs.getComponents.bind(held.cfs);
    held.cfs.getComponents = async (...args) => {
      await gate;
      return read(...args);
    };
    const pass = run(held, status);
    await new Promise((r) => setTimeout(r, 50));
    expect(held.rec.of('pcs', 'powerStatus')).toHaveLength(AHEAD_WHILE_CFS + 1);
    expect(held.rec.of('bos', 'patchComponents')).toHaveLength(0);
    release();
    const r = await pass;
    expect(r.ok).toBe(true);
    expect(held.rec.of('pcs', 'powerStatus')).toHaveLength(AHEAD_WHILE_CFS + 3);
    expect(held.rec.of('cfs', 'getComponents')).toHaveLength(1);
    expect(written(held)).toEqual(written(plain));
    expect(written(held)).toHaveLength(AHEAD_WHILE_CFS + 3);
  });

  it('with a client that reads CFS in pages, decides and writes a batch once its records have come, before the listing ends', async () => {
    const make = () => offWorld(6, 2);
    const plain = make();
    await run(plain, status);
    // CFS pages of two in the pass's order; the last page is held until the first batch is written
    const paged = make();
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let pagesRead = 0;
    Object.assign(paged.cfs, {
      async *componentPages() {
        const all = await paged.cfs.getComponents();
        for (let i = 0; i < all.length; i += 2) {
          if (i === 4) await held;
          pagesRead++;
          yield all.slice(i, i + 2);
        }
      },
    });
    const patch = paged.bos.patchComponents.bind(paged.bos);
    let pagesAtFirstWrite = -1;
    Object.assign(paged.bos, {
      async patchComponents(...args: Parameters<typeof patch>) {
        if (pagesAtFirstWrite < 0) {
          pagesAtFirstWrite = pagesRead;
          release();
        }
        return patch(...args);
      },
    });
    const fallback = setTimeout(() => release(), 500); // a pass waiting for the whole listing never writes first
    const r = await run(paged, status);
    clearTimeout(fallback);
    expect(r.ok).toBe(true);
    expect(pagesAtFirstWrite).toBe(2);
    expect(written(paged)).toEqual(written(plain));
    expect(written(paged)).toHaveLength(6);
  });

  it('once CFS is read, asks PCS for the next batch before deciding and writing this one, never more than one batch ahead', async () => {
    const w = statusWorld();
    w.bos.enablePaging();
    w.bos.options = { max_component_batch_size: 2 };
    await run(w, status);
    const order = w.rec.calls
      .filter((c) => (c.service === 'pcs' && c.method === 'powerStatus') || (c.service === 'bos' && c.method === 'patchComponents'))
      .map((c) => `${c.method}:${(c.args[0] as (string | { id: string })[]).map((x) => (typeof x === 'string' ? x : x.id)).join(',')}`);
    // The first pass lists every component (for the counts), in pages of two: cfg-pending (disabled
    // left out) | done, needs-off | no-pcs. Each page's PCS question goes out before the page before
    // it is written, and the third only once the first is decided (which writes nothing).
    expect(order).toEqual(['powerStatus:cfg-pending', 'powerStatus:done,needs-off', 'powerStatus:no-pcs', 'patchComponents:done,needs-off', 'patchComponents:no-pcs']);
  });

  it('marks a late power-on as failed once, so power-on tries again', async () => {
    const w = world();
    w.bos.put(comp('a', { status: { phase: 'powering_on' }, desired_state: { boot_artifacts: bootArtifacts() }, last_action: { action: 'powering_on', failed: false, last_updated: ago(w, 121) } }));
    w.pcs.power.set('a', 'off');
    w.cfs.components.set('a', { id: 'a' });
    await run(w, status);
    expect(w.bos.get('a').last_action?.failed).toBe(true);
    expect(w.bos.get('a').status?.status).toBe('power_on_pending');
    await run(w, status);
    expect(w.rec.of('bos', 'patchComponents')).toHaveLength(1);
  });

  it('a PCS failure fails the pass and writes nothing', async () => {
    const w = statusWorld();
    w.rec.fail('pcs', 'powerStatus', 'connect ECONNREFUSED');
    const r = await run(w, status);
    expect(r.ok).toBe(false);
    expect(r.error).toBe('pcs: connect ECONNREFUSED');
    expect(w.rec.of('bos', 'patchComponents')).toHaveLength(0);
  });
});

describe('status operator: which changes count as a component changed during the pass', () => {
  const arbState = fc.option(
    fc.record({ boot_artifacts: fc.record({ kernel: fc.constantFrom('k1', 'k2'), kernel_parameters: fc.constantFrom('a', 'b'), initrd: fc.constant('i') }), configuration: fc.constantFrom('c1', 'c2') }, { requiredKeys: [] }),
    { nil: undefined },
  );
  const arbComp = fc.record(
    {
      id: fc.constant('x1'),
      enabled: fc.boolean(),
      session: fc.constantFrom('', 's1', 's2'),
      desired_state: arbState,
      actual_state: arbState,
      last_action: fc.option(fc.record({ action: fc.constantFrom('powered_on', 'session_setup'), failed: fc.boolean() }), { nil: undefined }),
      status: fc.record({ phase: fc.constantFrom('', 'powering_on', 'configuring'), status_override: fc.constantFrom('', 'on_hold') }, { requiredKeys: [] }),
      error: fc.constantFrom('', 'e'),
      event_stats: fc.record({ power_on_attempts: fc.nat(3) }),
      retry_policy: fc.nat(4),
    },
    { requiredKeys: ['id'] },
  );
  /** The decision inputs with keys in a fixed order and defaults filled in. */
  const canonical = (c: any) =>
    JSON.stringify([
      c.enabled === true,
      c.session ?? '',
      c.status?.status_override ?? '',
      c.status?.phase ?? '',
      c.last_action ? [c.last_action.action, c.last_action.failed] : null,
      ...[c.desired_state, c.actual_state].map((st: any) =>
        st ? [st.configuration, st.boot_artifacts ? [st.boot_artifacts.kernel, st.boot_artifacts.kernel_parameters, st.boot_artifacts.initrd] : null, 'boot_artifacts' in st, 'configuration' in st] : null,
      ),
    ]);

  it('agrees exactly when enabled, session, desired and actual state, last action, phase and override agree (property)', () => {
    fc.assert(
      fc.property(arbComp, arbComp, (ga, gb) => {
        // As read from the API: parsed JSON.
        const [a, b] = [JSON.parse(JSON.stringify(ga)), JSON.parse(JSON.stringify(gb))];
        expect(sameDecisionInputs(a as any, b as any)).toBe(canonical(a) === canonical(b));
        // Fields the decision does not read never count, nor does key order.
        const shuffled = JSON.parse(JSON.stringify({ ...a, error: 'other', event_stats: {}, retry_policy: 9 }));
        expect(sameDecisionInputs(a as any, shuffled)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('compares status views as views: never a change full records do not show, and views that agree decide alike (property)', () => {
    const wire = (c: unknown) => JSON.parse(JSON.stringify(c));
    const arbPower = fc.constantFrom('on', 'off');
    const arbCfs = fc.record({ id: fc.constant('x1'), desired_config: fc.constantFrom('c1', 'c2', ''), configuration_status: fc.constantFrom('configured', 'pending', 'failed') });
    fc.assert(
      fc.property(arbComp, arbComp, fc.boolean(), arbPower, arbCfs, (ga, gb, statesOnly, power, cfs) => {
        // Half the time b is a with only its states changed (else the two rarely agree elsewhere).
        const [a, b] = [wire(ga), wire(statesOnly ? { ...ga, desired_state: gb.desired_state, actual_state: gb.actual_state } : gb)];
        const [va, vb] = [wire(statusView(a)), wire(statusView(b))];
        // A view against a view, or against a full record (a re-read by id), agrees wherever the full records do.
        if (sameDecisionInputs(a, b)) {
          expect(sameDecisionInputs(va, vb)).toBe(true);
          expect(sameDecisionInputs(va, b)).toBe(true);
        }
        expect(sameDecisionInputs(va, a)).toBe(true);
        // Views that agree: the same decision and the same patch from either full record.
        if (sameDecisionInputs(va, vb)) {
          const decide = (c: Component) => decideStatus({ component: c, powerState: power, cfs, nowMs: 0, maxBootWaitTime: 1200, maxPowerOnWaitTime: 120 });
          const [da, db] = [decide({ ...a, id: 'x1' }), decide({ ...b, id: 'x1' })];
          expect(db).toEqual(da);
          expect(buildStatusPatch({ ...b, id: 'x1' }, db)).toEqual(buildStatusPatch({ ...a, id: 'x1' }, da));
        }
      }),
      { numRuns: 1000 },
    );
  });
});
