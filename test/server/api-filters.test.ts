/**
 * Property test: GET /v2/components (over loopback HTTP) against a plain model of docs/api.md, "Listing components" —
 * candidate set (ids, tenant), ordering, start_after_id, the filter-activation quirk, each filter,
 * the computed status, and paging after filtering.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Component } from '../../src/common/types.js';
import { startServer, type RunningServer } from '../../src/server/app.js';
import { MemoryStore } from '../../src/server/store/memory.js';
import { Api, FakeTenants } from '../helpers/api.js';

const IDS = ['x1', 'x2', 'x3', 'x10', 'x4', 'b0', 'Z9', 'x3000c0s1b0n0'];
const TENANT_IDS = ['x1', 'x10', 'Z9', 'nope'];
const PHASES = ['', 'powering_on', 'powering_off', 'configuring'];
const ACTIONS = ['powering_on', 'powering_off_gracefully', 'powering_off_forcefully', 'session_setup', 'apply_staged'];
const STATUS_VALUES = ['stable', 'on_hold', 'failed', 'power_on_pending', 'power_on_called', 'power_off_pending', 'power_off_gracefully_called', 'power_off_forcefully_called', 'configuring'];

/** The status rule as docs/data-model.md ("The status rule") states it, written out separately from the server's. */
function modelStatus(c: Component): string {
  const o = c.status?.status_override;
  if (o) return o;
  const phase = c.status?.phase;
  const action = c.last_action?.action;
  if (phase === 'powering_on') return action === 'powering_on' && c.last_action?.failed !== true ? 'power_on_called' : 'power_on_pending';
  if (phase === 'powering_off') {
    if (action === 'powering_off_gracefully') return 'power_off_gracefully_called';
    if (action === 'powering_off_forcefully') return 'power_off_forcefully_called';
    return 'power_off_pending';
  }
  if (phase === 'configuring') return 'configuring';
  return 'stable';
}

interface Query {
  ids?: string;
  enabled?: boolean;
  session?: string;
  staged_session?: string;
  phase?: string;
  status?: string;
  start_after_id?: string;
  page_size?: number;
  tenant?: string;
}

function model(records: Component[], q: Query): string[] {
  const byId = new Map(records.map((r) => [r.id, r]));
  let ids: string[];
  const tenantSet = q.tenant ? new Set(TENANT_IDS) : undefined;
  if (q.ids !== undefined) ids = [...new Set(q.ids.split(','))].filter((id) => byId.has(id) && (!tenantSet || tenantSet.has(id)));
  else if (tenantSet) ids = [...tenantSet].filter((id) => byId.has(id));
  else ids = [...byId.keys()];
  ids.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (q.start_after_id !== undefined) ids = ids.filter((id) => id > q.start_after_id!);
  const active = q.enabled === true || !!q.session || !!q.staged_session || !!q.phase || !!q.status;
  if (active) {
    ids = ids.filter((id) => {
      const c = byId.get(id)!;
      if (q.enabled !== undefined && c.enabled !== q.enabled) return false;
      if (q.session && c.session !== q.session) return false;
      if (q.staged_session && c.staged_state?.session !== q.staged_session) return false;
      if (q.phase && c.status?.phase !== q.phase) return false;
      if (q.status && !q.status.split(',').includes(modelStatus(c))) return false;
      return true;
    });
  }
  if (q.page_size) ids = ids.slice(0, q.page_size);
  return ids;
}

const opt = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });

const componentArb = (id: string): fc.Arbitrary<Component> =>
  fc
    .record({
      enabled: opt(fc.boolean()),
      session: opt(fc.constantFrom('', 's1', 's2')),
      staged_state: opt(fc.record({ session: fc.constantFrom('', 's1', 's2') })),
      status: opt(fc.record({ phase: fc.constantFrom(...PHASES), status_override: fc.constantFrom('', '', 'failed', 'on_hold') }, { requiredKeys: [] })),
      last_action: opt(fc.record({ action: fc.constantFrom(...ACTIONS), failed: fc.boolean() }, { requiredKeys: ['action'] })),
    })
    .map((r) => {
      const c: Component = { id };
      for (const [k, v] of Object.entries(r)) if (v !== undefined) (c as unknown as Record<string, unknown>)[k] = v;
      return c;
    });

const recordsArb = fc.subarray(IDS, { minLength: 0 }).chain((ids) => fc.tuple(...ids.map(componentArb)));

const queryArb: fc.Arbitrary<Query> = fc.record(
  {
    ids: fc.subarray([...IDS, 'missing'], { minLength: 1 }).map((a) => a.join(',')),
    enabled: fc.boolean(),
    session: fc.constantFrom('s1', 's2'),
    staged_session: fc.constantFrom('s1', 's2'),
    phase: fc.constantFrom(...PHASES),
    status: fc.subarray(STATUS_VALUES).map((a) => a.join(',')),
    start_after_id: fc.constantFrom(...IDS, 'a', 'x'),
    page_size: fc.nat(4),
    tenant: fc.constant('acme'),
  },
  { requiredKeys: [] },
);

describe('GET /v2/components matches the model of its filters', () => {
  const store = new MemoryStore();
  let srv: RunningServer;
  let api: Api;
  beforeAll(async () => {
    srv = await startServer({ store, tenants: new FakeTenants({ acme: TENANT_IDS }), logger: false });
    api = new Api(srv.url);
  });
  afterAll(() => srv.close());

  it('returns exactly the model ids, in order, each with its computed status', async () => {
    await fc.assert(
      fc.asyncProperty(recordsArb, fc.array(queryArb, { minLength: 1, maxLength: 4 }), async (records, queries) => {
        for (const id of await store.components.ids()) await store.components.delete(id);
        await store.components.putMany(records);
        for (const q of queries) {
          const params = new URLSearchParams();
          for (const [k, v] of Object.entries(q)) if (v !== undefined && k !== 'tenant') params.set(k, String(v));
          const res = await api.get(`/v2/components?${params}`, { tenant: q.tenant });
          expect(res.status).toBe(200);
          const got = res.body as Component[];
          expect(got.map((c) => c.id)).toEqual(model(records, q));
          for (const c of got) {
            const original = records.find((r) => r.id === c.id)!;
            expect(c.status!.status).toBe(modelStatus(original));
          }
        }
      }),
      { numRuns: 150 },
    );
  });
});
