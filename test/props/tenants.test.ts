/**
 * Tenancy properties. Through any endpoint or filter, a tenant never reads, changes, boots or
 * deletes a component, template or session that is not its own; and a tenant's session, run by the
 * operators against the simulator, only ever touches that tenant's nodes.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../src/server/store/store.js';
import { ALL_NODES, FREE_NODES, raw, startPropServer, TENANT_NODES, type PropServer } from './server.js';
import { bootTemplate, bos, startFaultSystem, waitComplete, waitDiscovered } from '../faults/harness.js';
import type { RunningSystem } from '../../src/system.js';

const TENANT_NAMES = ['tenant-a', 'tenant-b'] as const;
const SESSION_NAMES = ['s0', 'sa', 'sb', 'done0', 'donea', 'doneb'];
const TEMPLATE_NAMES = ['t0', 'ta', 'tb'];

/** Everything in the store that does not belong to `tenant`. */
async function othersSnapshot(store: Store, tenant: string): Promise<string> {
  const own = new Set(TENANT_NODES[tenant]);
  return JSON.stringify({
    components: (await store.components.list()).filter((c) => !own.has(c.id)),
    templates: (await store.templates.list()).filter((t) => (t.tenant ?? '') !== tenant),
    sessions: (await store.sessions.list()).filter((s) => (s.tenant ?? '') !== tenant),
    statuses: await Promise.all(
      ['', ...TENANT_NAMES.filter((t) => t !== tenant)].flatMap((tn) => SESSION_NAMES.map((n) => store.sessionStatus.get(tn, n))),
    ),
  });
}

describe('tenant isolation at the API', () => {
  let srv: PropServer;
  beforeAll(async () => {
    srv = await startPropServer();
  });
  afterAll(async () => {
    await srv?.close();
  });

  const tenant = fc.constantFrom(...TENANT_NAMES);
  const someNodes = fc.subarray(ALL_NODES, { minLength: 1 });
  const query = fc.record(
    {
      ids: someNodes.map((a) => a.join(',')),
      session: fc.constantFrom(...SESSION_NAMES),
      staged_session: fc.constantFrom(...SESSION_NAMES),
      enabled: fc.constantFrom('true', 'false'),
      status: fc.constantFrom('stable', 'on', 'off', 'failed'),
      start_after_id: fc.constantFrom('', ...ALL_NODES),
    },
    { requiredKeys: [] },
  );

  it('reads: every component, session and template a tenant gets back is its own', async () => {
    const read = fc.oneof(
      query.map((q) => `/v2/components?${new URLSearchParams(q as Record<string, string>)}`),
      fc.constantFrom(...ALL_NODES).map((id) => `/v2/components/${id}`),
      fc.constantFrom('/v2/sessions', '/v2/sessions?status=running', '/v2/sessions?status=complete', '/v2/sessiontemplates'),
      fc.constantFrom(...SESSION_NAMES).map((s) => `/v2/sessions/${s}`),
      fc.constantFrom(...SESSION_NAMES).map((s) => `/v2/sessions/${s}/status`),
      fc.constantFrom(...TEMPLATE_NAMES).map((t) => `/v2/sessiontemplates/${t}`),
      fc.constantFrom(...TEMPLATE_NAMES).map((t) => `/v2/sessiontemplatesvalid/${t}`),
    );
    await fc.assert(
      fc.asyncProperty(tenant, read, async (t, path) => {
        const own = new Set(TENANT_NODES[t]);
        const r = await raw(srv.url, 'GET', path, { headers: { 'Cray-Tenant-Name': t } });
        expect(r.status, `${t} GET ${path} → ${r.text.slice(0, 200)}`).toBeLessThan(500);
        if (r.status !== 200) {
          expect(r.status).toBeGreaterThanOrEqual(400);
          return;
        }
        const name = path.split('?')[0]!.split('/')[3];
        if (path.startsWith('/v2/components')) {
          const list = Array.isArray(r.body) ? r.body : [r.body];
          for (const c of list) expect(own.has(c.id), `${t} read component ${c.id}`).toBe(true);
        } else if (path.startsWith('/v2/sessions/') && path.endsWith('/status')) {
          // Only the tenant's own session has a status to show.
          expect(name!.endsWith(t.slice(-1))).toBe(true);
        } else if (path.startsWith('/v2/sessiontemplatesvalid/')) {
          expect(name!.endsWith(t.slice(-1))).toBe(true);
        } else {
          const list = Array.isArray(r.body) ? r.body : [r.body];
          for (const rec of list) expect(rec.tenant, `${t} read ${JSON.stringify(rec).slice(0, 100)}`).toBe(t);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('writes: nothing a tenant sends changes a record that is not its own', async () => {
    const foreign = (t: string) => ALL_NODES.filter((n) => !TENANT_NODES[t]!.includes(n));
    const write = (t: string) =>
      fc.oneof(
        fc.constantFrom(...foreign(t)).map((id) => ({ method: 'PATCH', path: `/v2/components/${id}`, body: { enabled: true, error: 'x' } })),
        fc.constantFrom(...foreign(t)).map((id) => ({ method: 'PATCH', path: `/v2/components/${id}`, body: { actual_state: { bss_token: 'tok' } } })),
        fc.constantFrom(...foreign(t)).map((id) => ({ method: 'DELETE', path: `/v2/components/${id}` })),
        fc.tuple(someNodes, fc.boolean()).map(([ids, skip]) => ({ method: 'PATCH', path: `/v2/components?skip_bad_ids=${skip}`, body: ids.map((id) => ({ id, enabled: true })) })),
        someNodes.map((ids) => ({ method: 'PATCH', path: '/v2/components', body: { patch: { enabled: true, error: 'x' }, filters: { ids: ids.join(',') } } })),
        fc.constantFrom(...SESSION_NAMES).map((s) => ({ method: 'PATCH', path: '/v2/components', body: { patch: { enabled: true }, filters: { session: s } } })),
        someNodes.map((ids) => ({ method: 'POST', path: '/v2/applystaged', body: { xnames: ids } })),
        fc.constantFrom(...SESSION_NAMES).map((s) => ({ method: 'PATCH', path: `/v2/sessions/${s}`, body: { components: 'x' } })),
        fc.constantFrom(...SESSION_NAMES).map((s) => ({ method: 'DELETE', path: `/v2/sessions/${s}` })),
        fc.constantFrom(...SESSION_NAMES).map((s) => ({ method: 'POST', path: `/v2/sessions/${s}/status` })),
        fc.constantFrom('', '?status=complete', '?status=running', '?min_age=0').map((q) => ({ method: 'DELETE', path: `/v2/sessions${q}` })),
        fc.constantFrom(...TEMPLATE_NAMES).map((n) => ({ method: 'PATCH', path: `/v2/sessiontemplates/${n}`, body: { enable_cfs: true } })),
        fc.constantFrom(...TEMPLATE_NAMES).map((n) => ({ method: 'DELETE', path: `/v2/sessiontemplates/${n}` })),
        fc.constantFrom(...TEMPLATE_NAMES).map((n) => ({ method: 'POST', path: '/v2/sessions', body: { template_name: n, operation: 'boot' } })),
      );
    await fc.assert(
      fc.asyncProperty(
        tenant.chain((t) => fc.tuple(fc.constant(t), fc.array(write(t), { minLength: 1, maxLength: 6 }))),
        async ([t, requests]) => {
          // Fresh seeded records each run, so deletions of own records do not hide anything.
          await srv.close();
          srv = await startPropServer();
          const before = await othersSnapshot(srv.store, t);
          for (const req of requests) {
            const r = await raw(srv.url, req.method, req.path, {
              headers: { 'Cray-Tenant-Name': t },
              ...('body' in req ? { body: JSON.stringify(req.body), contentType: 'application/json' } : {}),
            });
            expect(r.status, `${t} ${req.method} ${req.path} → ${r.text.slice(0, 200)}`).toBeLessThan(500);
            if (req.method === 'POST' && req.path === '/v2/sessions' && r.status === 201) {
              // A session can only be made of the tenant's own template, in its own namespace.
              expect(r.body.tenant).toBe(t);
              expect((req as { body: { template_name: string } }).body.template_name.endsWith(t.slice(-1))).toBe(true);
            }
          }
          const after = await othersSnapshot(srv.store, t);
          // New sessions the tenant created are its own and excluded; everything else is as it was.
          expect(after).toBe(before);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe("a tenant's session touches only the tenant's nodes", () => {
  let sys: RunningSystem;
  beforeAll(async () => {
    sys = await startFaultSystem({ nodes: 40 });
  });
  afterAll(async () => {
    await sys?.close();
  });

  it('whatever nodes, groups or roles the template names, only the tenant’s nodes are powered or changed', async () => {
    const call = bos(sys.bosUrl);
    await waitDiscovered(call, sys.room);
    const all = sys.room.nodes().map((n) => n.id);
    const groups = sys.room.groups.map((g) => g.label);
    const tenantNodes = [...TENANT_NAMES].flatMap((t) => sys.room.tenant(t)!.xnames);
    const selection = fc.oneof(
      fc.subarray(all, { minLength: 1, maxLength: 12 }).map((node_list) => ({ node_list })),
      fc.tuple(fc.subarray(tenantNodes, { minLength: 1 }), fc.subarray(all, { maxLength: 6 })).map(([a, b]) => ({ node_list: [...new Set([...a, ...b])] })),
      fc.constant({ node_roles_groups: ['Compute'] }),
      fc.subarray(groups, { minLength: 1 }).map((node_groups) => ({ node_groups })),
      fc.subarray(['Compute', 'Application', 'Management'], { minLength: 1 }).map((node_roles_groups) => ({ node_roles_groups })),
    );
    let run = 0;
    let completed = 0;
    let nonEmpty = 0;
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...TENANT_NAMES), selection, fc.constantFrom('boot', 'reboot', 'shutdown'), async (tenant, sel, operation) => {
        run++;
        const own = new Set(sys.room.tenant(tenant)!.xnames);
        const headers = { 'Cray-Tenant-Name': tenant };
        const before = (await call('GET', '/components')).body.filter((c: any) => !own.has(c.id));
        const transitionsBefore = new Set(sys.room.transitions.keys());
        const t = await call('PUT', `/sessiontemplates/tt${run}`, bootTemplate({ groups: sel, cfs: false }), headers);
        expect(t.status, JSON.stringify(t.body)).toBe(200);
        const s = await call('POST', '/sessions', { template_name: `tt${run}`, operation }, headers);
        if (s.status === 400) return; // e.g. no boot set selects a node of the tenant's architecture
        expect(s.status, JSON.stringify(s.body)).toBe(201);
        const done = await waitComplete(call, s.body.name, 30_000, headers);
        completed++;
        if (done.components) nonEmpty++;
        for (const id of String(done.components ?? '').split(',').filter(Boolean)) expect(own.has(id), `${tenant} session took ${id}`).toBe(true);
        for (const [id, rec] of sys.room.transitions) {
          if (transitionsBefore.has(id)) continue;
          for (const task of rec.tasks) expect(own.has(task.xname), `${tenant} session powered ${task.xname}`).toBe(true);
        }
        const after = (await call('GET', '/components')).body.filter((c: any) => !own.has(c.id));
        // Others' records are unchanged apart from what their own nodes report.
        const strip = (cs: any[]) => cs.map((c) => ({ ...c, actual_state: undefined, status: undefined, last_action: undefined }));
        expect(strip(after)).toEqual(strip(before));
      }),
      { numRuns: 8 },
    );
    console.log(`tenant sessions: ${completed} completed, ${nonEmpty} acted on nodes`);
    expect(FREE_NODES.length).toBeGreaterThan(0);
  }, 120_000);
});
