import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { formatTimestamp } from '../../src/common/clock.js';
import { emptyActualState } from '../../src/common/constants.js';
import { computeStatus } from '../../src/common/status.js';
import { statusView } from '../../src/common/status-view.js';
import type { Component } from '../../src/common/types.js';
import type { CfsComponent } from '../../src/clients/types.js';
import {
  applyLimit,
  archAccepted,
  assembleKernelParameters,
  bootArtifactStatesMatch,
  buildStatusPatch,
  CFS_FAILED_ERROR,
  cfsLeftDisabled,
  CFS_MISSING_ERROR,
  decideStatus,
  sessionComponentsList,
  imsIdFromKernel,
  LimitError,
  PCS_MISSING_ERROR,
  retryState,
  rootfsParameters,
  sanitizeKernelParameters,
  sessionCleanupDisabled,
  splitBatches,
  UnsupportedRootfsProvider,
  type StatusInput,
} from '../../src/operators/rules.js';
import { mergeComponent } from './fakes.js';

const NOW = Date.UTC(2026, 0, 1, 12, 0, 0);
const ago = (s: number) => formatTimestamp(NOW - s * 1000);
const BA = { kernel: 's3://b/i/kernel', kernel_parameters: 'console=ttyS0', initrd: 's3://b/i/initrd' };

function input(c: Partial<Component>, power: string | undefined, cfs: Partial<CfsComponent> | undefined): StatusInput {
  return {
    component: { id: 'x1', enabled: true, ...c },
    powerState: power,
    cfs: cfs ? { id: 'x1', ...cfs } : undefined,
    nowMs: NOW,
    maxBootWaitTime: 1200,
    maxPowerOnWaitTime: 120,
  };
}

describe('splitBatches', () => {
  it('keeps order and covers every item exactly once', () => {
    fc.assert(
      fc.property(fc.array(fc.integer(), { maxLength: 60 }), fc.integer({ min: -2, max: 70 }), (items, size) => {
        const batches = splitBatches(items, size);
        expect(batches.flat()).toEqual(items);
        if (items.length === 0) expect(batches).toEqual([]);
        else if (size <= 0) expect(batches).toHaveLength(1);
        else {
          expect(batches.length).toBe(Math.ceil(items.length / size));
          for (const b of batches) expect(b.length).toBeLessThanOrEqual(size);
        }
      }),
    );
  });
});

describe('retryState', () => {
  it('uses the component retry_policy over the default, -1 is unlimited, missing attempts are 0', () => {
    expect(retryState({ id: 'a', retry_policy: 2, event_stats: { power_on_attempts: 2 } }, 'power_on_attempts', 5).reached).toBe(true);
    expect(retryState({ id: 'a', event_stats: { power_on_attempts: 2 } }, 'power_on_attempts', 5).reached).toBe(false);
    expect(retryState({ id: 'a', event_stats: { power_on_attempts: 99 } }, 'power_on_attempts', -1).reached).toBe(false);
    expect(retryState({ id: 'a', retry_policy: -1, event_stats: { power_on_attempts: 99 } }, 'power_on_attempts', 1).reached).toBe(false);
    expect(retryState({ id: 'a' }, 'power_off_graceful_attempts', 0)).toEqual({ attempts: 0, limit: 0, reached: true });
  });
});

describe('status decision tree', () => {
  it('puts a component on hold when PCS has nothing for it', () => {
    for (const power of [undefined, '']) {
      const d = decideStatus(input({}, power, { configuration_status: 'configured' }));
      expect(d).toEqual({ phase: '', override: 'on_hold', disable: true, error: PCS_MISSING_ERROR, actionFailed: false });
    }
    expect(decideStatus(input({}, 'undefined', undefined)).error).toBe(PCS_MISSING_ERROR);
  });

  it('puts a component on hold when CFS has nothing for it', () => {
    const d = decideStatus(input({}, 'on', undefined));
    expect(d).toEqual({ phase: '', override: 'on_hold', disable: true, error: CFS_MISSING_ERROR, actionFailed: false });
  });

  it('off and desired off → stable and disabled', () => {
    expect(decideStatus(input({}, 'off', {}))).toMatchObject({ phase: '', disable: true, override: '' });
  });

  it('off with a desired boot → powering_on; the action failed only after max_power_on_wait_time', () => {
    const base = { desired_state: { boot_artifacts: BA } };
    expect(decideStatus(input({ ...base, last_action: { action: 'powering_on', last_updated: ago(60) } }, 'off', {}))).toMatchObject({
      phase: 'powering_on',
      actionFailed: false,
    });
    expect(decideStatus(input({ ...base, last_action: { action: 'powering_on', last_updated: ago(121) } }, 'off', {}))).toMatchObject({
      phase: 'powering_on',
      actionFailed: true,
    });
    expect(decideStatus(input({ ...base, last_action: { action: 'session_setup', last_updated: ago(9999) } }, 'off', {}))).toMatchObject({
      phase: 'powering_on',
      actionFailed: false,
    });
  });

  it('exactly max_power_on_wait_time ago is not yet late (strictly greater)', () => {
    const c = { desired_state: { boot_artifacts: BA }, last_action: { action: 'powering_on', last_updated: ago(120) } };
    expect(decideStatus(input(c, 'off', {})).actionFailed).toBe(false);
  });

  it('on and desired off → powering_off', () => {
    expect(decideStatus(input({}, 'on', {})).phase).toBe('powering_off');
    // a PCS per-node error text counts as "not off"
    expect(decideStatus(input({}, 'Error: BMC unreachable', {})).phase).toBe('powering_off');
  });

  it('booted with the desired artifacts: configuration decides', () => {
    const booted = { desired_state: { boot_artifacts: BA, configuration: 'cfg' }, actual_state: { boot_artifacts: { ...BA } } };
    expect(decideStatus(input(booted, 'on', { desired_config: 'other' })).phase).toBe('configuring');
    expect(decideStatus(input(booted, 'on', {})).phase).toBe('configuring'); // missing ≠ 'cfg'
    expect(decideStatus(input(booted, 'on', { desired_config: 'cfg', configuration_status: 'configured' }))).toMatchObject({
      phase: '',
      disable: true,
      override: '',
      error: '',
    });
    expect(decideStatus(input(booted, 'on', { desired_config: 'cfg', configuration_status: 'FAILED' }))).toMatchObject({
      phase: 'configuring',
      disable: true,
      override: 'failed',
      error: CFS_FAILED_ERROR,
    });
    expect(decideStatus(input(booted, 'on', { desired_config: 'cfg', configuration_status: 'pending' }))).toMatchObject({
      phase: 'configuring',
      disable: false,
    });
    for (const [cs, shown] of [
      ['unconfigured', 'unconfigured'],
      [undefined, ''],
    ] as const) {
      expect(decideStatus(input(booted, 'on', { desired_config: 'cfg', configuration_status: cs }))).toMatchObject({
        phase: 'configuring',
        disable: true,
        override: 'failed',
        error: `cfs is not reporting a valid configuration status for this component: ${shown}`,
      });
    }
  });

  it('booted with no desired configuration → stable and disabled (CFS agrees on empty)', () => {
    const booted = { desired_state: { boot_artifacts: BA, configuration: '' }, actual_state: { boot_artifacts: { ...BA } } };
    expect(decideStatus(input(booted, 'on', { desired_config: '' }))).toMatchObject({ phase: '', disable: true });
  });

  it('on with other artifacts: wait for the boot, then power off', () => {
    const c = { desired_state: { boot_artifacts: BA }, actual_state: { boot_artifacts: { ...BA, kernel: 'old' } } };
    expect(decideStatus(input({ ...c, last_action: { action: 'powering_on', last_updated: ago(600) } }, 'on', {})).phase).toBe('powering_on');
    expect(decideStatus(input({ ...c, last_action: { action: 'powering_on', last_updated: ago(1201) } }, 'on', {})).phase).toBe('powering_off');
    expect(decideStatus(input({ ...c, last_action: { action: 'session_setup', last_updated: ago(1) } }, 'on', {})).phase).toBe('powering_off');
  });

  it('a power-off asked for ends only when the node is off, whatever it reports meanwhile', () => {
    // Judged too slow to boot, then powered off gracefully; its report lands before it goes down.
    const reported = {
      status: { phase: 'powering_off', status_override: '' },
      last_action: { action: 'powering_off_gracefully', last_updated: ago(2) },
      desired_state: { boot_artifacts: BA, configuration: '' },
      actual_state: { boot_artifacts: { ...BA } },
    };
    expect(decideStatus(input(reported, 'on', { desired_config: '' }))).toMatchObject({ phase: 'powering_off', disable: false });
    // Once off, it is powered on again (its actual state emptied on the way).
    const off = decideStatus(input(reported, 'off', { desired_config: '' }));
    expect(off).toMatchObject({ phase: 'powering_on', disable: false });
    expect(buildStatusPatch({ id: 'x1', ...reported }, off)?.actual_state).toEqual(emptyActualState());
    // Not yet in powering_off: the same record is done.
    const booting = { ...reported, status: { phase: 'powering_on', status_override: '' } };
    expect(decideStatus(input(booting, 'on', { desired_config: '' }))).toMatchObject({ phase: '', disable: true });
  });

  it('a failed component stays failed and is disabled', () => {
    const c = { status: { status_override: 'failed', phase: 'powering_on' }, desired_state: { boot_artifacts: BA } };
    expect(decideStatus(input(c, 'off', {}))).toMatchObject({ override: 'failed', disable: true, phase: 'powering_on' });
  });

  it('boot artifacts match exactly when kernel, initrd and sanitized kernel parameters agree (property)', () => {
    const word = fc.constantFrom('a', 'b', 'spire_join_token=x', 'spire_join_token=y', 'quiet', '', ' ');
    const params = fc.option(fc.array(word, { maxLength: 5 }).map((w) => w.join(' ')), { nil: undefined });
    const artifacts = fc.record({ kernel: fc.constantFrom('k1', 'k2'), initrd: fc.constant('i'), kernel_parameters: params }, { requiredKeys: ['kernel', 'initrd'] });
    fc.assert(
      fc.property(artifacts, fc.boolean(), artifacts, (desired, same, other) => {
        const actual = same ? { ...desired } : other;
        const c: Component = { id: 'x', desired_state: { boot_artifacts: desired }, actual_state: { boot_artifacts: actual } };
        const expected =
          desired.kernel === actual.kernel && desired.initrd === actual.initrd && sanitizeKernelParameters(desired.kernel_parameters) === sanitizeKernelParameters(actual.kernel_parameters);
        expect(bootArtifactStatesMatch(c)).toBe(expected);
      }),
      { numRuns: 1000 },
    );
  });

  it('spire_join_token differences do not break the boot-artifact match', () => {
    const c: Component = {
      id: 'x',
      desired_state: { boot_artifacts: { ...BA, kernel_parameters: 'a spire_join_token=${SPIRE_JOIN_TOKEN} b' } },
      actual_state: { boot_artifacts: { ...BA, kernel_parameters: 'a spire_join_token=abc123 b' } },
    };
    expect(bootArtifactStatesMatch(c)).toBe(true);
    expect(sanitizeKernelParameters('spire_join_token=x')).toBeNull();
    expect(sanitizeKernelParameters('')).toBeNull();
    expect(sanitizeKernelParameters('a b')).toBe('a b');
    expect(bootArtifactStatesMatch({ id: 'x', desired_state: { boot_artifacts: BA }, actual_state: { boot_artifacts: { ...BA, initrd: '' } } })).toBe(false);
    expect(bootArtifactStatesMatch({ id: 'x', desired_state: {}, actual_state: {} })).toBe(true);
    expect(bootArtifactStatesMatch({ id: 'x', desired_state: { boot_artifacts: BA }, actual_state: {} })).toBe(false);
    expect(
      bootArtifactStatesMatch({
        id: 'x',
        desired_state: { boot_artifacts: { ...BA, kernel_parameters: '' } },
        actual_state: { boot_artifacts: { kernel: BA.kernel, initrd: BA.initrd } },
      }),
    ).toBe(true);
  });

  describe('patch building', () => {
    it('writes nothing when nothing changes', () => {
      const c: Component = { id: 'x', status: { phase: 'powering_on', status_override: '' }, error: '' };
      expect(buildStatusPatch(c, { phase: 'powering_on', override: '', disable: false, error: '', actionFailed: false })).toBeNull();
    });
    it('resets attempts when the phase becomes empty and clears actual state after powering off', () => {
      const c: Component = { id: 'x', status: { phase: 'powering_off', status_override: '' } };
      expect(buildStatusPatch(c, { phase: '', override: '', disable: true, error: '', actionFailed: false })).toEqual({
        id: 'x',
        status: { status_override: '', phase: '' },
        event_stats: { power_on_attempts: 0, power_off_graceful_attempts: 0, power_off_forceful_attempts: 0 },
        actual_state: { boot_artifacts: { kernel: '', kernel_parameters: '', initrd: '' }, bss_token: '' },
        enabled: false,
      });
    });
    it('never rewrites the same error and marks the last action failed only once', () => {
      const c: Component = { id: 'x', status: { phase: 'configuring' }, error: CFS_FAILED_ERROR, last_action: { failed: true } };
      const p = buildStatusPatch(c, { phase: 'configuring', override: 'failed', disable: true, error: CFS_FAILED_ERROR, actionFailed: true });
      expect(p).toEqual({ id: 'x', status: { status_override: 'failed' }, enabled: false });
      const q = buildStatusPatch({ id: 'y', status: { phase: 'powering_on' } }, { phase: 'powering_on', override: '', disable: false, error: '', actionFailed: true });
      expect(q).toEqual({ id: 'y', status: { status_override: '' }, last_action: { failed: true } });
    });
  });

  const arbComponent: fc.Arbitrary<Component> = fc.record(
    {
      id: fc.constant('x1'),
      enabled: fc.constant(true),
      error: fc.constantFrom('', 'old error', CFS_FAILED_ERROR),
      status: fc.record(
        { phase: fc.constantFrom('', 'powering_on', 'powering_off', 'configuring'), status_override: fc.constantFrom('', 'on_hold', 'failed') },
        { requiredKeys: [] },
      ),
      last_action: fc.record(
        {
          action: fc.constantFrom('powering_on', 'session_setup', 'powering_off_gracefully', 'newly_discovered'),
          failed: fc.boolean(),
          last_updated: fc.option(fc.integer({ min: 0, max: 3000 }).map(ago), { nil: undefined }),
        },
        { requiredKeys: [] },
      ),
      desired_state: fc.record(
        {
          boot_artifacts: fc.option(
            fc.record({ kernel: fc.constantFrom('', 'k1', 'k2'), initrd: fc.constantFrom('i1', ''), kernel_parameters: fc.constantFrom('', 'p', 'p spire_join_token=1') }, { requiredKeys: [] }),
            { nil: undefined },
          ),
          configuration: fc.constantFrom('', 'cfg1', 'cfg2'),
        },
        { requiredKeys: [] },
      ),
      actual_state: fc.record(
        {
          boot_artifacts: fc.option(
            fc.record({ kernel: fc.constantFrom('', 'k1', 'k2'), initrd: fc.constantFrom('i1', ''), kernel_parameters: fc.constantFrom('', 'p', 'p spire_join_token=2') }, { requiredKeys: [] }),
            { nil: undefined },
          ),
        },
        { requiredKeys: [] },
      ),
    },
    { requiredKeys: ['id', 'enabled'] },
  );
  const arbCfs = fc.option(
    fc.record(
      { desired_config: fc.constantFrom('', 'cfg1', 'cfg2'), configuration_status: fc.constantFrom('configured', 'pending', 'failed', 'unconfigured', 'Configured', '') },
      { requiredKeys: [] },
    ),
    { nil: undefined },
  );
  const arbPower = fc.option(fc.constantFrom('on', 'off', 'undefined', '', 'some PCS error'), { nil: undefined });

  it('decides from a status view, as parsed off the wire, exactly what it decides from the full record (property)', () => {
    fc.assert(
      fc.property(arbComponent, arbPower, arbCfs, fc.integer({ min: 0, max: 3000 }), (c, power, cfs, wait) => {
        const view: Component = JSON.parse(JSON.stringify(statusView(c)));
        expect(JSON.stringify(view)).not.toContain('boot_artifacts');
        const decide = (component: Component) =>
          decideStatus({ component, powerState: power, cfs: cfs ? { id: 'x1', ...cfs } : undefined, nowMs: NOW, maxBootWaitTime: wait, maxPowerOnWaitTime: 120 });
        const d = decide(c);
        expect(decide(view)).toEqual(d);
        expect(buildStatusPatch(view, d)).toEqual(buildStatusPatch(c, d));
      }),
      { numRuns: 3000 },
    );
  });

  it('is total and keeps its invariants (property)', () => {
    fc.assert(
      fc.property(arbComponent, arbPower, arbCfs, (c, power, cfs) => {
        const d = decideStatus({ component: c, powerState: power, cfs: cfs ? { id: 'x1', ...cfs } : undefined, nowMs: NOW, maxBootWaitTime: 1200, maxPowerOnWaitTime: 120 });
        expect(['', 'powering_on', 'powering_off', 'configuring']).toContain(d.phase);
        expect(['', 'on_hold', 'failed']).toContain(d.override);
        if (d.override !== '' || d.error !== '') expect(d.disable).toBe(true);
        if (!power || !cfs) expect(d.override).toBe('on_hold');
        if (d.actionFailed) expect(d.phase).toBe('powering_on');
        if (computeStatus(c) === 'failed' && power && cfs) expect(d.override).toBe('failed');
        const patch = buildStatusPatch(c, d);
        if (patch === null) {
          expect(d.disable).toBe(false);
          expect(d.phase).toBe(c.status?.phase ?? '');
        } else {
          expect(patch.id).toBe('x1');
          expect(patch.status?.status_override).toBe(d.override);
        }
        // A component that stays enabled reaches a fixed point: deciding again changes nothing. (Leaving
        // powering_off empties the actual state, a new input, so that case is excluded.)
        if (patch && !d.disable && !patch.actual_state) {
          const after = mergeComponent(c, patch);
          const again = decideStatus({ component: after, powerState: power, cfs: cfs ? { id: 'x1', ...cfs } : undefined, nowMs: NOW, maxBootWaitTime: 1200, maxPowerOnWaitTime: 120 });
          expect(buildStatusPatch(after, again)).toBeNull();
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('CFS left disabled for a booted node', () => {
  const secondsAgo = fc.option(fc.integer({ min: 0, max: 5000 }), { nil: undefined });
  const arb = fc.record({
    enabled: fc.constantFrom<boolean | undefined>(true, false, undefined),
    cfsStatus: fc.constantFrom('pending', 'PENDING', 'configured', 'failed', 'unconfigured', undefined),
    desired: fc.constantFrom<string | undefined>('cfg1', 'cfg2', '', undefined),
    cfsDesired: fc.constantFrom<string | undefined>('cfg1', 'cfg2', '', undefined),
    reported: secondsAgo,
    acted: secondsAgo,
    wait: fc.integer({ min: 0, max: 3000 }),
  });
  const make = (v: typeof arb extends fc.Arbitrary<infer T> ? T : never) => {
    const c: Component = { id: 'x1', enabled: true, desired_state: v.desired === undefined ? {} : { configuration: v.desired } };
    if (v.reported !== undefined) c.actual_state = { last_updated: ago(v.reported) };
    if (v.acted !== undefined) c.last_action = { action: 'powering_on', failed: false, last_updated: ago(v.acted) };
    const cfs: CfsComponent = { id: 'x1', enabled: v.enabled, desired_config: v.cfsDesired, configuration_status: v.cfsStatus };
    return { c, cfs };
  };

  it('holds exactly for a disabled, pending CFS record with BOS\'s configuration, once the node reported after the last action or had its boot wait', () => {
    fc.assert(
      fc.property(arb, (v) => {
        const { c, cfs } = make(v);
        const got = cfsLeftDisabled(c, cfs, NOW, v.wait);
        const stuck = v.enabled === false && v.cfsStatus?.toLowerCase() === 'pending' && !!v.desired && v.desired === v.cfsDesired;
        // Timestamps have whole seconds: "reported after" is a later second.
        const reportedAfter = v.reported !== undefined && v.acted !== undefined && v.reported < v.acted;
        const waited = v.acted === undefined || v.acted > v.wait;
        expect(got).toBe(stuck && (reportedAfter || waited));
      }),
    );
  });

  it('once it holds, it holds later too (a stuck node is not let go by the passing of time)', () => {
    fc.assert(
      fc.property(arb, fc.integer({ min: 0, max: 5000 }), (v, later) => {
        const { c, cfs } = make(v);
        if (cfsLeftDisabled(c, cfs, NOW, v.wait)) expect(cfsLeftDisabled(c, cfs, NOW + later * 1000, v.wait)).toBe(true);
      }),
    );
  });
});

describe('limit syntax', () => {
  const inventory = new Map<string, string[]>([
    ['compute', ['n1', 'n2', 'n3']],
    ['gpu', ['n3', 'n4']],
    ['Application_UAN', ['n5']],
  ]);

  it('unions, intersects and excludes', () => {
    const nodes = new Set(['n1', 'n2', 'n3', 'n4', 'n5']);
    expect(applyLimit(nodes, '', inventory)).toEqual(nodes);
    expect(applyLimit(nodes, undefined, inventory)).toEqual(nodes);
    expect([...applyLimit(nodes, 'compute', inventory)].sort()).toEqual(['n1', 'n2', 'n3']);
    expect([...applyLimit(nodes, 'compute,&gpu', inventory)]).toEqual(['n3']);
    expect([...applyLimit(nodes, 'all,!gpu', inventory)].sort()).toEqual(['n1', 'n2', 'n5']);
    expect([...applyLimit(nodes, '*,!n1', inventory)].sort()).toEqual(['n2', 'n3', 'n4', 'n5']);
    expect([...applyLimit(nodes, 'n9,n2', inventory)]).toEqual(['n2']);
    expect([...applyLimit(nodes, 'Application_UAN', inventory)]).toEqual(['n5']);
    expect(applyLimit(nodes, '&compute', inventory).size).toBe(0);
    expect(applyLimit(nodes, '!gpu', inventory).size).toBe(0);
    expect(() => applyLimit(nodes, 'n1,,n2', inventory)).toThrow(LimitError);
  });

  it('matches a per-node set model (property)', () => {
    const names = ['compute', 'gpu', 'Application_UAN', 'all', '*', 'n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'x9'];
    const arbTerm = fc.tuple(fc.constantFrom('', '&', '!'), fc.constantFrom(...names)).map(([op, n]) => op + n);
    fc.assert(
      fc.property(fc.subarray(['n1', 'n2', 'n3', 'n4', 'n5', 'n6']), fc.array(arbTerm, { minLength: 1, maxLength: 6 }), (nodeList, terms) => {
        const nodes = new Set(nodeList);
        const got = applyLimit(nodes, terms.join(','), inventory);
        const inTerm = (x: string, name: string) =>
          name === 'all' || name === '*' ? nodes.has(x) : inventory.has(name) ? inventory.get(name)!.includes(x) : x === name;
        for (const x of ['n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'x9', 'compute']) {
          let acc = false;
          for (const t of terms) {
            if (t.startsWith('&')) acc = acc && inTerm(x, t.slice(1));
            else if (t.startsWith('!')) acc = acc && !inTerm(x, t.slice(1));
            else acc = acc || inTerm(x, t);
          }
          expect(got.has(x)).toBe(nodes.has(x) && acc);
        }
      }),
    );
  });
});

describe('architecture', () => {
  it('X86 boot sets take X86, UNKNOWN, Unknown and no Arch; others only themselves', () => {
    for (const a of ['X86', 'UNKNOWN', 'Unknown', undefined]) expect(archAccepted(undefined, a)).toBe(true);
    for (const a of ['X86', 'UNKNOWN', 'Unknown', undefined]) expect(archAccepted('X86', a)).toBe(true);
    expect(archAccepted('X86', 'ARM')).toBe(false);
    expect(archAccepted('ARM', 'ARM')).toBe(true);
    expect(archAccepted('ARM', undefined)).toBe(false);
    expect(archAccepted('ARM', 'X86')).toBe(false);
    expect(archAccepted('ARM', 'arm')).toBe(false);
    expect(archAccepted('Unknown', undefined)).toBe(true);
    expect(archAccepted('Other', 'Other')).toBe(true);
  });
});

describe('kernel parameter assembly', () => {
  const summary = { rootfs: 's3://boot-images/img1/rootfs', rootfsEtag: 'etag1' };
  const table: { name: string; bootSet: Record<string, unknown>; image?: string[]; ttl?: string; want: string }[] = [
    { name: 'no provider', bootSet: { kernel_parameters: 'console=ttyS0' }, want: 'console=ttyS0 bos_update_frequency=4h' },
    { name: 'no provider, passthrough', bootSet: { rootfs_provider_passthrough: 'pt' }, want: 'root=::pt bos_update_frequency=4h' },
    {
      name: 'sbps',
      bootSet: { kernel_parameters: 'a b', rootfs_provider: 'sbps' },
      want: 'a b root=sbps-s3:s3://boot-images/img1/rootfs:etag1 nmd_data=url=s3://boot-images/img1/rootfs,etag=etag1 bos_update_frequency=4h',
    },
    {
      name: 'sbps with passthrough and image parameters',
      bootSet: { kernel_parameters: 'k=1', rootfs_provider: 'sbps', rootfs_provider_passthrough: 'sbps:v1:iqn.2023-06.csm.iscsi:_sbps-hsn._tcp.x:300' },
      image: ['img=1', 'quiet'],
      ttl: '2h',
      want:
        'img=1 quiet k=1 root=sbps-s3:s3://boot-images/img1/rootfs:etag1:sbps:v1:iqn.2023-06.csm.iscsi:_sbps-hsn._tcp.x:300 nmd_data=url=s3://boot-images/img1/rootfs,etag=etag1 bos_update_frequency=2h',
    },
    {
      name: 'cpss3',
      bootSet: { rootfs_provider: 'cpss3', rootfs_provider_passthrough: 'dvs:api-gw-service-nmn.local:300:nmn0' },
      want:
        'root=craycps-s3:s3://boot-images/img1/rootfs:etag1:dvs:api-gw-service-nmn.local:300:nmn0 nmd_data=url=s3://boot-images/img1/rootfs,etag=etag1 bos_update_frequency=4h',
    },
    { name: 'empty boot set parameters are skipped', bootSet: { kernel_parameters: '' }, image: ['x=1'], want: 'x=1 bos_update_frequency=4h' },
  ];
  for (const row of table) {
    it(row.name, () => {
      expect(
        assembleKernelParameters({ imageParameters: row.image ?? [], bootSet: { path: 'p', type: 's3', ...row.bootSet }, summary, actualStateTtl: row.ttl ?? '4h' }),
      ).toBe(row.want);
    });
  }

  it('sbps with no rootfs etag leaves it out of nmd_data', () => {
    expect(rootfsParameters({ path: 'p', type: 's3', rootfs_provider: 'sbps' }, { rootfs: 's3://r', rootfsEtag: '' })).toEqual({
      root: 'root=sbps-s3:s3://r:',
      nmd: 'nmd_data=url=s3://r',
    });
  });

  it('rejects other providers, including an empty one, with the upstream text', () => {
    for (const p of ['', 'cps', 'SBPS']) {
      const bootSet = { path: 'p', type: 's3', rootfs_provider: p };
      expect(() => rootfsParameters(bootSet, summary)).toThrow(UnsupportedRootfsProvider);
      expect(() => rootfsParameters(bootSet, summary)).toThrow(`Unsupported rootfs_provider ('${p}') specified in boot set: `);
    }
  });
});

describe('IMS image ids from kernel paths', () => {
  it('takes the first key segment', () => {
    expect(imsIdFromKernel('s3://boot-images/1234-abcd/kernel')).toEqual({ id: '1234-abcd' });
    expect(imsIdFromKernel('s3://boot-images/1234/a/b?x=1')).toEqual({ id: '1234' });
  });
  it('reports paths it cannot use with upstream texts', () => {
    expect(imsIdFromKernel('s3://boot-images/kernel')).toEqual({ error: 'Unable to extract IMS ID from kernel path: s3://boot-images/kernel' });
    expect(imsIdFromKernel('s3://boot-images/deleted/1234/kernel')).toEqual({
      error: "Kernel path appears to refer to soft-deleted IMS image: 's3://boot-images/deleted/1234/kernel'",
    });
  });
});

describe('session cleanup TTL', () => {
  it('0 in any unit disables cleanup', () => {
    expect(sessionCleanupDisabled('0')).toBe(true);
    expect(sessionCleanupDisabled('0d')).toBe(true);
    expect(sessionCleanupDisabled('0H')).toBe(true);
    expect(sessionCleanupDisabled('7d')).toBe(false);
    expect(sessionCleanupDisabled('10m')).toBe(false);
  });
});

describe('sessionComponentsList', () => {
  it('keeps the longest prefix of whole ids that fits, in order, and joins them with commas', () => {
    fc.assert(
      fc.property(fc.array(fc.stringMatching(/^[a-z0-9]{1,12}$/), { maxLength: 40 }), fc.integer({ min: 0, max: 120 }), (ids, max) => {
        const { list, kept } = sessionComponentsList(ids, max);
        expect(list).toBe(ids.slice(0, kept).join(','));
        expect(list.length).toBeLessThanOrEqual(max);
        // Maximal: one more id would not fit.
        if (kept < ids.length) expect(ids.slice(0, kept + 1).join(',').length).toBeGreaterThan(max);
      }),
    );
  });

  it('keeps every id when the list fits, up to the API limit of 524,288 characters', () => {
    const ids = Array.from({ length: 40_000 }, (_, i) => `x${String(i).padStart(13, '0')}`); // 14 characters each
    const { list, kept } = sessionComponentsList(ids);
    expect(kept).toBe(Math.floor((524_288 + 1) / 15));
    expect(list.length).toBeLessThanOrEqual(524_288);
    expect(sessionComponentsList(ids.slice(0, kept)).kept).toBe(kept);
  });
});
