/**
 * The BOS client against the project's own BOS v2 API server (memory store) over loopback, with the
 * server's tenant, S3 and IMS clients pointed at the simulator: paths, query rendering (True/False),
 * paging, bulk PATCH forms, tenant header and session calls must agree with the server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FILTER_PATCH_MIN, HttpBosClient } from '../../src/clients/bos.js';
import { createServices, gatewayUrls, MemoryBootArtifacts, type ClosableServices } from '../../src/clients/index.js';
import { ServiceError } from '../../src/clients/types.js';
import { FakeClock } from '../../src/common/clock.js';
import { OPTION_DEFAULTS } from '../../src/common/options.js';
import type { Component, Session } from '../../src/common/types.js';
import { statusView, type ListedComponent } from '../../src/common/status-view.js';
import { startServer, type RunningServer } from '../../src/server/app.js';
import { MemoryStore } from '../../src/server/store/memory.js';
import { computeXname, manifestPath, SIM_IMAGES, startSimulator, type RunningSimulator } from '../../src/sim/index.js';

let sim: RunningSimulator;
let simServices: ClosableServices;
let server: RunningServer;
let bos: HttpBosClient;
const clock = new FakeClock(Date.UTC(2026, 0, 1));
const ids = Array.from({ length: 12 }, (_, i) => computeXname(i));

beforeAll(async () => {
  sim = await startSimulator({ nodes: 16, clock });
  simServices = createServices({
    ...gatewayUrls(sim.url),
    options: () => ({ ...OPTION_DEFAULTS }),
    bootArtifacts: new MemoryBootArtifacts(),
    retry: { retries: 1, backoffFactorMs: 1, maxBackoffMs: 2 },
  });
  server = await startServer({
    store: new MemoryStore(),
    clock,
    logger: false,
    prefixes: ['', '/apis/bos'],
    tenants: simServices.tenants,
    s3: simServices.s3,
    ims: simServices.ims,
  });
  bos = new HttpBosClient(gatewayUrls(server.url).bosUrl, { retry: { retries: 1, backoffFactorMs: 1, maxBackoffMs: 2 } });
});

afterAll(async () => {
  bos?.close();
  await server?.close();
  await simServices?.close();
  await sim?.close();
  clock.stop();
});

function newComponent(id: string): Component {
  return {
    id,
    actual_state: { boot_artifacts: { kernel: '', kernel_parameters: '', initrd: '' }, bss_token: '' },
    desired_state: { configuration: '', boot_artifacts: { kernel: '', kernel_parameters: '', initrd: '' }, bss_token: '' },
    staged_state: {},
    last_action: { action: 'newly_discovered', failed: false },
    enabled: false,
    error: '',
    session: '',
  };
}

describe('BOS client against the BOS server', () => {
  it('options', async () => {
    const o = await bos.getOptions();
    expect(o.polling_frequency).toBe(OPTION_DEFAULTS.polling_frequency);
  });

  it('PUT components, then list them paged and filtered', async () => {
    const put = await bos.putComponents(ids.map(newComponent));
    expect(put.map((c) => c.id).sort()).toEqual([...ids].sort());
    const paged = await bos.listComponents({}, 5);
    expect(paged.map((c) => c.id)).toEqual([...ids].sort());
    expect(await bos.listComponents({ enabled: true }, 5)).toEqual([]);
    expect((await bos.listComponents({ enabled: false }, 0)).length).toBe(ids.length);
    expect((await bos.listComponents({ ids: ids.slice(0, 3).join(',') }, 2)).map((c) => c.id).sort()).toEqual(ids.slice(0, 3).sort());
  });

  it('a bulk PUT that discards its answer writes every record and reads none back', async () => {
    expect(await bos.putComponents(ids.map(newComponent), { discardAnswer: true })).toEqual([]);
    expect((await bos.listComponents({}, 0)).map((c) => c.id).sort()).toEqual([...ids].sort());
  });

  it('re-reads a page conditionally: unchanged (304) until a record on it changes, then the page as it is now', async () => {
    await bos.putComponents(ids.map(newComponent));
    const pages: Component[][] = [];
    for await (const page of bos.listComponentPages({}, 5)) pages.push(page);
    expect(pages.map((p) => p.length)).toEqual([5, 5, 2]);
    // From a cursor: the pages after that id, as the listing has them.
    const after: Component[][] = [];
    for await (const page of bos.listComponentPages({}, 5, { startAfter: pages[0]![3]!.id })) after.push(page);
    expect(after.flat().map((c) => c.id)).toEqual(pages.flat().slice(4).map((c) => c.id));
    for (const page of pages) expect(await bos.rereadPage(page)).toBe('unchanged');
    const changed = pages[1]![2]!.id;
    await bos.patchComponents([{ id: changed, error: 'now' }]);
    expect(await bos.rereadPage(pages[0]!)).toBe('unchanged');
    const again = await bos.rereadPage(pages[1]!);
    expect(Array.isArray(again) && again.map((c) => [c.id, c.error])).toEqual(pages[1]!.map((c) => [c.id, c.id === changed ? 'now' : '']));
    // a page this client did not list: nothing to re-read it by
    expect(await bos.rereadPage([...pages[0]!])).toBeUndefined();
  });

  it('lists status views page by page, each the view of its full record, and re-reads them conditionally', async () => {
    await bos.putComponents(ids.map(newComponent));
    const full = await bos.listComponents({}, 0);
    const views: Component[][] = [];
    for await (const page of bos.listComponentPages({}, 5, { view: 'status' })) views.push(page);
    expect(views.flat()).toEqual(full.map(statusView));
    expect(await bos.rereadPage(views[1]!)).toBe('unchanged');
    const changed = views[1]![0]!.id;
    await bos.patchComponents([{ id: changed, error: 'now' }]);
    const again = await bos.rereadPage(views[1]!);
    expect(Array.isArray(again) && again.every((c) => (c as ListedComponent).status_facts !== undefined && !('staged_state' in c))).toBe(true);
    expect(Array.isArray(again) && again.find((c) => c.id === changed)?.error).toBe('now');
  });

  it('bulk PATCH in both forms; skip_bad_ids ignores unknown ids, without it they are a 404', async () => {
    const patched = await bos.patchComponents(
      [
        { id: ids[0]!, error: 'e0' },
        { id: 'x9999c0s0b0n0', error: 'nope' },
      ],
      { skipBadIds: true, chunkSize: 1 },
    );
    expect(patched.map((c) => [c.id, c.error])).toEqual([[ids[0], 'e0']]);
    const err = await bos.patchComponents([{ id: 'x9999c0s0b0n0', error: 'x' }]).then(
      () => undefined,
      (e: unknown) => e as ServiceError,
    );
    expect(err).toBeInstanceOf(ServiceError);
    expect(err!.status).toBe(404);
    expect(err!.message).toMatch(/^Non-2XX response \(404\) to PATCH \/components; Not Found /);
    const byFilter = await bos.patchComponentsByFilter({ error: 'bulk' }, { ids: ids.slice(1, 3).join(',') });
    expect(byFilter.map((c) => c.error)).toEqual(['bulk', 'bulk']);
  });

  it('bulk PATCH without an answer: identical patches by id filter and the rest as a list land as a list would', async () => {
    const many = Array.from({ length: FILTER_PATCH_MIN + 3 }, (_, i) => `x3000c0s${i}b0n0`);
    await bos.putComponents(many.map((id) => ({ id, enabled: true, error: 'before' })));
    const shared = { enabled: false, error: '', event_stats: { power_on_attempts: 0, power_off_graceful_attempts: 0, power_off_forceful_attempts: 0 } };
    const patches: Partial<Component>[] = many.map((id, i) => (i === 3 ? { id, error: 'own' } : { id, ...shared }));
    expect(await bos.patchComponents(patches, { discardAnswer: true, chunkSize: 10 })).toEqual([]);
    const after = new Map((await bos.listComponents({ ids: many.join(',') }, 0)).map((c) => [c.id, c]));
    for (const [i, id] of many.entries()) {
      const c = after.get(id)!;
      if (i === 3) expect([c.enabled, c.error]).toEqual([true, 'own']);
      else expect([c.enabled, c.error, c.event_stats]).toEqual([false, '', shared.event_stats]);
    }
    // unknown ids: refused (404) in either form unless skipped
    const unknown = [...many.slice(0, FILTER_PATCH_MIN).map((id) => ({ id, ...shared })), { id: 'x9999c0s0b0n0', ...shared }];
    await expect(bos.patchComponents(unknown, { discardAnswer: true })).rejects.toMatchObject({ status: 404 });
    await bos.patchComponents(unknown, { discardAnswer: true, skipBadIds: true });
  });

  it('session template, session create/list/patch/status/delete, with and without a tenant', async () => {
    const tenantNodes = sim.room.tenant('tenant-a')!.xnames;
    const template = {
      enable_cfs: false,
      boot_sets: { compute: { path: manifestPath(SIM_IMAGES.computeX86), type: 's3', node_list: tenantNodes, arch: 'X86' } },
    };
    await bos.http.put('/sessiontemplates/t1', { body: template });
    await bos.http.put('/sessiontemplates/t1', { body: template, headers: { 'Cray-Tenant-Name': 'tenant-a' } });
    expect((await bos.getSessionTemplate('t1', null)).name).toBe('t1');
    expect((await bos.getSessionTemplate('t1', 'tenant-a')).tenant).toBe('tenant-a');

    await bos.http.post('/sessions', { body: { name: 's-plain', template_name: 't1', operation: 'boot' } });
    await bos.http.post('/sessions', { body: { name: 's-tenant', template_name: 't1', operation: 'boot' }, headers: { 'Cray-Tenant-Name': 'tenant-a' } });
    const pending = await bos.listSessions({ status: 'pending' });
    expect(pending.map((s) => [s.name, s.tenant ?? null]).sort()).toEqual([
      ['s-plain', null],
      ['s-tenant', 'tenant-a'],
    ]);

    const running = await bos.patchSession('s-tenant', 'tenant-a', { status: { status: 'running' }, components: tenantNodes.join(',') });
    expect(running.status.status).toBe('running');
    // Without the tenant header the tenant's session is not found.
    const wrong = await bos.patchSession('s-tenant', null, { status: { status: 'running' } }).then(
      () => undefined,
      (e: unknown) => e as ServiceError,
    );
    expect(wrong?.status).toBe(404);
    expect((await bos.listSessions({ status: 'running' })).map((s: Session) => s.name)).toEqual(['s-tenant']);

    await bos.patchSession('s-tenant', 'tenant-a', { status: { status: 'complete', end_time: '2026-01-01T00:00:00' } });
    await bos.saveSessionStatus('s-tenant', 'tenant-a');
    expect((await bos.listSessions({ status: 'complete' })).map((s) => s.name)).toEqual(['s-tenant']);
    await bos.deleteSessions({ status: 'complete', min_age: '0m' });
    expect((await bos.listSessions({ status: 'complete' })).length).toBe(0);
    expect((await bos.listSessions()).map((s) => s.name)).toEqual(['s-plain']);
  });
});
