/**
 * Session setup's node selection, as a property over random machine rooms: whatever the boot set,
 * limit, locks, tenant, architectures and HSM enabled flags, a selected node is one the boot set
 * names, the limit admits, is not locked, belongs to the tenant, has an accepted architecture and
 * (unless include_disabled) is enabled in HSM — and every node meeting all of that is selected.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { applyLimit, archAccepted } from '../../src/operators/rules.js';
import { sessionSetup } from '../../src/operators/session-setup.js';
import { Runner } from '../../src/operators/runner.js';
import { comp, world } from './fakes.js';

const NODES = ['n0', 'n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'n7'];
const ARCHES = ['X86', 'ARM', 'UNKNOWN', 'Unknown', undefined] as const;

const arbRoom = fc.record({
  nodes: fc.array(
    fc.record({
      arch: fc.constantFrom(...ARCHES),
      enabled: fc.boolean(),
      locked: fc.boolean(),
      role: fc.constantFrom('Compute', 'Application'),
      inGroup: fc.boolean(),
      inTenant: fc.boolean(),
    }),
    { minLength: NODES.length, maxLength: NODES.length },
  ),
  nodeList: fc.subarray(NODES),
  useGroup: fc.boolean(),
  useRole: fc.boolean(),
  bootSetArch: fc.constantFrom('X86', 'ARM', 'Unknown', undefined),
  limit: fc.array(fc.tuple(fc.constantFrom('', '&', '!'), fc.constantFrom('all', 'grp', 'Compute', ...NODES)).map(([o, n]) => o + n), { maxLength: 3 }),
  includeDisabled: fc.boolean(),
  tenant: fc.boolean(),
});

describe('session setup node selection (property)', () => {
  it('selects exactly the nodes every rule admits', async () => {
    await fc.assert(
      fc.asyncProperty(arbRoom, async (room) => {
        const w = world();
        const tenantSet = new Set<string>();
        room.nodes.forEach((n, i) => {
          const id = NODES[i]!;
          w.hsm.components.push({ ID: id, Type: 'Node', State: 'Ready', Enabled: n.enabled, Role: n.role, ...(n.arch === undefined ? {} : { Arch: n.arch }) });
          if (n.locked) w.hsm.locked.add(id);
          if (n.inTenant) tenantSet.add(id);
          w.bos.put(comp(id, { enabled: false }));
        });
        w.hsm.groups.push({ label: 'grp', members: { ids: NODES.filter((_, i) => room.nodes[i]!.inGroup) } });
        w.tenants.tenants.set('ten', tenantSet);
        const manifest = w.s3.addImage('img');
        // Tenant sessions may not list foreign nodes explicitly; keep the explicit list inside the tenant.
        const nodeList = room.tenant ? room.nodeList.filter((id) => tenantSet.has(id)) : room.nodeList;
        w.bos.templates.set('t', {
          name: 't',
          tenant: null,
          boot_sets: {
            bs: {
              path: manifest,
              type: 's3',
              node_list: nodeList,
              ...(room.useGroup ? { node_groups: ['grp'] } : {}),
              ...(room.useRole ? { node_roles_groups: ['Compute'] } : {}),
              ...(room.bootSetArch ? { arch: room.bootSetArch } : {}),
            },
          },
        });
        const limit = room.limit.join(',');
        w.bos.sessions.set('s', {
          name: 's',
          tenant: room.tenant ? 'ten' : null,
          operation: 'boot',
          template_name: 't',
          limit,
          stage: false,
          components: '',
          include_disabled: room.includeDisabled,
          status: { status: 'pending' },
        });
        await new Runner(sessionSetup, { services: w, clock: w.clock }).runOnce();
        const session = w.bos.sessions.get('s')!;

        // the model
        let named = new Set(nodeList);
        if (room.useGroup) for (const id of NODES.filter((_, i) => room.nodes[i]!.inGroup)) named.add(id);
        if (room.useRole) for (const id of NODES.filter((_, i) => room.nodes[i]!.role === 'Compute')) named.add(id);
        const inventory = new Map<string, string[]>([
          ['grp', NODES.filter((_, i) => room.nodes[i]!.inGroup)],
          ['Compute', NODES.filter((_, i) => room.nodes[i]!.role === 'Compute')],
          ['Application', NODES.filter((_, i) => room.nodes[i]!.role === 'Application')],
        ]);
        if (limit) named = applyLimit(named, limit, inventory);
        const expected = NODES.filter((id, i) => {
          const n = room.nodes[i]!;
          return (
            named.has(id) &&
            !n.locked &&
            (!room.tenant || n.inTenant) &&
            archAccepted(room.bootSetArch, n.arch) &&
            (room.includeDisabled || n.enabled)
          );
        });
        if (expected.length === 0) {
          expect(session.status).toMatchObject({ status: 'complete', error: 'No nodes were found to act upon.' });
        } else {
          expect(session.status.status).toBe('running');
          expect(session.components.split(',').sort()).toEqual(expected);
          for (const id of NODES) expect(w.bos.get(id).enabled).toBe(expected.includes(id));
        }
      }),
      { numRuns: 150 },
    );
  });
});
