import { describe, expect, it } from 'vitest';
import type { BootSet, Session, SessionTemplate } from '../../src/common/types.js';
import { Runner } from '../../src/operators/runner.js';
import { sessionCleanup } from '../../src/operators/session-cleanup.js';
import { sessionCompletion } from '../../src/operators/session-completion.js';
import { componentPatch } from '../../src/operators/session-plan.js';
import { sessionSetup } from '../../src/operators/session-setup.js';
import type { OperatorDefinition } from '../../src/operators/types.js';
import { comp, pendingSession, world, type World } from './fakes.js';

function run(w: World, op: OperatorDefinition) {
  return new Runner(op, { services: w, clock: w.clock }).runOnce();
}

const session = pendingSession;

const NODES = ['x1', 'x2', 'x3', 'x4', 'x5', 'x6'];

/** Six HSM nodes known to BOS, an image, a template with one boot set. */
function setupWorld(bootSet: Partial<BootSet> = {}, template: Partial<SessionTemplate> = {}): World & { manifest: string } {
  const w = world();
  w.hsm.addNodes(NODES);
  for (const id of NODES) w.bos.put(comp(id, { enabled: false }));
  const manifest = w.s3.addImage('img1');
  w.bos.templates.set('t1', {
    name: 't1',
    tenant: null,
    enable_cfs: true,
    cfs: { configuration: 'tmpl-cfg' },
    boot_sets: { compute: { path: manifest, type: 's3', kernel_parameters: 'console=ttyS0', node_list: ['x1', 'x2'], ...bootSet } },
    ...template,
  });
  return Object.assign(w, { manifest });
}

/** The session's final state and the ids written in the component PATCH. */
async function setupOnce(w: World, s: Session) {
  w.bos.sessions.set(s.name, s);
  const report = await run(w, sessionSetup);
  const patch = w.rec.of('bos', 'patchComponents')[0];
  const ids = patch ? (patch.args[0] as { id: string }[]).map((p) => p.id).sort() : [];
  return { report, session: w.bos.sessions.get(s.name)!, ids, patch };
}

describe('session-setup: componentPatch', () => {
  it('gives each node its own copy of the boot set state (changing one changes neither the target nor another)', () => {
    const target = { boot_artifacts: { kernel: 'k', kernel_parameters: 'p', initrd: 'i' }, configuration: 'c' };
    const session = { name: 's1', operation: 'boot', template_name: 't' } as Session;
    const a = componentPatch('x1', session, target);
    const b = componentPatch('x2', session, target);
    expect(a.desired_state).toEqual(target);
    a.desired_state!.boot_artifacts!.kernel = 'changed';
    expect(target.boot_artifacts.kernel).toBe('k');
    expect(b.desired_state!.boot_artifacts!.kernel).toBe('k');
    const staged = componentPatch('x3', { ...session, stage: true }, { ...target, session: 's1' });
    expect(staged).toEqual({ id: 'x3', error: '', staged_state: { ...target, session: 's1' } });
  });
});

describe('session-setup: a boot session', () => {
  it('sets desired state, session, enabled and last_action, and starts the session', async () => {
    const w = setupWorld();
    const { session: s, patch } = await setupOnce(w, session('s1'));
    expect(s.status.status).toBe('running');
    expect(s.components).toBe('x1,x2');
    expect(patch!.args[1]).toEqual({ skipBadIds: true, chunkSize: 2800, idsOnly: true });
    expect((patch!.args[0] as unknown[])[0]).toEqual({
      id: 'x1',
      error: '',
      desired_state: {
        boot_artifacts: {
          kernel: 's3://boot-images/img1/kernel',
          initrd: 's3://boot-images/img1/initrd',
          kernel_parameters: 'console=ttyS0 bos_update_frequency=4h',
        },
        configuration: 'tmpl-cfg',
      },
      session: 's1',
      enabled: true,
      last_action: { action: 'session_setup', failed: false },
    });
    const x1 = w.bos.get('x1');
    expect(x1.enabled).toBe(true);
    expect(x1.status?.status).toBe('on_hold');
    expect(w.rec.of('bos', 'getSessionTemplate')[0]!.args).toEqual(['t1', null]);
  });

  it('reboot also clears the actual state; shutdown sets an empty desired state without reading S3', async () => {
    const w = setupWorld();
    const { patch } = await setupOnce(w, session('s1', { operation: 'reboot' }));
    expect((patch!.args[0] as Record<string, unknown>[])[0]!.actual_state).toEqual({ boot_artifacts: { kernel: '', kernel_parameters: '', initrd: '' }, bss_token: '' });

    const v = setupWorld();
    const r = await setupOnce(v, session('s2', { operation: 'shutdown' }));
    expect((r.patch!.args[0] as Record<string, unknown>[])[0]!.desired_state).toEqual({
      configuration: '',
      boot_artifacts: { kernel: '', kernel_parameters: '', initrd: '' },
      bss_token: '',
    });
    expect(v.rec.of('s3')).toHaveLength(0);
    expect(r.session.status.status).toBe('running');
  });

  it('a staged session writes only staged_state, with the session name', async () => {
    const w = setupWorld();
    const { patch, session: s } = await setupOnce(w, session('st', { stage: true }));
    expect((patch!.args[0] as unknown[])[0]).toEqual({
      id: 'x1',
      error: '',
      staged_state: {
        boot_artifacts: {
          kernel: 's3://boot-images/img1/kernel',
          initrd: 's3://boot-images/img1/initrd',
          kernel_parameters: 'console=ttyS0 bos_update_frequency=4h',
        },
        configuration: 'tmpl-cfg',
        session: 'st',
      },
    });
    expect(s.status.status).toBe('running');
    expect(w.bos.get('x1').enabled).toBe(false);

    const v = setupWorld();
    const r = await setupOnce(v, session('st2', { stage: true, operation: 'shutdown' }));
    expect((r.patch!.args[0] as Record<string, unknown>[])[0]!.staged_state).toEqual({ configuration: '', boot_artifacts: { kernel: '', kernel_parameters: '', initrd: '' } });
  });

  it('configuration: none with enable_cfs false, else the boot set\'s over the template\'s', async () => {
    const a = setupWorld({ cfs: { configuration: 'bs-cfg' } });
    expect(((await setupOnce(a, session('s'))).patch!.args[0] as { desired_state: { configuration: string } }[])[0]!.desired_state.configuration).toBe('bs-cfg');
    const b = setupWorld({ cfs: { configuration: 'bs-cfg' } }, { enable_cfs: false });
    expect(((await setupOnce(b, session('s'))).patch!.args[0] as { desired_state: { configuration: string } }[])[0]!.desired_state.configuration).toBe('');
    const c = setupWorld({}, { cfs: undefined });
    expect(((await setupOnce(c, session('s'))).patch!.args[0] as { desired_state: { configuration: string } }[])[0]!.desired_state.configuration).toBe('');
  });

  it('kernel parameters: image boot parameters, boot set parameters, sbps root and nmd, update frequency', async () => {
    const w = setupWorld({ rootfs_provider: 'sbps', rootfs_provider_passthrough: 'sbps:v1:iqn:x:300' });
    w.s3.addImage('img1', { bootParameters: ' crashkernel=360M\n  ip=dhcp ' });
    w.bos.options = { component_actual_state_ttl: '6h' };
    const { patch } = await setupOnce(w, session('s'));
    const params = (patch!.args[0] as { desired_state: { boot_artifacts: { kernel_parameters: string } } }[])[0]!.desired_state.boot_artifacts.kernel_parameters;
    expect(params).toBe(
      'crashkernel=360M ip=dhcp console=ttyS0 root=sbps-s3:s3://boot-images/img1/rootfs:rootfs-etag:sbps:v1:iqn:x:300 nmd_data=url=s3://boot-images/img1/rootfs,etag=rootfs-etag bos_update_frequency=6h',
    );
  });

  it('cpss3 builds a craycps-s3 root', async () => {
    const w = setupWorld({ rootfs_provider: 'cpss3', rootfs_provider_passthrough: 'dvs:api-gw-service-nmn.local:300:nmn0', kernel_parameters: '' });
    const { patch } = await setupOnce(w, session('s'));
    const params = (patch!.args[0] as { desired_state: { boot_artifacts: { kernel_parameters: string } } }[])[0]!.desired_state.boot_artifacts.kernel_parameters;
    expect(params).toMatch(/^root=craycps-s3:s3:\/\/boot-images\/img1\/rootfs:rootfs-etag:dvs:api-gw-service-nmn.local:300:nmn0 nmd_data=/);
  });
});

describe('session-setup: a session of more nodes than its components field holds', () => {
  it('runs on every node and lists as many as the API accepts in components', async () => {
    const many = Array.from({ length: 40_000 }, (_, i) => `x3000c0s${String(i).padStart(5, '0')}b0n0`); // 17 characters
    const w = setupWorld({ node_list: many });
    w.hsm.addNodes(many);
    for (const id of many) w.bos.put(comp(id, { enabled: false }));
    const { session: s, ids } = await setupOnce(w, session('big'));
    expect(s.status.status).toBe('running');
    expect(ids).toHaveLength(40_000);
    expect(s.components.length).toBeLessThanOrEqual(524_288);
    const listed = s.components.split(',');
    expect(listed.length).toBe(Math.floor((524_288 + 1) / 18));
    expect(listed).toEqual(many.slice(0, listed.length));
    expect(w.bos.get(many[39_999]!).session).toBe('big');
  });
});

describe('session-setup: node selection', () => {
  async function selected(bootSet: Partial<BootSet>, s: Partial<Session> = {}, prep?: (w: World) => void) {
    const w = setupWorld(bootSet);
    prep?.(w);
    const r = await setupOnce(w, session('s', s));
    return { ...r, w };
  }

  it('node_groups and node_roles_groups add members; unknown names are skipped', async () => {
    const r = await selected({ node_list: ['x1'], node_groups: ['grp', 'nope'], node_roles_groups: ['Application_UAN', 'Management'] }, {}, (w) => {
      w.hsm.groups.push({ label: 'grp', members: { ids: ['x2', 'x3'] } });
      w.hsm.components.find((c) => c.ID === 'x4')!.Role = 'Application';
      w.hsm.components.find((c) => c.ID === 'x4')!.SubRole = 'UAN';
    });
    expect(r.ids).toEqual(['x1', 'x2', 'x3', 'x4']);
  });

  it('a role group covers every HSM component with the role', async () => {
    const r = await selected({ node_list: [], node_roles_groups: ['Compute'] });
    expect(r.ids).toEqual(NODES);
  });

  it('the limit narrows with groups, partitions, roles, & and !', async () => {
    const prep = (w: World) => {
      w.hsm.groups.push({ label: 'g1', members: { ids: ['x1', 'x2', 'x3'] } });
      w.hsm.partitions.push({ name: 'p1', members: { ids: ['x3', 'x4'] } });
    };
    const bs = { node_list: NODES };
    expect((await selected(bs, { limit: 'g1' }, prep)).ids).toEqual(['x1', 'x2', 'x3']);
    expect((await selected(bs, { limit: 'g1,&p1' }, prep)).ids).toEqual(['x3']);
    expect((await selected(bs, { limit: 'all,!g1' }, prep)).ids).toEqual(['x4', 'x5', 'x6']);
    expect((await selected(bs, { limit: 'x5,x9' }, prep)).ids).toEqual(['x5']);
    expect((await selected(bs, { limit: '*' }, prep)).ids).toEqual(NODES);
  });

  it('a limit that leaves nothing fails the session with upstream\'s text', async () => {
    const r = await selected({ node_list: ['x1'] }, { limit: 'x2' });
    expect(r.session.status).toMatchObject({ status: 'complete', error: 'No nodes were found to act upon.', end_time: '2026-01-01T12:00:00' });
    expect(r.w.rec.of('bos', 'saveSessionStatus')[0]!.args).toEqual(['s', null]);
    expect(r.w.rec.of('bos', 'patchComponents')).toHaveLength(0);
  });

  it('an empty limit term fails the session', async () => {
    const r = await selected({ node_list: ['x1'] }, { limit: 'x1,,x2' });
    expect(r.session.status.status).toBe('complete');
    expect(r.session.status.error).toMatch(/^LimitError: the limit "x1,,x2" has an empty term/);
  });

  it('locked nodes are left out', async () => {
    const r = await selected({ node_list: ['x1', 'x2'] }, {}, (w) => w.hsm.locked.add('x2'));
    expect(r.ids).toEqual(['x1']);
  });

  it('architecture: X86 takes UNKNOWN, Unknown and no Arch; ARM only ARM', async () => {
    const prep = (w: World) => {
      const set = (id: string, arch: string | undefined) => (w.hsm.components.find((c) => c.ID === id)!.Arch = arch);
      set('x2', 'ARM');
      set('x3', 'UNKNOWN');
      set('x4', 'Unknown');
      set('x5', undefined);
      delete w.hsm.components.find((c) => c.ID === 'x5')!.Arch;
      set('x6', 'Other');
    };
    expect((await selected({ node_list: NODES }, {}, prep)).ids).toEqual(['x1', 'x3', 'x4', 'x5']);
    expect((await selected({ node_list: NODES, arch: 'ARM' }, {}, prep)).ids).toEqual(['x2']);
  });

  it('HSM-disabled nodes join only with include_disabled', async () => {
    const prep = (w: World) => (w.hsm.components.find((c) => c.ID === 'x2')!.Enabled = false);
    expect((await selected({ node_list: ['x1', 'x2'] }, {}, prep)).ids).toEqual(['x1']);
    expect((await selected({ node_list: ['x1', 'x2'] }, { include_disabled: true }, prep)).ids).toEqual(['x1', 'x2']);
  });

  it('tenants: nodes are limited to the tenant; listing foreign nodes or an unknown tenant fails', async () => {
    const prep = (w: World) => w.tenants.tenants.set('ten', new Set(['x1', 'x2', 'x3']));
    const ok = await selected({ node_list: [], node_roles_groups: ['Compute'] }, { tenant: 'ten' }, prep);
    expect(ok.ids).toEqual(['x1', 'x2', 'x3']);
    expect(ok.w.rec.of('bos', 'getSessionTemplate')[0]!.args).toEqual(['t1', 'ten']);
    expect(ok.w.rec.of('bos', 'patchSession')[0]!.args[1]).toBe('ten');

    const foreign = await selected({ node_list: ['x1', 'x5', 'x6'] }, { tenant: 'ten' }, prep);
    expect(foreign.session.status.error).toBe('The session template includes nodes which do not exist or are not available to this tenant: x5,x6');

    const unknown = await selected({ node_list: ['x1'] }, { tenant: 'nobody' }, prep);
    expect(unknown.session.status.error).toBe('Data not found for tenant nobody');
  });

  it('nodes BOS does not know are dropped; none left fails the session', async () => {
    const r = await selected({ node_list: ['x1', 'new1'] }, {}, (w) => w.hsm.addNodes(['new1']));
    expect(r.session.components).toBe('x1');
    const none = await selected({ node_list: ['new1'] }, {}, (w) => w.hsm.addNodes(['new1']));
    expect(none.session.status).toMatchObject({ status: 'complete', error: 'All nodes found to act upon do not exist as BOS components' });
  });

  it('several boot sets: their nodes are united; an empty boot set is skipped', async () => {
    const w = setupWorld();
    const m2 = w.s3.addImage('img2');
    const t = w.bos.templates.get('t1')!;
    t.boot_sets.uan = { path: m2, type: 's3', node_list: ['x3'] };
    t.boot_sets.none = { path: 's3://missing/manifest.json', type: 's3', node_list: ['x9'] };
    const r = await setupOnce(w, session('s'));
    expect(r.session.components).toBe('x1,x2,x3');
    expect(w.bos.get('x3').desired_state?.boot_artifacts?.kernel).toBe('s3://boot-images/img2/kernel');
  });
});

describe('session-setup: failures', () => {
  const cases: { name: string; prep: (w: World & { manifest: string }) => void; error: string | RegExp }[] = [
    {
      name: 'missing template',
      prep: (w) => w.bos.templates.clear(),
      error: 'bos: Session template t1 could not be found',
    },
    {
      name: 'unreadable manifest',
      prep: (w) => w.s3.objects.delete(w.manifest),
      error: "ManifestNotFound: Unable to read manifest file 's3://boot-images/img1/manifest.json'.",
    },
    {
      name: 'manifest without a kernel',
      prep: (w) => w.s3.addImage('img1', { withoutKernel: true }),
      error: 'ArtifactNotFound: No artifact of type application/vnd.cray.image.kernel could be found in the image manifest.',
    },
    {
      name: 'manifest without an initrd',
      prep: (w) => w.s3.addImage('img1', { withoutInitrd: true }),
      error: 'ArtifactNotFound: No artifact of type application/vnd.cray.image.initrd could be found in the image manifest.',
    },
    {
      name: 'unreadable boot parameters file',
      prep: (w) => {
        w.s3.addImage('img1', { bootParameters: 'x' });
        w.s3.objects.delete('s3://boot-images/img1/boot_parameters');
      },
      error: 'ObjectNotFound: Unable to download object s3://boot-images/img1/boot_parameters.',
    },
    {
      name: 'unsupported rootfs provider',
      prep: (w) => (w.bos.templates.get('t1')!.boot_sets.compute!.rootfs_provider = 'cps'),
      error: /^Unsupported rootfs_provider \('cps'\) specified in boot set: \{/,
    },
    {
      name: 'boot set type not s3',
      prep: (w) => (w.bos.templates.get('t1')!.boot_sets.compute!.type = 'nfs'),
      error: 'No BootImageMetadata class for type nfs',
    },
    {
      name: 'HSM failure',
      prep: (w) => w.rec.fail('hsm', 'lockedNodes', 'Non-2XX response (503) to GET /locks/status'),
      error: 'hsm: Non-2XX response (503) to GET /locks/status',
    },
  ];
  for (const c of cases) {
    it(`${c.name} completes the session with the reason`, async () => {
      const w = setupWorld();
      c.prep(w);
      const { session: s, report } = await setupOnce(w, session('s'));
      expect(report.ok).toBe(true);
      expect(s.status.status).toBe('complete');
      if (typeof c.error === 'string') expect(s.status.error).toBe(c.error);
      else expect(s.status.error).toMatch(c.error);
      expect(s.status.error).not.toContain('\n');
      expect(w.rec.of('bos', 'saveSessionStatus')).toHaveLength(1);
    });
  }

  it('a failure writing components leaves the session pending and stops the pass', async () => {
    const w = setupWorld();
    w.bos.sessions.set('s0', session('s0'));
    w.bos.sessions.set('s1', session('s1'));
    w.rec.fail('bos', 'patchComponents', 'Non-2XX response (503)');
    const r = await run(w, sessionSetup);
    expect(r.ok).toBe(false);
    expect(w.bos.sessions.get('s0')!.status.status).toBe('pending');
    expect(w.bos.sessions.get('s1')!.status.status).toBe('pending');
    expect(w.rec.of('bos', 'getSessionTemplate')).toHaveLength(1);
  });

  it('reads the HSM inventory once per pass for all sessions', async () => {
    const w = setupWorld({ node_list: [], node_groups: ['g'] });
    w.hsm.groups.push({ label: 'g', members: { ids: ['x1'] } });
    w.bos.sessions.set('a', session('a'));
    w.bos.sessions.set('b', session('b'));
    await run(w, sessionSetup);
    expect(w.bos.sessions.get('a')!.status.status).toBe('running');
    expect(w.bos.sessions.get('b')!.status.status).toBe('running');
    expect(w.rec.of('hsm', 'listGroups')).toHaveLength(1);
  });
});

describe('session-completion', () => {
  function running(name: string, extra: Partial<Session> = {}) {
    return session(name, { status: { status: 'running', start_time: '2026-01-01T11:00:00' }, ...extra });
  }

  it('completes running sessions no enabled or staged component still belongs to', async () => {
    const w = world();
    w.bos.sessions.set('done', running('done'));
    w.bos.sessions.set('busy', running('busy'));
    w.bos.sessions.set('staged', running('staged'));
    w.bos.sessions.set('pending', session('pending'));
    w.bos.put(comp('a', { session: 'done', enabled: false }));
    w.bos.put(comp('b', { session: 'busy', enabled: true }));
    w.bos.put(comp('c', { enabled: false, staged_state: { session: 'staged' } }));
    const r = await run(w, sessionCompletion);
    expect(r).toMatchObject({ ok: true, selected: 3, acted: 1 });
    expect(w.bos.sessions.get('done')!.status).toMatchObject({ status: 'complete', end_time: '2026-01-01T12:00:00' });
    expect(w.bos.sessions.get('done')!.status.error).toBeUndefined();
    expect(w.bos.sessions.get('busy')!.status.status).toBe('running');
    expect(w.bos.sessions.get('staged')!.status.status).toBe('running');
    expect(w.rec.of('bos', 'saveSessionStatus').map((c) => c.args)).toEqual([['done', null]]);
  });

  it('counts only the tenant\'s components for a tenant session', async () => {
    const w = world();
    w.tenants.tenants.set('ten', new Set(['t1']));
    w.bos.sessions.set('s', running('s', { tenant: 'ten' }));
    w.bos.put(comp('other', { session: 's', enabled: true }));
    await run(w, sessionCompletion);
    expect(w.bos.sessions.get('s')!.status.status).toBe('complete');
    expect(w.rec.of('bos', 'patchSession')[0]!.args[1]).toBe('ten');

    const v = world();
    v.tenants.tenants.set('ten', new Set(['t1']));
    v.bos.sessions.set('s', running('s', { tenant: 'ten' }));
    v.bos.put(comp('t1', { session: 's', enabled: true }));
    await run(v, sessionCompletion);
    expect(v.bos.sessions.get('s')!.status.status).toBe('running');
  });

  it('a component applied from the stage between its two reads still holds the session open', async () => {
    const w = world();
    w.bos.sessions.set('s', running('s'));
    w.bos.put(comp('n', { enabled: false, staged_state: { session: 's' } }));
    // applystaged (clear_stage) lands right after the operator's first read.
    const list = w.bos.listComponents.bind(w.bos);
    let reads = 0;
    w.bos.listComponents = async (query, pageSize) => {
      const out = await list(query, pageSize);
      if (++reads === 1) w.bos.put(comp('n', { session: 's', enabled: true, staged_state: {} }));
      return out;
    };
    await run(w, sessionCompletion);
    expect(w.bos.sessions.get('s')!.status.status).toBe('running');
  });

  it('a tenant lookup failure fails the pass but does not hold back other sessions', async () => {
    const w = world();
    w.bos.sessions.set('a', running('a', { tenant: 'ten' }));
    w.bos.sessions.set('b', running('b'));
    w.bos.put(comp('n', { session: 'a', enabled: true }));
    w.rec.fail('tapms', 'tenantXnames', 'read timeout');
    const r = await run(w, sessionCompletion);
    expect(r.ok).toBe(false);
    expect(r.error).toContain('a: tapms: read timeout');
    expect(w.bos.sessions.get('a')!.status.status).toBe('running');
    expect(w.bos.sessions.get('b')!.status.status).toBe('complete');
  });
});

describe('session-cleanup', () => {
  it('deletes complete sessions older than the TTL as stored', async () => {
    const w = world();
    w.bos.options = { cleanup_completed_session_ttl: '3D' };
    await run(w, sessionCleanup);
    expect(w.rec.of('bos', 'deleteSessions').map((c) => c.args[0])).toEqual([{ status: 'complete', min_age: '3D' }]);
  });

  it('does nothing when the TTL is 0 in any unit', async () => {
    for (const ttl of ['0', '0d', '0m']) {
      const w = world();
      w.bos.options = { cleanup_completed_session_ttl: ttl };
      const r = await run(w, sessionCleanup);
      expect(r.ok).toBe(true);
      expect(w.rec.of('bos', 'deleteSessions')).toHaveLength(0);
    }
  });
});
