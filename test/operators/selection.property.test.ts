/**
 * Session setup's node selection, as a property over random machine rooms: whatever the boot set,
 * limit, locks, tenant, architectures and HSM enabled flags, a selected node is one the boot set
 * names, the limit admits, is not locked, belongs to the tenant, has an accepted architecture and
 * (unless include_disabled) is enabled in HSM — and every node meeting all of that is selected; the
 * plan a session preview answers is exactly what setup then writes.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { applyLimit, archAccepted } from '../../src/operators/rules.js';
import { sessionSetup } from '../../src/operators/session-setup.js';
import { planSession, type Exclusion } from '../../src/operators/session-plan.js';
import type { Session, SessionTemplate } from '../../src/common/types.js';
import { Runner } from '../../src/operators/runner.js';
import { comp, context, world } from './fakes.js';

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

type Room = typeof arbRoom extends fc.Arbitrary<infer R> ? R : never;

/** A fake world holding the room, its template `t` and pending session `s`; and the model's answer. */
function build(room: Room) {
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
  const template: SessionTemplate = {
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
  };
  w.bos.templates.set('t', template);
  const limit = room.limit.join(',');
  const session: Session = {
    name: 's',
    tenant: room.tenant ? 'ten' : null,
    operation: 'boot',
    template_name: 't',
    limit,
    stage: false,
    components: '',
    include_disabled: room.includeDisabled,
    status: { status: 'pending' },
  };
  w.bos.sessions.set('s', structuredClone(session));

  // the model
  const named = new Set(nodeList);
  if (room.useGroup) for (const id of NODES.filter((_, i) => room.nodes[i]!.inGroup)) named.add(id);
  if (room.useRole) for (const id of NODES.filter((_, i) => room.nodes[i]!.role === 'Compute')) named.add(id);
  const inventory = new Map<string, string[]>([
    ['grp', NODES.filter((_, i) => room.nodes[i]!.inGroup)],
    ['Compute', NODES.filter((_, i) => room.nodes[i]!.role === 'Compute')],
    ['Application', NODES.filter((_, i) => room.nodes[i]!.role === 'Application')],
  ]);
  const limited = limit ? applyLimit(named, limit, inventory) : named;
  const node = (id: string) => room.nodes[NODES.indexOf(id)]!;
  /** Every rule a named node must pass, in order, with the reason it is left out for. */
  const rules: [Exclusion, (id: string) => boolean][] = [
    ['not_in_limit', (id) => limited.has(id)],
    ['locked', (id) => !node(id).locked],
    ['other_tenant', (id) => !room.tenant || node(id).inTenant],
    ['wrong_arch', (id) => archAccepted(room.bootSetArch, node(id).arch)],
    ['disabled_in_hsm', (id) => room.includeDisabled || node(id).enabled],
  ];
  const expected = NODES.filter((id) => named.has(id) && rules.every(([, ok]) => ok(id)));
  return { w, session, template, named, rules, expected };
}

describe('session setup node selection (property)', () => {
  it('selects exactly the nodes every rule admits', async () => {
    await fc.assert(
      fc.asyncProperty(arbRoom, async (room) => {
        const { w, expected } = build(room);
        await new Runner(sessionSetup, { services: w, clock: w.clock }).runOnce();
        const session = w.bos.sessions.get('s')!;
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

  it('the plan a preview answers is what setup then writes, and names the first rule that left out each other node', async () => {
    await fc.assert(
      fc.asyncProperty(arbRoom, async (room) => {
        const { w, session, template, named, rules, expected } = build(room);
        const plan = await planSession(context(w), session, template).catch((err: Error) => err);
        await new Runner(sessionSetup, { services: w, clock: w.clock }).runOnce();
        const after = w.bos.sessions.get('s')!;
        if (plan instanceof Error) {
          expect(after.status).toMatchObject({ status: 'complete', error: plan.message });
          expect(expected).toEqual([]);
          return;
        }
        expect(plan.nodes).toEqual(expected);
        const bs = plan.boot_sets.bs!;
        expect(bs.nodes).toEqual(expected);
        for (const id of NODES) {
          const c = w.bos.get(id);
          expect(c.enabled).toBe(expected.includes(id));
          if (expected.includes(id)) expect(c.desired_state).toMatchObject(bs.state!);
        }
        // Every named node is either selected or left out, once, for the first rule it fails.
        expect([...bs.nodes, ...bs.excluded.map((e) => e.id)].sort()).toEqual([...named].sort());
        for (const { id, reason } of bs.excluded) {
          const first = rules.find(([, ok]) => !ok(id));
          expect(reason, id).toBe(first?.[0]);
        }
      }),
      { numRuns: 150 },
    );
  });
});
