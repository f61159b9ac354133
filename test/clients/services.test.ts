import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FILTER_PATCH_MIN, groupPatches, HttpBosClient, IDS_QUERY_MAX_LENGTH, idLists, LOOK_AHEAD_PAGES, scanPage } from '../../src/clients/bos.js';
import { HttpBssClient } from '../../src/clients/bss.js';
import { CFS_GET_BATCH, CFS_PATCH_BATCH, HttpCfsClient, trailingNext } from '../../src/clients/cfs.js';
import { HttpHsmClient } from '../../src/clients/hsm.js';
import { HttpImsClient, ImageNotFound } from '../../src/clients/ims.js';
import { createServices, describeError, gatewayUrls } from '../../src/clients/index.js';
import { HttpPcsClient } from '../../src/clients/pcs.js';
import { HttpTenantClient } from '../../src/clients/tenants.js';
import { ServiceError } from '../../src/clients/types.js';
import { OPTION_DEFAULTS, type Options } from '../../src/common/options.js';
import type { Component } from '../../src/common/types.js';
import { DESIRED_VIEW_MEDIA_TYPE, STATUS_VIEW_MEDIA_TYPE } from '../../src/common/status-view.js';
import { IDS_MEDIA_TYPE } from '../../src/common/constants.js';
import { FAST_RETRY, startFake, type Fake, type Handler } from './fake-server.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function fake(handler: Handler): Promise<Fake> {
  const f = await startFake(handler);
  cleanups.push(() => f.close());
  return f;
}

function track<T extends { close(): void }>(c: T): T {
  cleanups.push(() => c.close());
  return c;
}

async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the call to fail');
}

const opts = { retry: FAST_RETRY };
const ids = (n: number, prefix = 'x') => Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(5, '0')}`);

// ---------------------------------------------------------------- BOS
describe('BOS client', () => {
  function bosFake(all: string[]) {
    return fake((req) => {
      if (req.method === 'GET' && req.path === '/v2/components') {
        const size = Number(req.query.page_size);
        let list = all.filter((id) => req.query.start_after_id === undefined || id > req.query.start_after_id);
        if (req.query.ids !== undefined) {
          const want = new Set(req.query.ids.split(','));
          list = list.filter((id) => want.has(id));
        }
        if (size > 0) list = list.slice(0, size);
        return { body: list.map((id) => ({ id })) };
      }
      if (req.method === 'PATCH' || req.method === 'PUT') {
        const body = req.body as { id?: string }[] | { patch: unknown };
        return { body: Array.isArray(body) ? body.map((p) => ({ id: p.id })) : [{ id: 'by-filter' }] };
      }
      return { body: { ok: true } };
    });
  }

  it('pages GET /components with page_size and start_after_id, keeping the filters', async () => {
    const all = ids(7);
    const f = await bosFake(all);
    const bos = track(new HttpBosClient(`${f.url}/v2`, opts));
    const got = await bos.listComponents({ enabled: true, status: 'power_on_pending,power_off_pending' }, 3);
    expect(got.map((c) => c.id)).toEqual(all);
    expect(f.seen.map((s) => s.query)).toEqual([
      { enabled: 'True', status: 'power_on_pending,power_off_pending', page_size: '3' },
      { enabled: 'True', status: 'power_on_pending,power_off_pending', page_size: '3', start_after_id: all[2] },
      { enabled: 'True', status: 'power_on_pending,power_off_pending', page_size: '3', start_after_id: all[5] },
    ]);
    expect(f.seen.every((s) => s.headers['cray-tenant-name'] === undefined)).toBe(true);
  });

  it('asks once more when the last page was exactly full, and once with page_size=0', async () => {
    const all = ids(6);
    const f = await bosFake(all);
    const bos = track(new HttpBosClient(`${f.url}/v2`, opts));
    expect((await bos.listComponents({}, 3)).length).toBe(6);
    expect(f.seen.length).toBe(3);
    expect((await bos.listComponents({ session: 's1' }, 0)).length).toBe(6);
    expect(f.seen.length).toBe(4);
    expect(f.seen[3]!.query).toEqual({ session: 's1', page_size: '0' });
  });

  it('paging returns every matching component exactly once, in ⌊n/size⌋+1 requests (property)', async () => {
    let all: string[] = [];
    const f = await fake((req) => {
      const size = Number(req.query.page_size);
      let list = all.filter((id) => req.query.start_after_id === undefined || id > req.query.start_after_id);
      if (size > 0) list = list.slice(0, size);
      return { body: list.map((id) => ({ id })) };
    });
    const bos = track(new HttpBosClient(`${f.url}/v2`, opts));
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 12 }), async (n, size) => {
        all = ids(n);
        const before = f.seen.length;
        const got = await bos.listComponents({}, size);
        expect(got.map((c) => c.id)).toEqual(all);
        expect(f.seen.length - before).toBe(size === 0 ? 1 : Math.floor(n / size) + 1);
      }),
      { numRuns: 40 },
    );
  });

  it('look-ahead paging: a page whose text misleads the guess of the next cursor still gives every component once, at most one extra request per page (property)', async () => {
    // Records whose text holds a nested {"id":"…"} after the real id: scanPage counts as many
    // records as there are but reads the wrong last id, so every look-ahead guesses wrong.
    let all: string[] = [];
    let misleading = true;
    const f = await fake((req) => {
      const size = Number(req.query.page_size);
      let list = all.filter((id) => req.query.start_after_id === undefined || id > req.query.start_after_id);
      if (size > 0) list = list.slice(0, size);
      const body = list.map((id) => (misleading ? `{"name":"n","ref":{"id":"a-${id}"},"id":"${id}"}` : `{"id":"${id}","ref":{"x":1}}`));
      return { raw: `[${body.join(',')}]`, headers: { 'content-type': 'application/json' } };
    });
    const bos = track(new HttpBosClient(`${f.url}/v2`, opts));
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 30 }), fc.integer({ min: 1, max: 7 }), fc.boolean(), async (n, size, mislead) => {
        all = ids(n);
        misleading = mislead;
        const before = f.seen.length;
        const got = await bos.listComponents({}, size);
        expect(got.map((c) => c.id)).toEqual(all);
        await new Promise((r) => setTimeout(r, 20)); // let a look-ahead nobody used arrive
        const sequential = Math.floor(n / size) + 1;
        const made = f.seen.length - before;
        if (mislead) expect(made).toBeLessThanOrEqual(2 * sequential);
        else expect(made).toBe(sequential);
      }),
      { numRuns: 40 },
    );
  });

  it('listComponentPages with the status view: asks for views before JSON, takes full records from an API without them, re-reads the same way', async () => {
    const all = ids(5);
    const f = await fake((req) => {
      const size = Number(req.query.page_size);
      const list = all.filter((id) => req.query.start_after_id === undefined || id > req.query.start_after_id).slice(0, size);
      // Accept is ignored, as by an API without views: full records.
      if (req.headers['if-none-match'] === '"t"') return { status: 304, raw: '' };
      return { body: list.map((id) => ({ id, desired_state: { boot_artifacts: { kernel: 'k' } } })), headers: { etag: '"t"' } };
    });
    const bos = track(new HttpBosClient(`${f.url}/v2`, opts));
    const pages: Component[][] = [];
    for await (const page of bos.listComponentPages({ enabled: true }, 3, { view: 'status' })) pages.push(page);
    expect(pages.flat().map((c) => c.desired_state?.boot_artifacts?.kernel)).toEqual(all.map(() => 'k'));
    expect(await bos.rereadPage(pages[0]!)).toBe('unchanged');
    const accepts = f.seen.map((s) => s.headers.accept);
    expect(accepts).toHaveLength(3);
    expect(new Set(accepts)).toEqual(new Set([`${STATUS_VIEW_MEDIA_TYPE}, application/json;q=0.9`]));
    expect(f.seen[2]!.headers['if-none-match']).toBe('"t"');
    // Without the view: no Accept of its own.
    for await (const _page of bos.listComponentPages({ enabled: true }, 0)) break;
    expect(f.seen[3]!.headers.accept).not.toContain(STATUS_VIEW_MEDIA_TYPE);
  });

  it('desired views: asked for before JSON by pages and by ids (split across requests too); none asked for without the option', async () => {
    const all = ids(30);
    const f = await bosFake(all);
    const bos = track(new HttpBosClient(`${f.url}/v2`, opts));
    const asked = `${DESIRED_VIEW_MEDIA_TYPE}, application/json;q=0.9`;
    const paged: string[] = [];
    for await (const page of bos.listComponentPages({ enabled: true }, 7, { view: 'desired' })) paged.push(...page.map((c) => c.id));
    expect(paged).toEqual(all);
    const byIds = await bos.listComponents({ ids: all.join(',') }, 7, { view: 'desired' });
    expect(byIds.map((c) => c.id)).toEqual(all);
    expect(f.seen.length).toBeGreaterThan(5);
    expect(new Set(f.seen.map((s) => s.headers.accept))).toEqual(new Set([asked]));
    const before = f.seen.length;
    await bos.listComponents({ ids: all.slice(0, 3).join(',') }, 7);
    expect(f.seen[before]!.headers.accept).not.toContain(DESIRED_VIEW_MEDIA_TYPE);
  });

  it('listComponentPages: a caller slower than the API still gets every page once, with no page asked for twice', async () => {
    const all = ids(10);
    const f = await bosFake(all);
    const bos = track(new HttpBosClient(`${f.url}/v2`, opts));
    const got: string[][] = [];
    for await (const page of bos.listComponentPages({ enabled: true }, 3)) {
      got.push(page.map((c) => c.id));
      await new Promise((r) => setTimeout(r, 40)); // the next page (and its look-ahead) arrive meanwhile
    }
    expect(got).toEqual([all.slice(0, 3), all.slice(3, 6), all.slice(6, 9), all.slice(9)]);
    expect(f.seen.map((s) => s.query.start_after_id)).toEqual([undefined, all[2], all[5], all[8]]);
  });

  it('listComponentPages: the look-ahead stays at most LOOK_AHEAD_PAGES pages past the page a slow caller holds', async () => {
    const all = ids(40);
    const f = await bosFake(all);
    const bos = track(new HttpBosClient(`${f.url}/v2`, opts));
    const got: string[] = [];
    let held = 0;
    for await (const page of bos.listComponentPages({}, 2)) {
      held++;
      got.push(...page.map((c) => c.id));
      // It looks ahead from the second page on (the first is asked for alone), as far as allowed and no further.
      const allowed = held === 1 ? 1 : Math.min(held + LOOK_AHEAD_PAGES, 21);
      await vi.waitFor(() => expect(f.seen.length).toBeGreaterThanOrEqual(allowed), { timeout: 2000, interval: 5 });
      await new Promise((r) => setTimeout(r, 20)); // time for a look-ahead too many to show up
      expect(f.seen.length).toBe(allowed);
    }
    expect(got).toEqual(all);
    const cursors = f.seen.map((s) => s.query.start_after_id);
    expect(new Set(cursors).size).toBe(cursors.length); // no page asked for twice
    expect(cursors).toHaveLength(21); // 20 full pages and the empty one that ends the listing
  });

  it('scanPage reads the record count and last id off a page of records that begin with their id (property)', () => {
    const record = fc.record({
      id: fc.stringMatching(/^[a-z0-9]{1,12}$/),
      error: fc.string(),
      desired_state: fc.record({ boot_artifacts: fc.record({ kernel_parameters: fc.string() }) }),
    });
    fc.assert(
      fc.property(fc.array(record, { maxLength: 30 }), (recs) => {
        const got = scanPage(JSON.stringify(recs));
        expect(got.count).toBe(recs.length);
        expect(got.lastId).toBe(recs.length ? recs[recs.length - 1]!.id : undefined);
      }),
    );
  });

  it('splits a long ids filter into queries of at most 127 characters (upstream limit), sent at once', async () => {
    const all = ids(450);
    const f = await bosFake(all);
    const bos = track(new HttpBosClient(`${f.url}/v2`, opts));
    const want = all.slice(0, 430).reverse();
    const got = await bos.listComponents({ ids: want.join(',') }, 0);
    expect(got.map((c) => c.id)).toEqual(all.slice(0, 430));
    const lists = f.seen.map((s) => s.query.ids!);
    expect(lists.every((l) => l.length <= IDS_QUERY_MAX_LENGTH)).toBe(true);
    expect(lists.flatMap((l) => l.split(',')).sort()).toEqual([...want].sort());
    // Packed: no query could have taken the next id.
    expect(lists.length).toBe(idLists(want, IDS_QUERY_MAX_LENGTH).length);
  });

  it('packs id lists greedily within a length, keeping their order; an id too long goes alone', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ minLength: 1, maxLength: 20, unit: fc.constantFrom('x', '1', 'c', 's', 'b', 'n') })), fc.integer({ min: 1, max: 60 }), (xs, max) => {
        const lists = idLists(xs, max);
        expect(lists.join(',')).toBe(xs.join(','));
        for (const l of lists) expect(l.length <= max || !l.includes(',')).toBe(true);
        for (let i = 0; i + 1 < lists.length; i++) expect(lists[i]!.length + 1 + lists[i + 1]!.split(',')[0]!.length).toBeGreaterThan(max);
      }),
    );
  });

  it('bulk PATCH: list form chunked, skip_bad_ids=True, empty list sends nothing', async () => {
    const f = await bosFake([]);
    const bos = track(new HttpBosClient(`${f.url}/v2`, opts));
    const patches: Partial<Component>[] = ids(5).map((id) => ({ id, error: '' }));
    const out = await bos.patchComponents(patches, { skipBadIds: true, chunkSize: 2 });
    expect(out.map((c) => c.id)).toEqual(ids(5));
    expect(f.seen.map((s) => (s.body as unknown[]).length)).toEqual([2, 2, 1]);
    expect(f.seen.every((s) => s.method === 'PATCH' && s.path === '/v2/components' && s.query.skip_bad_ids === 'True')).toBe(true);
    await bos.patchComponents(patches.slice(0, 3));
    expect(f.seen.length).toBe(4);
    expect(f.seen[3]!.query).toEqual({});
    expect((f.seen[3]!.body as unknown[]).length).toBe(3);
    expect(await bos.patchComponents([])).toEqual([]);
    expect(await bos.putComponents([])).toEqual([]);
    expect(f.seen.length).toBe(4);
  });

  it('bulk PATCH with idsOnly keeps only the ids of the records the API answers with', async () => {
    // An API answering with whole records, one of them not found (skip_bad_ids leaves it out).
    const f = await fake((req) => ({ body: (req.body as { id: string }[]).filter((p) => p.id !== 'x00003').map((p) => ({ ...p, enabled: true, desired_state: { configuration: 'c' } })) }));
    const bos = track(new HttpBosClient(`${f.url}/v2`, opts));
    const patches: Partial<Component>[] = ids(5).map((id) => ({ id, error: 'e' }));
    expect((await bos.patchComponents(patches, { chunkSize: 2 }))[0]).toEqual({ id: ids(5)[0], error: 'e', enabled: true, desired_state: { configuration: 'c' } });
    expect(await bos.patchComponents(patches, { chunkSize: 2, skipBadIds: true, idsOnly: true })).toEqual(ids(5).filter((id) => id !== 'x00003').map((id) => ({ id })));
    expect(f.seen.slice(3).map((s) => [(s.body as unknown[]).length, s.query.skip_bad_ids])).toEqual([[2, 'True'], [2, 'True'], [1, 'True']]);
  });

  it('bulk PATCH with idsOnly asks for the ids written alone, and takes them from an API that answers so', async () => {
    const f = await fake((req) => {
      const written = (req.body as { id: string }[]).map((p) => p.id).filter((id) => id !== 'x00002');
      return req.headers.accept?.includes(IDS_MEDIA_TYPE) ? { body: written, headers: { 'content-type': IDS_MEDIA_TYPE } } : { body: written.map((id) => ({ id })) };
    });
    const bos = track(new HttpBosClient(`${f.url}/v2`, opts));
    const patches: Partial<Component>[] = ids(3).map((id, i) => ({ id, error: `e${i}` }));
    expect(await bos.patchComponents(patches, { skipBadIds: true, idsOnly: true })).toEqual([{ id: 'x00000' }, { id: 'x00001' }]);
    expect(f.seen[0]!.headers.accept).toBe(`${IDS_MEDIA_TYPE}, application/json;q=0.9`);
  });

  it('bulk PATCH with idsOnly sends identical patches by id filter, chunked, and keeps the ids found', async () => {
    const missing = 'x00040';
    const f = await fake((req) => {
      const b = req.body as { patch: Partial<Component>; filters: { ids: string } } | { id: string }[];
      const items = Array.isArray(b) ? b : b.filters.ids.split(',').map((id) => ({ id, ...b.patch }));
      return { body: items.filter((p) => p.id !== missing) };
    });
    const bos = track(new HttpBosClient(`${f.url}/v2`, opts));
    const same = ids(100).map((id) => ({ id, session: 's', desired_state: { configuration: 'c' } }));
    const odd = { id: 'y00001', error: 'other' };
    const got = await bos.patchComponents([...same, odd], { chunkSize: 60, skipBadIds: true, idsOnly: true });
    expect(got.map((c) => c.id).sort()).toEqual([...ids(100).filter((id) => id !== missing), odd.id].sort());
    // Two filter PATCHes (60 and 40 ids, one patch each), then the odd one as a list.
    const bodies = f.seen.map((s) => s.body as { patch?: unknown; filters?: { ids: string } });
    expect(bodies.map((b) => (b.filters ? b.filters.ids.split(',').length : -1))).toEqual([60, 40, -1]);
    expect(bodies[0]!.patch).toEqual({ session: 's', desired_state: { configuration: 'c' } });
    expect(f.seen.map((s) => s.query.skip_bad_ids)).toEqual(['True', 'True', 'True']);
  });

  it('bulk PATCH with discardAnswer sends the same requests, reads no record back, and still refuses a non-array answer', async () => {
    const f = await bosFake([]);
    const bos = track(new HttpBosClient(`${f.url}/v2`, opts));
    const patches: Partial<Component>[] = ids(5).map((id) => ({ id, error: '' }));
    expect(await bos.patchComponents(patches, { chunkSize: 2, discardAnswer: true })).toEqual([]);
    expect(f.seen.map((s) => (s.body as { id: string }[]).map((p) => p.id))).toEqual([ids(5).slice(0, 2), ids(5).slice(2, 4), ids(5).slice(4)]);
    // It asks for no answer body, and takes the 204 this API then gives.
    expect(f.seen.map((s) => s.headers.prefer)).toEqual(['return=minimal', 'return=minimal', 'return=minimal']);
    const minimal = await fake(() => ({ status: 204 }));
    expect(await track(new HttpBosClient(`${minimal.url}/v2`, opts)).patchComponents(patches, { discardAnswer: true })).toEqual([]);
    expect(minimal.seen).toHaveLength(1);
    const odd = await fake(() => ({ body: { not: 'an array' } }));
    const bad = track(new HttpBosClient(`${odd.url}/v2`, opts));
    await expect(bad.patchComponents(patches, { discardAnswer: true })).rejects.toThrow(/Expected a JSON array in the response to PATCH \/components/);
  });

  it('bulk PATCH with discardAnswer sends identical patches of many components by id filter, the rest as a list', async () => {
    const f = await bosFake([]);
    const bos = track(new HttpBosClient(`${f.url}/v2`, opts));
    const many = ids(FILTER_PATCH_MIN + 8);
    const off = { enabled: false, status: { status_override: '', phase: '' } };
    const patches: Partial<Component>[] = [
      { id: 'y1', error: 'one' },
      ...many.map((id) => ({ id, ...off })),
      { id: 'y2', enabled: false },
      ...['y3', 'y4'].map((id) => ({ id, ...off })),
    ];
    // y3 and y4 share the patch too: a group is its every member, wherever they are in the list
    expect(await bos.patchComponents(patches, { chunkSize: FILTER_PATCH_MIN, discardAnswer: true, skipBadIds: true })).toEqual([]);
    const sharedIds = [...many, 'y3', 'y4'];
    expect(f.seen.map((s) => s.body)).toEqual([
      { patch: off, filters: { ids: sharedIds.slice(0, FILTER_PATCH_MIN).join(',') } },
      { patch: off, filters: { ids: sharedIds.slice(FILTER_PATCH_MIN).join(',') } },
      [{ id: 'y1', error: 'one' }, { id: 'y2', enabled: false }],
    ]);
    expect(f.seen.map((s) => [s.method, s.headers.prefer, s.query.skip_bad_ids])).toEqual(Array(3).fill(['PATCH', 'return=minimal', 'True']));
    // one id twice: sent as the list it is, so the later patch wins as it would
    const twice = [...patches, { id: many[0]!, error: 'later' }];
    await bos.patchComponents(twice, { discardAnswer: true });
    expect(f.seen.slice(3).map((s) => s.body)).toEqual([twice]);
  });

  it('groups patches so that every component gets exactly its own patch (property)', () => {
    const variant = fc.constantFrom<Partial<Component>>({ enabled: false }, { enabled: false, error: '' }, { error: 'x' }, { status: { phase: '' } });
    // unique ids in any order, sometimes one of them again at the end
    const list = fc
      .tuple(fc.array(variant, { maxLength: 300 }), fc.boolean(), variant)
      .chain(([vs, again, last]) => fc.shuffledSubarray(vs.map((v, i) => ({ id: `x${i}`, ...v })), { minLength: vs.length }).map((ps) => (again && ps.length > 0 ? [...ps, { ...last, id: ps[0]!.id }] : ps)));
    fc.assert(
      fc.property(list, (patches) => {
        const { shared, rest } = groupPatches(patches);
        const applied = new Map<string, string>();
        for (const g of shared) {
          expect(g.ids.length).toBeGreaterThanOrEqual(FILTER_PATCH_MIN);
          for (const id of g.ids) applied.set(id, JSON.stringify({ id, ...g.patch }));
        }
        for (const p of rest) applied.set(p.id!, JSON.stringify(p));
        const expected = new Map(patches.map((p) => [p.id!, JSON.stringify(p)]));
        expect(applied).toEqual(expected);
        expect(shared.reduce((n, g) => n + g.ids.length, 0) + rest.length).toBe(patches.length);
        if (new Set(patches.map((p) => p.id)).size < patches.length) expect(shared).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  it('bulk PATCH filter form and PUT send the documented bodies', async () => {
    const f = await bosFake([]);
    const bos = track(new HttpBosClient(`${f.url}/v2`, opts));
    await bos.patchComponentsByFilter({ enabled: false }, { session: 's1' }, { skipBadIds: true });
    await bos.putComponents([{ id: 'x1', enabled: false }]);
    expect(f.seen[0]!.body).toEqual({ patch: { enabled: false }, filters: { session: 's1' } });
    expect(f.seen[0]!.query).toEqual({ skip_bad_ids: 'True' });
    expect(f.seen[1]!.method).toBe('PUT');
    expect(f.seen[1]!.body).toEqual([{ id: 'x1', enabled: false }]);
  });

  it('sends Cray-Tenant-Name only on session and template calls with a tenant', async () => {
    const f = await fake((req) => {
      if (req.path === '/v2/sessions' && req.method === 'GET') return { body: [{ name: 's1' }] };
      if (req.path.startsWith('/v2/sessiontemplates/')) return { body: { name: 't1', boot_sets: {} } };
      if (req.method === 'DELETE') return { status: 204 };
      return { body: { name: 's1' } };
    });
    const bos = track(new HttpBosClient(`${f.url}/v2`, opts));
    await bos.patchSession('s1', 'acme', { status: { status: 'running' }, components: 'a,b' });
    await bos.patchSession('s1', null, { status: { status: 'complete', end_time: '2026-01-01T00:00:00' } });
    await bos.saveSessionStatus('s1', 'acme');
    await bos.getSessionTemplate('t1', 'acme');
    await bos.getSessionTemplate('t1', '');
    expect(await bos.listSessions({ status: 'pending' })).toEqual([{ name: 's1' }]);
    await bos.deleteSessions({ status: 'complete', min_age: '7d' });
    const tenantOf = f.seen.map((s) => `${s.method} ${s.path} ${String(s.headers['cray-tenant-name'])}`);
    expect(tenantOf).toEqual([
      'PATCH /v2/sessions/s1 acme',
      'PATCH /v2/sessions/s1 undefined',
      'POST /v2/sessions/s1/status acme',
      'GET /v2/sessiontemplates/t1 acme',
      'GET /v2/sessiontemplates/t1 undefined',
      'GET /v2/sessions undefined',
      'DELETE /v2/sessions undefined',
    ]);
    expect(f.seen[0]!.body).toEqual({ status: { status: 'running' }, components: 'a,b' });
    expect(f.seen[2]!.rawBody).toBe('');
    expect(f.seen[5]!.query).toEqual({ status: 'pending' });
    expect(f.seen[6]!.query).toEqual({ status: 'complete', min_age: '7d' });
  });

  it('reads options and rejects a non-object answer', async () => {
    let body: unknown = { polling_frequency: 5 };
    const f = await fake(() => ({ body }));
    const bos = track(new HttpBosClient(`${f.url}/v2`, opts));
    expect(await bos.getOptions()).toEqual({ polling_frequency: 5 });
    body = [1];
    const err = await failure(bos.getOptions());
    expect(err).toBeInstanceOf(ServiceError);
    expect(err.message).toBe('Expected a JSON object in the response to GET /options, got array');
  });
});

// ---------------------------------------------------------------- HSM
describe('HSM client', () => {
  it('queries components with ids in the body and the enabled filter as ["True"]', async () => {
    const f = await fake((req) => ({ body: { Components: (req.body as { ComponentIDs: string[] }).ComponentIDs.map((ID) => ({ ID })) } }));
    const hsm = track(new HttpHsmClient(`${f.url}/hsm/v2`, opts));
    expect((await hsm.queryComponents(['x1', 'x2'], { enabled: true })).map((c) => c.ID)).toEqual(['x1', 'x2']);
    await hsm.queryComponents(['x3']);
    await hsm.queryComponents(['x4'], { enabled: false });
    expect(f.seen.map((s) => [s.method, s.path, s.body])).toEqual([
      ['POST', '/hsm/v2/State/Components/Query', { ComponentIDs: ['x1', 'x2'], enabled: ['True'] }],
      ['POST', '/hsm/v2/State/Components/Query', { ComponentIDs: ['x3'] }],
      ['POST', '/hsm/v2/State/Components/Query', { ComponentIDs: ['x4'], enabled: ['False'] }],
    ]);
    expect(await hsm.queryComponents([])).toEqual([]);
    expect(f.seen.length).toBe(3);
  });

  it('a component listing without Components is an error', async () => {
    const f = await fake(() => ({ body: { Other: [] } }));
    const hsm = track(new HttpHsmClient(`${f.url}/hsm/v2`, opts));
    const err = await failure(hsm.listComponents());
    expect(err).toBeInstanceOf(ServiceError);
    expect((err as ServiceError).service).toBe('hsm');
    expect(err.message).toBe('The response to GET /State/Components has no Components list (got object)');
  });

  it('a component listing or query with an entry that has no ID string is an error naming hsm, not a shorter list', async () => {
    for (const entry of [{ ID: 7 }, { Type: 'Node' }, null, 'x1']) {
      const f = await fake(() => ({ body: { Components: [{ ID: 'x1', Type: 'Node' }, entry] } }));
      const hsm = track(new HttpHsmClient(`${f.url}/hsm/v2`, opts));
      const err = await failure(hsm.listComponents());
      expect((err as ServiceError).service).toBe('hsm');
      expect(err.message).toMatch(/^The response to GET \/State\/Components lists a component without an ID string \(entry 1: /);
      const q = await failure(hsm.queryComponents(['x1']));
      expect((q as ServiceError).service).toBe('hsm');
      expect(q.message).toMatch(/^The response to POST \/State\/Components\/Query lists a component without an ID string/);
    }
  });

  it('locked nodes: type=Node&locked=True, entries without ID ignored, no Components → none', async () => {
    let body: unknown = { Components: [{ ID: 'x1', Locked: true }, { Locked: true }, { ID: 'x2' }] };
    const f = await fake(() => ({ body }));
    const hsm = track(new HttpHsmClient(`${f.url}/hsm/v2`, opts));
    expect([...(await hsm.lockedNodes())]).toEqual(['x1', 'x2']);
    expect(f.seen[0]!.path).toBe('/hsm/v2/locks/status');
    expect(f.seen[0]!.query).toEqual({ type: 'Node', locked: 'True' });
    body = {};
    expect((await hsm.lockedNodes()).size).toBe(0);
  });

  it('groups and partitions are plain GETs', async () => {
    const f = await fake((req) => ({ body: req.path.endsWith('groups') ? [{ label: 'g', members: { ids: ['a'] } }] : [{ name: 'p', members: { ids: [] } }] }));
    const hsm = track(new HttpHsmClient(`${f.url}/hsm/v2`, opts));
    expect((await hsm.listGroups())[0]!.label).toBe('g');
    expect((await hsm.listPartitions())[0]!.name).toBe('p');
    expect(f.seen.map((s) => s.path)).toEqual(['/hsm/v2/groups', '/hsm/v2/partitions']);
  });
});

// ---------------------------------------------------------------- TAPMS
describe('tenant client', () => {
  it('unions the xnames of every tenant resource; 404 → null; empty name → empty set without a call', async () => {
    const f = await fake((req) =>
      req.path.endsWith('/acme')
        ? { body: { status: { tenantresources: [{ xnames: ['x1', 'x2'] }, { xnames: ['x2', 'x3'] }, {}] } } }
        : { status: 404, body: { message: 'not found' } },
    );
    const t = track(new HttpTenantClient(`${f.url}/apis/tapms/v1alpha3`, opts));
    expect([...(await t.tenantXnames('acme'))!].sort()).toEqual(['x1', 'x2', 'x3']);
    expect(await t.tenantXnames('nobody')).toBeNull();
    expect((await t.tenantXnames(''))!.size).toBe(0);
    expect(f.seen.map((s) => s.path)).toEqual(['/apis/tapms/v1alpha3/tenants/acme', '/apis/tapms/v1alpha3/tenants/nobody']);
  });
});

// ---------------------------------------------------------------- PCS
describe('PCS client', () => {
  it('power status: POST body, errors win over powerState, entries without xname skipped, empty → no call', async () => {
    const f = await fake(() => ({
      body: {
        status: [
          { xname: 'x1', powerState: 'On', error: '' },
          { xname: 'x2', powerState: 'off' },
          { xname: 'x3', powerState: 'undefined', error: 'BMC unreachable' },
          { powerState: 'on' },
        ],
      },
    }));
    const pcs = track(new HttpPcsClient(`${f.url}/apis/power-control/v1`, opts));
    const m = await pcs.powerStatus(['x1', 'x2', 'x3']);
    expect([...m]).toEqual([
      ['x1', 'on'],
      ['x2', 'off'],
      ['x3', 'BMC unreachable'],
    ]);
    expect(f.seen[0]!.method).toBe('POST');
    expect(f.seen[0]!.path).toBe('/apis/power-control/v1/power-status');
    expect(f.seen[0]!.body).toEqual({ xname: ['x1', 'x2', 'x3'] });
    expect((await pcs.powerStatus([])).size).toBe(0);
    expect(f.seen.length).toBe(1);
  });

  it('transitions: exact body, not retried on 5xx, empty list fails without a call', async () => {
    let status = 200;
    const f = await fake(() => (status === 200 ? { body: { transitionID: 't-1', operation: 'on' } } : { status }));
    const pcs = track(new HttpPcsClient(`${f.url}/apis/power-control/v1`, opts));
    expect(await pcs.transition('Soft-Off', ['x1', 'x2'])).toEqual({ transitionID: 't-1' });
    expect(f.seen[0]!.body).toEqual({ location: [{ xname: 'x1' }, { xname: 'x2' }], operation: 'Soft-Off', taskDeadlineMinutes: 1 });
    status = 503;
    const err = await failure(pcs.transition('On', ['x1']));
    expect((err as ServiceError).status).toBe(503);
    expect(f.seen.length).toBe(2);
    const empty = await failure(pcs.transition('Force-Off', []));
    expect(empty.message).toBe('_transition_create called with no xnames! (operation=Force-Off)');
    expect(f.seen.length).toBe(2);
  });
});

// ---------------------------------------------------------------- BSS
describe('BSS client', () => {
  it('PUT /bootparameters returns the bss-referral-token header; missing header or hosts are errors', async () => {
    let token: string | undefined = 'tok-123';
    const f = await fake(() => ({ status: 200, headers: token ? { 'BSS-Referral-Token': token } : ({} as Record<string, string>) }));
    const bss = track(new HttpBssClient(`${f.url}/boot/v1`, opts));
    expect(await bss.setBootParameters(['x1', 'x2'], 'console=ttyS0', 's3://b/k', 's3://b/i')).toBe('tok-123');
    expect(f.seen[0]!.method).toBe('PUT');
    expect(f.seen[0]!.path).toBe('/boot/v1/bootparameters');
    expect(f.seen[0]!.body).toEqual({ hosts: ['x1', 'x2'], params: 'console=ttyS0', kernel: 's3://b/k', initrd: 's3://b/i' });
    token = undefined;
    const err = await failure(bss.setBootParameters(['x1'], '', 'k', 'i'));
    expect(err.message).toBe('The response to PUT /bootparameters has no bss-referral-token header');
    const empty = await failure(bss.setBootParameters([], '', 'k', 'i'));
    expect(empty.message).toBe('set_bss called with empty node_set');
    expect(f.seen.length).toBe(2);
  });
});

// ---------------------------------------------------------------- CFS
describe('CFS client', () => {
  it('GETs ids in batches of 200 and follows next with exactly its parameters', async () => {
    const f = await fake((req) => {
      const want = req.query.ids?.split(',') ?? [];
      if (req.query.after) return { body: { components: [{ id: `page2-${req.query.after}` }], next: null } };
      return { body: { components: want.map((id) => ({ id })), next: want.length === 200 ? { ids: req.query.ids, after: want[199], limit: 200 } : null } };
    });
    const cfs = track(new HttpCfsClient(`${f.url}/v3`, opts));
    const list = ids(450);
    const got = await cfs.getComponents(list);
    expect(f.seen.filter((s) => !s.query.after).map((s) => s.query.ids!.split(',').length)).toEqual([200, 200, 50]);
    expect(f.seen.length).toBe(5);
    expect(f.seen[1]!.query).toEqual({ ids: list.slice(0, 200).join(','), after: list[199], limit: '200' });
    expect(got.length).toBe(452);
    expect(CFS_GET_BATCH).toBe(200);
    expect(await cfs.getComponents([])).toEqual([]);
    expect(f.seen.length).toBe(5);
  });

  it('GET without ids asks for everything and follows next', async () => {
    const f = await fake((req) =>
      req.query.page === '2' ? { body: { components: [{ id: 'b' }] } } : { body: { components: [{ id: 'a' }], next: { page: 2 } } },
    );
    const cfs = track(new HttpCfsClient(`${f.url}/v3`, opts));
    expect((await cfs.getComponents()).map((c) => c.id)).toEqual(['a', 'b']);
    expect(f.seen.map((s) => s.query)).toEqual([{}, { page: '2' }]);
  });

  it('asks for each next page once, as its text arrives, also when next is not at the end of the text', async () => {
    // 2,500 components in pages of 1,000 (limit/after, as CFS pages); `nextFirst` writes next before the components
    const all = ids(2500);
    const answer = (nextFirst: boolean) => (req: { query: Record<string, string | undefined> }) => {
      const from = req.query.after ? all.indexOf(req.query.after) + 1 : 0;
      const components = all.slice(from, from + 1000).map((id) => ({ id, tags: { note: 'a "next": {} inside a string' } }));
      const next = from + 1000 < all.length ? { limit: 1000, after: all[from + 999] } : null;
      return { body: nextFirst ? { next, components } : { components, next } };
    };
    for (const nextFirst of [false, true]) {
      const f = await fake(answer(nextFirst));
      const cfs = track(new HttpCfsClient(`${f.url}/v3`, opts));
      expect((await cfs.getComponents()).map((c) => c.id)).toEqual(all);
      expect(f.seen.map((s) => s.query)).toEqual([{}, { limit: '1000', after: all[999] }, { limit: '1000', after: all[1999] }]);
      const sizes: number[] = [];
      for await (const page of cfs.componentPages()) sizes.push(page.length);
      expect(sizes).toEqual([1000, 1000, 500]);
      expect(f.seen).toHaveLength(6);
    }
  });

  it('reads the next object off the end of a page text, or nothing', () => {
    expect(trailingNext('{"components":[{"id":"a"}],"next":{"limit":1000,"after":"a"}}')).toEqual({ limit: 1000, after: 'a' });
    expect(trailingNext('{"components": [], "next": {"after": "x1"}}\n')).toEqual({ after: 'x1' });
    for (const text of ['{"components":[],"next":null}', '{"components":[]}', '{"next":{"a":1},"components":[{"id":"x","t":"\\"next\\":{}"}]}', 'not json', '']) {
      expect(trailingNext(text)).toBeUndefined();
    }
    const jsonObject = fc.dictionary(fc.string(), fc.oneof(fc.string(), fc.integer(), fc.boolean()));
    fc.assert(
      fc.property(fc.array(jsonObject, { maxLength: 5 }), fc.option(jsonObject, { nil: null }), (components, next) => {
        const text = JSON.stringify({ components, next });
        const got = trailingNext(text);
        if (next === null || JSON.stringify(next).length > 4000) expect(got).toBeUndefined();
        else expect(got).toEqual(next);
      }),
    );
  });

  it('stops instead of looping when next repeats', async () => {
    const f = await fake(() => ({ body: { components: [], next: { page: 2 } } }));
    const cfs = track(new HttpCfsClient(`${f.url}/v3`, opts));
    const err = await failure(cfs.getComponents());
    expect(err.message).toBe('Paging repeated the same next page {"page":2}');
    expect(f.seen.length).toBe(2);
  });

  it('PATCHes desired config in batches of 1000 ids with the exact body', async () => {
    const f = await fake(() => ({ body: [] }));
    const cfs = track(new HttpCfsClient(`${f.url}/v3`, opts));
    const list = ids(2500);
    await cfs.setDesiredConfig(list, 'cfg-1', { enabled: false, session: 's1', clearState: true });
    expect(f.seen.map((s) => (s.body as { filters: { ids: string } }).filters.ids.split(',').length)).toEqual([1000, 1000, 500]);
    expect(f.seen[2]!.body).toEqual({
      patch: { enabled: false, desired_config: 'cfg-1', tags: { bos_session: 's1' }, state: [] },
      filters: { ids: list.slice(2000).join(',') },
    });
    await cfs.setDesiredConfig(['x1'], 'cfg-2', { enabled: true, session: 's2' });
    expect(f.seen[3]!.method).toBe('PATCH');
    expect(f.seen[3]!.path).toBe('/v3/components');
    expect(f.seen[3]!.body).toEqual({ patch: { enabled: true, desired_config: 'cfg-2', tags: { bos_session: 's2' } }, filters: { ids: 'x1' } });
    await cfs.setDesiredConfig([], 'cfg', { enabled: true });
    expect(f.seen.length).toBe(4);
    expect(CFS_PATCH_BATCH).toBe(1000);
  });
});

// ---------------------------------------------------------------- IMS
describe('IMS client', () => {
  it('tags an image with a metadata PATCH; a 404 becomes ImageNotFound', async () => {
    const f = await fake((req) => (req.path.endsWith('/missing') ? { status: 404, body: { detail: 'nope' } } : { body: { id: 'img-1' } }));
    const ims = track(new HttpImsClient(`${f.url}/v3`, opts));
    await ims.tagImage('img-1', 'sbps-project', 'true');
    await ims.tagImage('img-1', 'sbps-project', undefined, 'remove');
    expect(f.seen.map((s) => [s.method, s.path, s.body])).toEqual([
      ['PATCH', '/v3/images/img-1', { metadata: { operation: 'set', key: 'sbps-project', value: 'true' } }],
      ['PATCH', '/v3/images/img-1', { metadata: { operation: 'remove', key: 'sbps-project' } }],
    ]);
    const err = await failure(ims.tagImage('missing', 'k', 'v'));
    expect(err).toBeInstanceOf(ImageNotFound);
    expect(err.message).toBe("IMS image id 'missing' does not exist in IMS");
    expect(describeError(err)).toBe("ImageNotFound: IMS image id 'missing' does not exist in IMS");
    const err2 = await failure(ims.getImage('missing'));
    expect(err2).toBeInstanceOf(ImageNotFound);
    expect((await ims.getImage('img-1')).id).toBe('img-1');
  });
});

// ---------------------------------------------------------------- createServices
describe('createServices', () => {
  it('lays every service out under the gateway root', () => {
    const u = gatewayUrls('http://127.0.0.1:9/');
    expect(u).toEqual({
      bosUrl: 'http://127.0.0.1:9/apis/bos/v2',
      hsmUrl: 'http://127.0.0.1:9/apis/smd/hsm/v2',
      pcsUrl: 'http://127.0.0.1:9/apis/power-control/v1',
      bssUrl: 'http://127.0.0.1:9/apis/bss/boot/v1',
      cfsUrl: 'http://127.0.0.1:9/apis/cfs/v3',
      imsUrl: 'http://127.0.0.1:9/apis/ims/v3',
      tenantsUrl: 'http://127.0.0.1:9/apis/tapms/v1alpha3',
      s3: { endpoint: 'http://127.0.0.1:9', anonymous: true },
    });
  });

  it('IMS retries follow ims_errors_fatal (4 or 8) and read timeouts follow the live options', async () => {
    const f = await fake((req) => (req.path.startsWith('/apis/ims') ? { status: 503 } : { delayMs: 300, body: { Components: [] } }));
    let options: Options = { ...OPTION_DEFAULTS };
    const calls: string[] = [];
    const services = createServices({
      ...gatewayUrls(f.url),
      options: () => options,
      retry: { backoffFactorMs: 1, maxBackoffMs: 2 },
      onRequest: (s, m, o) => calls.push(`${s} ${m} ${o}`),
      bootArtifacts: { put: async () => undefined, get: async () => undefined },
    });
    cleanups.push(() => services.close());
    await failure(services.ims.getImage('i1'));
    expect(f.seen.length).toBe(5);
    options = { ...options, ims_errors_fatal: true };
    await failure(services.ims.getImage('i1'));
    expect(f.seen.length).toBe(5 + 9);
    expect(calls.filter((c) => c === 'ims GET 503').length).toBe(14);

    // The HSM read timeout is in seconds; a fraction shows it is read at every request.
    options = { ...options, hsm_read_timeout: 0.05 };
    const before = f.seen.length;
    const err = await failure(services.hsm.queryComponents(['x1']));
    expect(err.message).toBe('Read timed out after 0.05 s waiting for POST /State/Components/Query');
    expect(f.seen.length).toBe(before + 1);
    options = { ...options, hsm_read_timeout: 20 };
    expect(await services.hsm.queryComponents(['x1'])).toEqual([]);
  });

  it('requestsAtOnce bounds the requests in flight across every client', async () => {
    let inFlight = 0;
    let most = 0;
    const f = await fake(async () => {
      most = Math.max(most, ++inFlight);
      await new Promise((r) => setTimeout(r, 20));
      inFlight--;
      return { body: { Components: [], components: [] } };
    });
    const make = (requestsAtOnce?: number) => {
      const services = createServices({
        ...gatewayUrls(f.url),
        options: () => OPTION_DEFAULTS,
        requestsAtOnce,
        bootArtifacts: { put: async () => undefined, get: async () => undefined },
      });
      cleanups.push(() => services.close());
      return services;
    };
    const burst = (s: ReturnType<typeof make>) => Promise.all([1, 2, 3].flatMap(() => [s.hsm.queryComponents(['x1']), s.hsm.queryComponents(['x2'])]));
    await burst(make(1));
    expect(most).toBe(1);
    most = 0;
    await burst(make());
    expect(most).toBeGreaterThan(1);
  });
});
