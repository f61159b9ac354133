import { describe, expect, it } from 'vitest';
import { ServiceError } from '../../src/clients/types.js';
import type { Component } from '../../src/common/types.js';
import { Runner } from '../../src/operators/runner.js';
import { powerOn } from '../../src/operators/power-on.js';
import { powerOffGraceful } from '../../src/operators/power-off-graceful.js';
import { powerOffForceful } from '../../src/operators/power-off-forceful.js';
import { ago, bootArtifacts, comp, world, type World } from './fakes.js';

const SBPS = 'console=ttyS0 root=sbps-s3:s3://boot-images/img1/rootfs:e1 bos_update_frequency=4h';

/** A component waiting for power-on (status power_on_pending). */
function pending(id: string, extra: Partial<Component> = {}): Component {
  return comp(id, {
    session: 's1',
    status: { phase: 'powering_on', status_override: '' },
    last_action: { action: 'session_setup', failed: false },
    desired_state: { boot_artifacts: bootArtifacts('s3://boot-images/img1/kernel', SBPS), configuration: 'cfg1' },
    ...extra,
  });
}

function run(w: World, op = powerOn) {
  return new Runner(op, { services: w, clock: w.clock }).runOnce();
}

describe('power-on', () => {
  function setup(): World {
    const w = world();
    w.hsm.addNodes(['a', 'b', 'c', 'd', 'e']);
    w.bos.put(pending('a'));
    w.bos.put(pending('b'));
    w.bos.put(pending('c', { session: 's2', desired_state: { boot_artifacts: bootArtifacts('s3://boot-images/img2/kernel', 'quiet', 's3://boot-images/img2/initrd'), configuration: 'cfg2' } }));
    w.bos.put(pending('d', { desired_state: { boot_artifacts: { kernel: '', kernel_parameters: '', initrd: '' }, configuration: '' } }));
    return w;
  }

  it('selects enabled, power_on_pending components HSM knows', async () => {
    const w = setup();
    w.bos.put(pending('off', { enabled: false }));
    w.bos.put(pending('called', { last_action: { action: 'powering_on', failed: false } }));
    w.bos.put(pending('unknown-to-hsm'));
    const r = await run(w);
    expect(r.selected).toBe(4);
    expect(w.rec.of('pcs', 'transition')[0]!.args).toEqual(['On', ['a', 'b', 'c', 'd']]);
  });

  it('presets last_action, then IMS, BSS, boot-artifact records, tokens, CFS, PCS, and the base update', async () => {
    const w = setup();
    const r = await run(w);
    expect(r.ok).toBe(true);
    const order = w.rec.calls.filter((c) => c.method !== 'getOptions' && c.method !== 'listComponents' && c.method !== 'queryComponents').map((c) => `${c.service}.${c.method}`);
    expect(order).toEqual([
      'bos.patchComponents', // preset
      'ims.tagImage',
      'bss.setBootParameters',
      'redis.put',
      'bss.setBootParameters',
      'redis.put',
      'bos.patchComponents', // tokens
      'cfs.setDesiredConfig',
      'cfs.setDesiredConfig',
      'cfs.setDesiredConfig',
      'pcs.transition',
      'bos.patchComponents', // base update
    ]);
    const patches = w.rec.of('bos', 'patchComponents');
    expect(patches[0]!.args[0]).toEqual(['a', 'b', 'c', 'd'].map((id) => ({ id, error: '', last_action: { action: 'powering_on', failed: false } })));
    // only the SBPS image is tagged
    expect(w.rec.of('ims', 'tagImage').map((c) => c.args)).toEqual([['img1', 'sbps-project', 'true', 'set']]);
    // one BSS call per distinct artifacts; the all-empty component is not sent to BSS
    const bss = w.rec.of('bss', 'setBootParameters').map((c) => c.args);
    expect(bss).toEqual([
      [['a', 'b'], SBPS, 's3://boot-images/img1/kernel', 's3://boot-images/img1/initrd'],
      [['c'], 'quiet', 's3://boot-images/img2/kernel', 's3://boot-images/img2/initrd'],
    ]);
    expect(w.bootArtifacts.records.get('token-1')).toEqual({
      kernel: 's3://boot-images/img1/kernel',
      kernel_parameters: SBPS,
      initrd: 's3://boot-images/img1/initrd',
      timestamp: '2026-01-01T12:00:00',
    });
    expect(patches[1]!.args[0]).toEqual([
      { id: 'a', session: 's1', desired_state: { bss_token: 'token-1' } },
      { id: 'b', session: 's1', desired_state: { bss_token: 'token-1' } },
      { id: 'c', session: 's2', desired_state: { bss_token: 'token-2' } },
    ]);
    expect(w.bos.get('a').desired_state?.bss_token).toBe('token-1');
    // CFS grouped by (configuration, session), disabled, state cleared
    expect(w.rec.of('cfs', 'setDesiredConfig').map((c) => c.args)).toEqual([
      [['a', 'b'], 'cfg1', { enabled: false, session: 's1', clearState: true }],
      [['c'], 'cfg2', { enabled: false, session: 's2', clearState: true }],
      [['d'], '', { enabled: false, session: 's1', clearState: true }],
    ]);
    expect(patches[2]!.args[0]).toEqual(
      ['a', 'b', 'c', 'd'].map((id) => ({ id, error: '', last_action: { action: 'powering_on', failed: false }, event_stats: { power_on_attempts: 1 } })),
    );
    expect(w.bos.get('a').status?.status).toBe('power_on_called');
  });

  it('leaves a component another session takes over during the BSS work to that session', async () => {
    const w = setup();
    const takenOver = pending('b', {
      session: 's9',
      status: { phase: '', status_override: 'on_hold' },
      desired_state: { boot_artifacts: bootArtifacts('s3://boot-images/img9/kernel', 'quiet'), configuration: 'cfg9' },
    });
    const setBoot = w.bss.setBootParameters.bind(w.bss);
    w.bss.setBootParameters = async (...args) => {
      const token = await setBoot(...args);
      w.bos.put(takenOver); // the new session's setup lands while BSS answers
      return token;
    };
    const r = await run(w);
    expect(r.ok).toBe(true);
    expect(w.rec.of('pcs', 'transition')[0]!.args).toEqual(['On', ['a', 'c', 'd']]);
    const written = w.rec.of('bos', 'patchComponents').slice(1).flatMap((c) => (c.args[0] as { id: string }[]).map((p) => p.id));
    expect(written).not.toContain('b');
    const b = w.bos.get('b');
    expect(b.session).toBe('s9');
    expect(b.last_action?.action).toBe('session_setup');
    expect(b.desired_state?.bss_token ?? '').toBe('');
    expect(w.rec.of('cfs', 'setDesiredConfig').flatMap((c) => c.args[0] as string[])).not.toContain('b');
  });

  it('leaves a component whose desired boot artifacts change during the BSS work; one rewritten alike goes on', async () => {
    const w = setup();
    const setBoot = w.bss.setBootParameters.bind(w.bss);
    w.bss.setBootParameters = async (...args) => {
      const token = await setBoot(...args);
      // Same session: b is to boot another kernel now; a's desired state is written again, unchanged.
      w.bos.put(pending('b', { desired_state: { boot_artifacts: bootArtifacts('s3://boot-images/img1/kernel', `${SBPS} debug`), configuration: 'cfg1' } }));
      w.bos.put(pending('a'));
      return token;
    };
    const r = await run(w);
    expect(r.ok).toBe(true);
    expect(w.rec.of('pcs', 'transition')[0]!.args).toEqual(['On', ['a', 'c', 'd']]);
    expect(w.bos.get('b').desired_state?.bss_token ?? '').toBe('');
    expect(w.bos.get('a').desired_state?.bss_token).toBe('token-1');
  });

  it('re-reads a large batch of one session as a stretch of its listing, and by id what that does not show', async () => {
    const w = world();
    w.bos.enablePaging();
    const ids = Array.from({ length: 150 }, (_, i) => `n${String(i).padStart(3, '0')}`);
    w.hsm.addNodes(ids);
    for (const id of ids) w.bos.put(pending(id));
    const setBoot = w.bss.setBootParameters.bind(w.bss);
    w.bss.setBootParameters = async (...args) => {
      const token = await setBoot(...args);
      // While BSS answers: one node is taken over by another session, one disabled, one deleted.
      w.bos.put(pending('n070', { session: 's9' }));
      w.bos.put(pending('n149', { enabled: false }));
      w.bos.components.delete('n100');
      return token;
    };
    const r = await run(w);
    expect(r.ok).toBe(true);
    const left = ['n070', 'n100', 'n149'];
    expect(w.rec.of('pcs', 'transition')[0]!.args).toEqual(['On', ids.filter((id) => !left.includes(id))]);
    // The stretch after the first node, then by id only the first node and those the stretch did not show.
    const stretch = w.rec.of('bos', 'listComponentPages').filter((c) => (c.args[0] as { session?: string }).session === 's1');
    expect(stretch.length).toBeGreaterThan(0);
    expect(stretch[0]!.args[2]).toBe('n000');
    const byId = w.rec.of('bos', 'listComponents').filter((c) => (c.args[0] as { ids?: string }).ids !== undefined);
    expect(byId.map((c) => (c.args[0] as { ids: string }).ids.split(',').sort())).toEqual([['n000', ...left]]);
  });

  it('records IMS tagging problems on the affected components at once and still powers them on', async () => {
    const w = world();
    w.hsm.addNodes(['a', 'b', 'c']);
    w.bos.put(pending('a'));
    w.bos.put(pending('b', { desired_state: { boot_artifacts: bootArtifacts('s3://boot-images/deleted/img9/kernel', SBPS), configuration: 'cfg1' } }));
    w.bos.put(pending('c', { desired_state: { boot_artifacts: bootArtifacts('s3://boot-images/img3/kernel', SBPS), configuration: 'cfg1' } }));
    w.ims.missing.add('img3');
    await run(w);
    const patches = w.rec.of('bos', 'patchComponents').map((c) => c.args[0] as Record<string, unknown>[]);
    // preset, immediate IMS errors, tokens, base update
    expect(patches).toHaveLength(4);
    expect(patches[1]).toEqual([
      {
        id: 'b',
        error: "Kernel path appears to refer to soft-deleted IMS image: 's3://boot-images/deleted/img9/kernel'",
        last_action: { action: 'powering_on', failed: false },
        event_stats: { power_on_attempts: 1 },
      },
      {
        id: 'c',
        error: "ImageNotFound: IMS image id 'img3' does not exist in IMS",
        last_action: { action: 'powering_on', failed: false },
        event_stats: { power_on_attempts: 1 },
      },
    ]);
    expect(w.rec.of('pcs', 'transition')[0]!.args[1]).toEqual(['a', 'b', 'c']);
    expect(w.bos.get('a').error).toBe('');
    expect(w.bos.get('c').error).toBe("ImageNotFound: IMS image id 'img3' does not exist in IMS");
    expect(w.bos.get('c').event_stats?.power_on_attempts).toBe(1);
  });

  it('a kernel path without an image id is an error on its components', async () => {
    const w = world();
    w.hsm.addNodes(['a']);
    w.bos.put(pending('a', { desired_state: { boot_artifacts: bootArtifacts('s3://boot-images/kernel', SBPS), configuration: '' } }));
    await run(w);
    expect(w.bos.get('a').error).toBe('Unable to extract IMS ID from kernel path: s3://boot-images/kernel');
  });

  it('a BSS refusal is recorded on that group only; the nodes are still powered on', async () => {
    const w = setup();
    w.rec.failures.set('bss.setBootParameters', (args) =>
      (args[0] as string[]).includes('c') ? new ServiceError('bss', 'PUT', '/bootparameters', 400, 'Non-2XX response (400) to PUT /bootparameters') : undefined,
    );
    const r = await run(w);
    expect(r.ok).toBe(true);
    expect(w.bos.get('c').error).toBe('Error encountered setting BSS information: bss: Non-2XX response (400) to PUT /bootparameters');
    expect(w.bos.get('a').error).toBe('');
    expect(w.bos.get('a').desired_state?.bss_token).toBe('token-1');
    expect(w.bos.get('c').desired_state?.bss_token).toBeUndefined();
    expect(w.rec.of('pcs', 'transition')[0]!.args[1]).toEqual(['a', 'b', 'c', 'd']);
  });

  it('retries storing the boot-artifact record, and fails the batch after six attempts', async () => {
    const w = setup();
    w.rec.fail('redis', 'put', 'connection reset', { times: 5 });
    await run(w);
    expect(w.bos.get('a').error).toBe('');
    expect(w.bootArtifacts.records.size).toBe(2);

    const v = setup();
    v.rec.fail('redis', 'put', 'connection reset', { times: 6 });
    await run(v);
    for (const id of ['a', 'b', 'c', 'd']) {
      expect(v.bos.get(id).error).toBe('Error encountered setting BSS information: redis: connection reset');
      expect(v.bos.get(id).event_stats?.power_on_attempts).toBe(1);
    }
    expect(v.rec.of('redis', 'put')).toHaveLength(6);
    expect(v.rec.of('pcs', 'transition')).toHaveLength(0);
  });

  it('a CFS failure fails the batch before PCS is asked', async () => {
    const w = setup();
    w.rec.fail('cfs', 'setDesiredConfig', 'Non-2XX response (500)');
    await run(w);
    expect(w.bos.get('d').error).toBe('Error encountered setting CFS information: cfs: Non-2XX response (500)');
    expect(w.rec.of('pcs', 'transition')).toHaveLength(0);
    expect(w.bos.get('d').last_action?.action).toBe('powering_on');
  });

  it('a PCS failure keeps upstream\'s CAPMC wording', async () => {
    const w = setup();
    w.rec.fail('pcs', 'transition', 'Non-2XX response (400) to POST /transitions; Bad Request');
    await run(w);
    expect(w.bos.get('a').error).toBe('Error encountered calling CAPMC to power on: pcs: Non-2XX response (400) to POST /transitions; Bad Request');
  });

  it('a failed preset is recorded as the error of the batch and nothing else is called', async () => {
    const w = setup();
    w.rec.fail('bos', 'patchComponents', 'timeout', { times: 1 });
    await run(w);
    expect(w.rec.of('bss', 'setBootParameters')).toHaveLength(0);
    expect(w.bos.get('a').error).toBe('bos: timeout');
  });
});

describe('power-off-graceful', () => {
  it('soft-offs enabled power_off_pending components and counts the attempt', async () => {
    const w = world();
    w.hsm.addNodes(['a', 'b', 'c']);
    w.bos.put(comp('a', { status: { phase: 'powering_off' }, last_action: { action: 'session_setup' } }));
    w.bos.put(comp('b', { status: { phase: 'powering_off' }, last_action: { action: 'powering_off_gracefully' } }));
    w.bos.put(comp('c', { status: { phase: 'powering_on' } }));
    await run(w, powerOffGraceful);
    expect(w.rec.of('pcs', 'transition').map((c) => c.args)).toEqual([['Soft-Off', ['a']]]);
    const a = w.bos.get('a');
    expect(a.last_action?.action).toBe('powering_off_gracefully');
    expect(a.event_stats?.power_off_graceful_attempts).toBe(1);
    expect(a.status?.status).toBe('power_off_gracefully_called');
  });

  it('marks a component failed at its retry limit', async () => {
    const w = world();
    w.hsm.addNodes(['a']);
    w.bos.put(comp('a', { status: { phase: 'powering_off' }, event_stats: { power_off_graceful_attempts: 3 } }));
    await run(w, powerOffGraceful);
    expect(w.rec.of('pcs', 'transition')).toHaveLength(0);
    expect(w.bos.get('a').status?.status).toBe('failed');
  });
});

describe('power-off-forceful', () => {
  it('force-offs components whose power-off call is older than max_power_off_wait_time', async () => {
    const w = world();
    w.hsm.addNodes(['g-old', 'g-new', 'f-old', 'off']);
    w.bos.put(comp('g-old', { status: { phase: 'powering_off' }, last_action: { action: 'powering_off_gracefully', last_updated: ago(w, 301) } }));
    w.bos.put(comp('g-new', { status: { phase: 'powering_off' }, last_action: { action: 'powering_off_gracefully', last_updated: ago(w, 300) } }));
    w.bos.put(comp('f-old', { status: { phase: 'powering_off' }, last_action: { action: 'powering_off_forcefully', last_updated: ago(w, 1000) } }));
    w.bos.put(comp('off', { enabled: false, status: { phase: 'powering_off' }, last_action: { action: 'powering_off_gracefully', last_updated: ago(w, 1000) } }));
    await run(w, powerOffForceful);
    expect(w.rec.of('pcs', 'transition').map((c) => c.args)).toEqual([['Force-Off', ['f-old', 'g-old']]]);
    expect(w.bos.get('g-old').event_stats?.power_off_forceful_attempts).toBe(1);
    expect(w.bos.get('g-old').status?.status).toBe('power_off_forcefully_called');
    expect(w.bos.get('g-new').last_action?.action).toBe('powering_off_gracefully');
  });

  it('follows max_power_off_wait_time from the options', async () => {
    const w = world();
    w.hsm.addNodes(['a']);
    w.bos.options = { max_power_off_wait_time: 10 };
    w.bos.put(comp('a', { status: { phase: 'powering_off' }, last_action: { action: 'powering_off_gracefully', last_updated: ago(w, 11) } }));
    await run(w, powerOffForceful);
    expect(w.rec.of('pcs', 'transition')).toHaveLength(1);
  });
});
