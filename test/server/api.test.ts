/**
 * Contract tests of the BOS v2 API over real HTTP on loopback, run against the memory store and
 * against Redis (a real redis-server started by the test). Every response is checked against the
 * OpenAPI document by the helper.
 */
import { spawnSync } from 'node:child_process';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/common/clock.js';
import type { Component, Session } from '../../src/common/types.js';
import { DESIRED_VIEW_MEDIA_TYPE, STATUS_VIEW_MEDIA_TYPE, statusView, type StatusView } from '../../src/common/status-view.js';
import { startServer, type RunningServer } from '../../src/server/app.js';
import { MemoryStore } from '../../src/server/store/memory.js';
import { RedisStore } from '../../src/server/store/redis/index.js';
import type { Store } from '../../src/server/store/store.js';
import { addBootImage, Api, FakeIms, FakeS3, FakeTenants } from '../helpers/api.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

const START = Date.UTC(2026, 0, 1, 12, 0, 0);
const STAMP = '2026-01-01T12:00:00';

interface Backend {
  name: string;
  setup(): Promise<void>;
  open(): Promise<Store>;
  teardown(): Promise<void>;
}

const redisInstalled = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;

let redis: TestRedis | undefined;
const backends: Backend[] = [
  { name: 'memory', setup: async () => {}, open: async () => new MemoryStore(), teardown: async () => {} },
];
if (redisInstalled) {
  backends.push({
    name: 'redis',
    setup: async () => {
      redis = await startRedis();
    },
    open: async () => {
      const r = new Redis(redis!.url);
      await r.flushall();
      r.disconnect();
      return RedisStore.connect({ url: redis!.url });
    },
    teardown: async () => {
      await redis?.stop();
    },
  });
}

it('runs the Redis variant whenever redis-server is installed', () => {
  expect(backends.map((b) => b.name)).toEqual(redisInstalled ? ['memory', 'redis'] : ['memory']);
});

describe.each(backends)('BOS v2 API on the $name store', (backend) => {
  let store: Store;
  let srv: RunningServer;
  let api: Api;
  let clock: FakeClock;
  let s3: FakeS3;
  let ims: FakeIms;
  const tenants = new FakeTenants({ acme: ['x1', 'x2'], beta: ['x3'] });
  const extra: RunningServer[] = [];

  beforeAll(() => backend.setup());
  afterAll(() => backend.teardown());

  beforeEach(async () => {
    store = await backend.open();
    clock = new FakeClock(START);
    s3 = new FakeS3();
    ims = new FakeIms();
    srv = await startServer({ store, clock, tenants, s3, ims, logger: false });
    api = new Api(srv.url);
  });
  afterEach(async () => {
    for (const e of extra.splice(0)) await e.close();
    await srv.close();
    await store.close();
  });

  const putComponents = (records: Partial<Component>[]) => api.put('/v2/components', records);
  const stored = async (id: string) => store.components.get(id);

  async function makeTemplate(name = 't1', opts: { tenant?: string; nodes?: string[] } = {}) {
    const path = addBootImage(s3, ims, 'img1');
    const res = await api.put(
      `/v2/sessiontemplates/${name}`,
      { boot_sets: { compute: { path, type: 's3', node_list: opts.nodes ?? ['x1', 'x2'] } } },
      { tenant: opts.tenant },
    );
    expect(res.status).toBe(200);
    return res.body;
  }

  // ------------------------------------------------------------------ version, health, prefixes
  describe('version and health', () => {
    it('serves the root, /v2, /v2/version and healthz', async () => {
      const root = await api.get('/');
      expect(root.status).toBe(200);
      expect(root.body).toEqual([{ major: '2', minor: '50', patch: '0', links: [{ href: `${srv.url}/`, rel: 'self' }] }]);
      for (const p of ['/v2', '/v2/version']) {
        const v = await api.get(p);
        expect(v.body.links).toEqual([
          { href: `${srv.url}/`, rel: 'self' },
          { href: `${srv.url}/v2`, rel: 'versions' },
        ]);
      }
      expect((await api.get('/v2/healthz')).body).toEqual({ dbStatus: 'ok', apiStatus: 'ok' });
    });

    it('prefixes version links with PROXY_PATH behind a proxy, and answers OPTIONS with the methods allowed', async () => {
      process.env.PROXY_PATH = '/apis/bos';
      try {
        const direct = await api.get('/v2');
        expect(direct.body.links[0].href).toBe(`${srv.url}/`);
        const proxied = await api.get('/v2', { headers: { 'X-Forwarded-For': '10.0.0.1' } });
        expect(proxied.body.links).toEqual([
          { href: `${srv.url}/apis/bos/`, rel: 'self' },
          { href: `${srv.url}/apis/bos/v2`, rel: 'versions' },
        ]);
      } finally {
        delete process.env.PROXY_PATH;
      }
      const res = await fetch(`${srv.url}/v2/components/x1`, { method: 'OPTIONS' });
      expect(res.status).toBe(200);
      expect(res.headers.get('allow')).toBe('GET, PUT, PATCH, DELETE, HEAD, OPTIONS');
    });

    it('serves the same API under every prefix', async () => {
      const s = await startServer({ store, clock, logger: false, prefixes: ['', '/apis/bos'] });
      extra.push(s);
      const a = new Api(s.url);
      const v = await a.get('/apis/bos/v2/version');
      expect(v.body.links[1]).toEqual({ href: `${s.url}/apis/bos/v2`, rel: 'versions' });
      await a.put('/apis/bos/v2/components/x9', { enabled: false });
      expect((await a.get('/v2/components/x9')).body.id).toBe('x9');
      expect((await a.get('/apis/bos/')).status).toBe(200);
    });
  });

  // ------------------------------------------------------------------ components
  describe('components', () => {
    it('sets the automatic fields on PUT (bulk), last duplicate winning', async () => {
      const res = await putComponents([
        { id: 'x1', enabled: false },
        { id: 'x2', enabled: true, desired_state: { configuration: 'c' }, session: 's', event_stats: { power_on_attempts: 5 } },
        { id: 'x3', actual_state: { bss_token: 'unknown' }, staged_state: {}, last_action: { action: 'powering_on' } },
        { id: 'x1', enabled: true, desired_state: {} },
      ]);
      expect(res.status).toBe(200);
      expect(res.body.map((c: Component) => c.id)).toEqual(['x1', 'x2', 'x3']);
      const [x1, x2, x3] = res.body as Component[];
      expect(x1).toEqual({
        id: 'x1',
        enabled: true,
        desired_state: { last_updated: STAMP },
        status: { status_override: 'on_hold' },
        session: '',
      });
      expect(x2!.session).toBe('s');
      expect(x2!.event_stats).toEqual({ power_on_attempts: 0, power_off_graceful_attempts: 0, power_off_forceful_attempts: 0 });
      expect(x3!.actual_state).toEqual({ bss_token: 'unknown' });
      expect(x3!.staged_state).toEqual({ last_updated: STAMP });
      expect(x3!.last_action).toEqual({ action: 'powering_on', last_updated: STAMP });
      expect(await stored('x1')).toEqual(x1);
      expect(await store.components.count()).toBe(3);
    });

    it('resolves a BSS token to boot artifacts, keeps the timestamp in storage and strips it from GETs', async () => {
      const rec = { kernel: 'k', kernel_parameters: 'p', initrd: 'i', timestamp: '2025-12-31T00:00:00' };
      await store.bootArtifacts.put('tok', rec);
      await putComponents([{ id: 'x1', enabled: false }]);
      const res = await api.patch('/v2/components/x1', { id: 'x1', actual_state: { bss_token: 'tok' } });
      expect(res.status).toBe(200);
      expect(res.body.actual_state).toEqual({ bss_token: 'tok', boot_artifacts: rec, last_updated: STAMP });
      expect((await stored('x1'))!.actual_state!.boot_artifacts).toEqual(rec);
      const one = await api.get('/v2/components/x1');
      expect(one.body.actual_state.boot_artifacts).toEqual({ kernel: 'k', kernel_parameters: 'p', initrd: 'i' });
      const list = await api.get('/v2/components');
      expect(list.body[0].actual_state.boot_artifacts.timestamp).toBeUndefined();
      expect(list.body[0].status).toEqual({ phase: '', status_override: '', status: 'stable' });
      // listing shows the record without changing what is stored
      const after = (await stored('x1'))!;
      expect(after.actual_state!.boot_artifacts!.timestamp).toBe(rec.timestamp);
      expect(after.status).toBeUndefined();
    });

    it('merges a PATCH into the stored record without deleting anything', async () => {
      await putComponents([
        {
          id: 'x1',
          enabled: false,
          desired_state: { boot_artifacts: { kernel: 'k0', initrd: 'i0', kernel_parameters: 'p0' }, configuration: 'c0' },
          status: { phase: 'powering_on', status_override: '' },
          error: 'old',
          session: 's1',
        },
      ]);
      const res = await api.patch('/v2/components/x1', { desired_state: { boot_artifacts: { kernel: 'k1' } }, enabled: true, session: 's2' });
      expect(res.status).toBe(200);
      const r = res.body as Component;
      expect(r.desired_state!.boot_artifacts).toEqual({ kernel: 'k1', initrd: 'i0', kernel_parameters: 'p0' });
      expect(r.desired_state!.configuration).toBe('c0');
      expect(r.status).toEqual({ phase: 'powering_on', status_override: 'on_hold' });
      expect(r.error).toBe('old');
      expect(r.session).toBe('s2');
      expect(r.event_stats).toEqual({ power_on_attempts: 0, power_off_graceful_attempts: 0, power_off_forceful_attempts: 0 });
      expect(r.status!.status).toBeUndefined();
      expect(await stored('x1')).toEqual(r);
    });

    it('refuses an actual_state PATCH with 409 while BOS is changing the node, and allows it otherwise', async () => {
      await putComponents([
        { id: 'busy', enabled: true, status: { phase: 'powering_off' }, last_action: { action: 'powering_off_gracefully' } },
        { id: 'off', enabled: false, status: { phase: 'powering_off' } },
        { id: 'poweron', enabled: true, last_action: { action: 'powering_on' } },
      ]);
      // enabled: true put status_override on_hold; make 'stable' explicitly
      await api.patch('/v2/components/poweron', { status: { status_override: '', phase: 'powering_on' } });
      const before = await stored('busy');
      const c = await api.patch('/v2/components/busy', { actual_state: { bss_token: 'x' } });
      expect(c.status).toBe(409);
      expect(c.body.title).toBe('Actual state can not be updated.');
      expect(await stored('busy')).toEqual(before);
      expect((await api.patch('/v2/components/busy', { error: 'e' })).status).toBe(200);
      expect((await api.patch('/v2/components/off', { actual_state: { bss_token: 'x' } })).status).toBe(200);
      expect((await api.patch('/v2/components/poweron', { actual_state: { bss_token: 'x' } })).status).toBe(200);
      await putComponents([{ id: 'stable1', enabled: true }]);
      await api.patch('/v2/components/stable1', { status: { status_override: '' } });
      expect((await api.patch('/v2/components/stable1', { actual_state: {} })).status).toBe(200);
      // bulk PATCH never applies the rule
      const bulk = await api.patch('/v2/components', [{ id: 'busy', actual_state: { bss_token: 'y' } }]);
      expect(bulk.status).toBe(200);
      expect(bulk.body[0].actual_state.bss_token).toBe('y');
    });

    it('component writes with Prefer: return=minimal answer 204 without a body and still write (RFC 7240 extension)', async () => {
      await putComponents([{ id: 'm1', enabled: false }, { id: 'm2', enabled: false }]);
      // Not in the OpenAPI document (an extension), so sent without the contract-checking helper.
      const send = async (method: string, path: string, body: unknown, prefer?: string) => {
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        if (prefer !== undefined) headers.prefer = prefer;
        const res = await fetch(api.url + path, { method, headers, body: JSON.stringify(body) });
        return { status: res.status, applied: res.headers.get('preference-applied'), text: await res.text() };
      };
      const cases: [string, string, unknown, string][] = [
        ['PATCH', '/v2/components', [{ id: 'm1', error: 'bulk' }], 'bulk'],
        ['PATCH', '/v2/components', { patch: { error: 'filter' }, filters: { ids: 'm1' } }, 'filter'],
        ['PATCH', '/v2/components/m1', { error: 'one' }, 'one'],
        ['PUT', '/v2/components/m1', { enabled: false, error: 'put-one' }, 'put-one'],
        ['PUT', '/v2/components', [{ id: 'm1', enabled: false, error: 'put-bulk' }], 'put-bulk'],
      ];
      for (const [method, path, body, error] of cases) {
        const res = await send(method, path, body, 'handling=lenient, return=minimal');
        expect([method, path, res.status, res.applied, res.text]).toEqual([method, path, 204, 'return=minimal', '']);
        expect((await stored('m1'))!.error).toBe(error);
      }
      // Without the preference (or with return=representation) the written records come back.
      const full = await send('PATCH', '/v2/components', [{ id: 'm2', error: 'full' }], 'return=representation');
      expect(full.status).toBe(200);
      expect(full.applied).toBeNull();
      expect(JSON.parse(full.text).map((c: Component) => [c.id, c.error])).toEqual([['m2', 'full']]);
      // A refused write is refused the same way whatever the preference.
      const refused = await send('PATCH', '/v2/components', [{ id: 'nope', error: 'x' }], 'return=minimal');
      expect(refused.status).toBe(404);
      expect(JSON.parse(refused.text).detail).toBe("Component 'nope' does not exist");
    });

    it('bulk component writes asked for with Accept: application/vnd.bos.ids+json answer the ids written (extension)', async () => {
      await putComponents([{ id: 'i1', enabled: false }, { id: 'i2', enabled: false }, { id: 'i3', enabled: false }]);
      const send = async (method: string, path: string, body: unknown, accept: string) => {
        const res = await fetch(api.url + path, { method, headers: { 'content-type': 'application/json', accept }, body: JSON.stringify(body) });
        return { status: res.status, type: res.headers.get('content-type'), body: JSON.parse(await res.text()) as unknown };
      };
      const ask = 'application/vnd.bos.ids+json, application/json;q=0.9';
      const cases: [string, string, unknown, string[]][] = [
        ['PATCH', '/v2/components?skip_bad_ids=true', [{ id: 'i3', error: 'a' }, { id: 'nope', error: 'a' }, { id: 'i1', error: 'a' }], ['i3', 'i1']],
        ['PATCH', '/v2/components?skip_bad_ids=true', { patch: { error: 'b' }, filters: { ids: 'i2,nope,i1' } }, ['i2', 'i1']],
        ['PUT', '/v2/components', [{ id: 'i4', enabled: false, error: 'c' }], ['i4']],
      ];
      for (const [method, path, body, written] of cases) {
        const res = await send(method, path, body, ask);
        expect([method, res.status, res.type, res.body]).toEqual([method, 200, 'application/vnd.bos.ids+json', written]);
      }
      expect((await stored('i1'))!.error).toBe('b');
      expect((await stored('i4'))!.error).toBe('c');
      // Asked for at q=0, or not at all: the records, as upstream answers.
      for (const accept of ['application/vnd.bos.ids+json;q=0, application/json', 'application/json']) {
        const res = await send('PATCH', '/v2/components', [{ id: 'i2', error: 'd' }], accept);
        expect(res.type).toMatch(/^application\/json/);
        expect((res.body as Component[]).map((c) => [c.id, c.error])).toEqual([['i2', 'd']]);
      }
    });

    it('bulk PATCH, list form: 404 on the first unknown id (store unchanged), skip_bad_ids drops them', async () => {
      await putComponents([{ id: 'x1', enabled: false }, { id: 'x2', enabled: false }]);
      const miss = await api.patch('/v2/components', [
        { id: 'x1', error: 'a' },
        { id: 'nope1', error: 'a' },
        { id: 'nope2', error: 'a' },
      ]);
      expect(miss.status).toBe(404);
      expect(miss.body.detail).toBe("Component 'nope1' does not exist");
      expect((await stored('x1'))!.error).toBeUndefined();
      const ok = await api.patch('/v2/components?skip_bad_ids=true', [
        { id: 'x2', error: 'first' },
        { id: 'nope1', error: 'a' },
        { id: 'x1', error: 'b', retry_policy: 2 },
        { id: 'x2', error: 'second' },
      ]);
      expect(ok.status).toBe(200);
      expect(ok.body.map((c: Component) => [c.id, c.error])).toEqual([
        ['x2', 'second'],
        ['x1', 'b'],
      ]);
      expect((await stored('x1'))!.retry_policy).toBe(2);
      expect((await api.patch('/v2/components?skip_bad_ids=true', [{ id: 'nope', error: 'x' }])).body).toEqual([]);
    });

    it('bulk PATCH, filter form by ids and by session (the session form persists the computed status)', async () => {
      await putComponents([
        { id: 'x1', session: 's1', status: { phase: 'configuring' } },
        { id: 'x2', session: 's1' },
        { id: 'x3', session: 's2' },
      ]);
      const byIds = await api.patch('/v2/components', { patch: { id: 'ignored', error: 'e1' }, filters: { ids: 'x1,x3' } });
      expect(byIds.status).toBe(200);
      expect(byIds.body.map((c: Component) => c.id)).toEqual(['x1', 'x3']);
      expect((await stored('x2'))!.error).toBeUndefined();
      expect(await stored('ignored')).toBeUndefined();
      const bySession = await api.patch('/v2/components', { patch: { retry_policy: 7 }, filters: { session: 's1', ids: '' } });
      expect(bySession.body.map((c: Component) => c.id).sort()).toEqual(['x1', 'x2']);
      expect((await stored('x1'))!.status).toEqual({ phase: 'configuring', status: 'configuring' });
      expect((await stored('x2'))!.retry_policy).toBe(7);
      expect((await stored('x3'))!.retry_policy).toBeUndefined();
      const missing = await api.patch('/v2/components', { patch: { error: 'z' }, filters: { ids: 'x1,zz' } });
      expect(missing.status).toBe(404);
      expect((await stored('x1'))!.error).toBe('e1');
      const none = await api.patch('/v2/components', { patch: { error: 'z' }, filters: { session: 'nobody' } });
      expect(none.body).toEqual([]);
      for (const filters of [{ ids: 'x1', session: 's1' }, {}, { ids: null, session: null }]) {
        const bad = await api.patch('/v2/components', { patch: { error: 'z' }, filters });
        expect(bad.status).toBe(400);
      }
      expect((await api.patch('/v2/components', { patch: { error: 'z' } })).body.detail).toBe("'filters' is a required property");
      expect((await stored('x1'))!.error).toBe('e1');
    });

    it('lists status views when asked for them (extension): what the status decision reads, the facts instead of the boot artifacts, its own tag', async () => {
      const ba = (kernel: string, params: string) => ({ kernel, initrd: 's3://b/initrd', kernel_parameters: params });
      await putComponents([
        { id: 'a', enabled: true, desired_state: { boot_artifacts: ba('s3://b/k1', 'p spire_join_token=1'), configuration: 'cfg', bss_token: 't' }, actual_state: { boot_artifacts: ba('s3://b/k1', 'p spire_join_token=2'), bss_token: 't' }, last_action: { action: 'powering_on', failed: false } },
        { id: 'b', enabled: true, desired_state: { boot_artifacts: ba('s3://b/k2', 'p'), configuration: '' }, actual_state: { boot_artifacts: ba('s3://b/k1', 'p') }, staged_state: { boot_artifacts: ba('s3://b/k3', 'q'), session: 's' } },
        { id: 'c', enabled: true, desired_state: { boot_artifacts: { kernel: '', initrd: '', kernel_parameters: '' } }, status: { phase: 'powering_off', status_override: '' } },
        { id: 'd', enabled: true },
      ]);
      const get = async (accept?: string, ifNoneMatch?: string) => {
        const headers: Record<string, string> = {};
        if (accept) headers.accept = accept;
        if (ifNoneMatch) headers['if-none-match'] = ifNoneMatch;
        const res = await fetch(`${api.url}/v2/components?enabled=true`, { headers });
        return { status: res.status, type: res.headers.get('content-type'), tag: res.headers.get('etag'), vary: res.headers.get('vary'), text: await res.text() };
      };
      const full = await get();
      const asked = `${STATUS_VIEW_MEDIA_TYPE}, application/json;q=0.9`;
      const view = await get(asked);
      expect(view.status).toBe(200);
      expect(view.type).toContain(STATUS_VIEW_MEDIA_TYPE);
      expect(full.type).toContain('application/json');
      expect([full.vary, view.vary]).toEqual(['Accept', 'Accept']);
      const records = JSON.parse(full.text) as Component[];
      const views = JSON.parse(view.text) as StatusView[];
      // Exactly the full record's view: small fields as they are, the facts from the artifacts.
      expect(views).toEqual(records.map(statusView));
      expect(views.map((v) => v.status_facts)).toEqual([
        { boot_off: false, artifacts_match: true },
        { boot_off: false, artifacts_match: false },
        { boot_off: true, artifacts_match: false },
        { boot_off: true, artifacts_match: true },
      ]);
      for (const v of views) {
        expect(JSON.stringify(v)).not.toContain('boot_artifacts');
        expect(v.staged_state).toBeUndefined();
        expect(v.actual_state).toBeUndefined();
        expect(v.status?.status).toBe(records.find((r) => r.id === v.id)!.status!.status);
      }
      // Only what the decision reads or what tells a changed component.
      const a = records[0]!;
      expect(views[0]).toEqual({
        id: 'a',
        enabled: true,
        session: a.session,
        error: a.error,
        last_action: a.last_action,
        status: a.status,
        desired_state: { configuration: 'cfg' },
        status_facts: { boot_off: false, artifacts_match: true },
      });
      expect(views[3]!.desired_state).toBeUndefined();
      // One tag per representation: each answers 304 only to its own.
      expect(view.tag).not.toBe(full.tag);
      expect((await get(asked, view.tag!)).status).toBe(304);
      expect((await get(undefined, view.tag!)).status).toBe(200);
      expect((await get(asked, full.tag!)).status).toBe(200);
      // Not asked for (or refused with q=0): full records.
      expect((await get(`${STATUS_VIEW_MEDIA_TYPE};q=0, application/json`)).text).toBe(full.text);
      expect((await get('application/json')).text).toBe(full.text);
    });

    it('lists desired views when asked for them (extension): each full record without its actual and staged states, its own tag', async () => {
      const ba = (kernel: string) => ({ kernel, initrd: 's3://b/initrd', kernel_parameters: 'p q' });
      await putComponents([
        { id: 'a', enabled: true, desired_state: { boot_artifacts: ba('s3://b/k1'), configuration: 'cfg', bss_token: 't' }, actual_state: { boot_artifacts: ba('s3://b/k0'), bss_token: 't0' }, staged_state: { boot_artifacts: ba('s3://b/k3'), session: 's' }, event_stats: { power_on_attempts: 2 }, retry_policy: 4 },
        { id: 'b', enabled: true, status: { phase: 'powering_on', status_override: '' }, actual_state: { bss_token: 'x' } },
        { id: 'c', enabled: true },
      ]);
      const get = async (path: string, accept?: string, ifNoneMatch?: string) => {
        const headers: Record<string, string> = {};
        if (accept) headers.accept = accept;
        if (ifNoneMatch) headers['if-none-match'] = ifNoneMatch;
        const res = await fetch(`${api.url}${path}`, { headers });
        return { status: res.status, type: res.headers.get('content-type'), tag: res.headers.get('etag'), text: await res.text() };
      };
      const asked = `${DESIRED_VIEW_MEDIA_TYPE}, application/json;q=0.9`;
      for (const path of ['/v2/components?enabled=true', '/v2/components?ids=c,a', '/v2/components?enabled=true&page_size=2&start_after_id=a']) {
        const full = await get(path);
        const view = await get(path, asked);
        expect(view.status).toBe(200);
        expect(view.type).toContain(DESIRED_VIEW_MEDIA_TYPE);
        // Exactly the full record's JSON without those two fields, keys in the same order.
        const records = JSON.parse(full.text) as Record<string, unknown>[];
        const without = records.map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => k !== 'actual_state' && k !== 'staged_state')));
        expect(view.text).toBe(JSON.stringify(without) + '\n');
        expect(view.tag).not.toBe(full.tag);
        expect((await get(path, asked, view.tag!)).status).toBe(304);
        expect((await get(path, undefined, view.tag!)).status).toBe(200);
        expect((await get(path, `${DESIRED_VIEW_MEDIA_TYPE};q=0, application/json`)).text).toBe(full.text);
      }
      const [a] = JSON.parse((await get('/v2/components?ids=a', asked)).text) as Component[];
      expect(a!.desired_state).toMatchObject({ boot_artifacts: ba('s3://b/k1'), configuration: 'cfg', bss_token: 't' });
      // What power-on reads besides: attempts (reset by the new desired state), retry policy, status.
      expect([a!.event_stats?.power_on_attempts, a!.retry_policy, a!.status?.status]).toEqual([0, 4, expect.any(String)]);
      // Asked for both views, the status view wins (the status operator's ask).
      expect((await get('/v2/components?ids=a', `${STATUS_VIEW_MEDIA_TYPE}, ${DESIRED_VIEW_MEDIA_TYPE}`)).type).toContain(STATUS_VIEW_MEDIA_TYPE);
    });

    it('tags listings (ETag) and answers 304 to If-None-Match until a record of the listing changes, anywhere (extension)', async () => {
      await putComponents(['a', 'c', 'e', 'g'].map((id) => ({ id, enabled: true, error: '' })));
      // 304 is not in the OpenAPI document (an extension), so sent without the contract-checking helper.
      const get = async (path: string, ifNoneMatch?: string) => {
        const res = await fetch(api.url + path, { headers: ifNoneMatch === undefined ? {} : { 'if-none-match': ifNoneMatch } });
        return { status: res.status, tag: res.headers.get('etag'), text: await res.text() };
      };
      const page = '/v2/components?enabled=true&page_size=2';
      const first = await get(page);
      expect(first.status).toBe(200);
      expect(first.tag).toMatch(/^"[^"]+"$/);
      expect(JSON.parse(first.text).map((c: Component) => c.id)).toEqual(['a', 'c']);
      const again = async () => get(page, first.tag!);
      expect(await again()).toEqual({ status: 304, tag: first.tag, text: '' });
      // weak form and lists of tags; a tag of another listing does not match
      expect((await get(page, `"x", W/${first.tag}`)).status).toBe(304);
      expect((await get(page, '*')).status).toBe(304);
      const second = await get(`${page}&start_after_id=c`);
      expect(second.tag).not.toBe(first.tag);
      expect((await get(page, second.tag!)).status).toBe(200);
      // the same records by id: the same answer, so the same tag
      expect((await get('/v2/components?ids=c,a', first.tag!)).status).toBe(304);
      // changes outside the page leave it unchanged
      await api.patch('/v2/components/e', { error: 'outside' });
      await putComponents([{ id: 'f', enabled: true }]);
      expect((await again()).status).toBe(304);
      // a write to a record on it, even of the same value, a new record within it, a record leaving it: 200 with the page as it is now
      const changes: [string, () => Promise<unknown>, string[]][] = [
        ['write', () => api.patch('/v2/components/c', { error: '' }), ['a', 'c']],
        ['create', () => putComponents([{ id: 'b', enabled: true }]), ['a', 'b']],
        ['disable', () => api.patch('/v2/components', [{ id: 'b', enabled: false }]), ['a', 'c']],
        ['delete', () => api.delete('/v2/components/a'), ['c', 'e']],
      ];
      let tag = first.tag!;
      for (const [what, change, ids] of changes) {
        await change();
        const now = await get(page, tag);
        expect([what, now.status], what).toEqual([what, 200]);
        expect(JSON.parse(now.text).map((c: Component) => c.id), what).toEqual(ids);
        expect(now.tag, what).not.toBe(tag);
        tag = now.tag!;
        expect((await get(page, tag)).status, what).toBe(304);
      }
      if (backend.name === 'redis') {
        // A write by another API process (another store on the same Redis) changes the tag too.
        const other = await RedisStore.connect({ url: redis!.url });
        try {
          const rec = (await other.components.get('c'))!;
          await other.components.putMany([{ ...rec, error: 'elsewhere' }]);
        } finally {
          await other.close();
        }
        const now = await get(page, tag);
        expect(now.status).toBe(200);
        expect(JSON.parse(now.text)[0]).toMatchObject({ id: 'c', error: 'elsewhere' });
      }
    });

    it('lists with filters, paging and the filter-activation quirk', async () => {
      await putComponents([
        { id: 'a', enabled: true, session: 's1', status: { status_override: '' } },
        { id: 'b', enabled: false, session: 's1', status: { phase: 'powering_on' }, last_action: { action: 'powering_on' } },
        { id: 'c', enabled: false, staged_state: { session: 's2' }, status: { phase: 'powering_off' } },
        { id: 'd', status: { status_override: 'failed' } },
      ]);
      const ids = async (q: string) => ((await api.get(`/v2/components${q}`)).body as Component[]).map((c) => c.id);
      expect(await ids('')).toEqual(['a', 'b', 'c', 'd']);
      expect(await ids('?enabled=false')).toEqual(['a', 'b', 'c', 'd']);
      expect(await ids('?phase=')).toEqual(['a', 'b', 'c', 'd']);
      expect(await ids('?enabled=false&session=s1')).toEqual(['b']);
      expect(await ids('?enabled=True')).toEqual(['a']);
      expect(await ids('?staged_session=s2')).toEqual(['c']);
      expect(await ids('?phase=powering_on')).toEqual(['b']);
      expect(await ids('?status=power_on_called,failed')).toEqual(['b', 'd']);
      expect(await ids('?status=on_hold')).toEqual(['a']);
      expect(await ids('?status=power_off_pending&enabled=false')).toEqual(['c']);
      expect(await ids('?status=stable')).toEqual([]);
      expect(await ids('?ids=d,a,zz,a')).toEqual(['a', 'd']);
      expect(await ids('?page_size=2')).toEqual(['a', 'b']);
      expect(await ids('?page_size=2&start_after_id=b')).toEqual(['c', 'd']);
      expect(await ids('?page_size=1&start_after_id=a&status=failed')).toEqual(['d']);
      expect(await ids('?page_size=0')).toEqual(['a', 'b', 'c', 'd']);
      expect(await ids('?start_after_id=d')).toEqual([]);
      for (const q of ['?enabled=maybe', '?page_size=-1', '?page_size=x', '?phase=bogus', '?session=bad%20name']) {
        const r = await api.get(`/v2/components${q}`);
        expect(r.status, q).toBe(400);
      }
    });

    it('lists what was last written (no stale output after a change)', async () => {
      await putComponents([{ id: 'x1', error: 'one' }, { id: 'x2', error: 'two' }]);
      expect((await api.get('/v2/components')).body.map((c: Component) => c.error)).toEqual(['one', 'two']);
      await api.patch('/v2/components/x1', { error: 'changed', status: { phase: 'configuring' } });
      await api.delete('/v2/components/x2');
      const after = (await api.get('/v2/components')).body as Component[];
      expect(after.map((c) => [c.id, c.error, c.status!.status])).toEqual([['x1', 'changed', 'configuring']]);
    });

    it('streams a large list intact', async () => {
      const many = Array.from({ length: 4321 }, (_, i) => ({ id: `n${String(i).padStart(5, '0')}`, error: i % 2 ? 'odd' : '' }));
      expect((await putComponents(many)).body).toHaveLength(4321);
      const all = await api.get('/v2/components');
      expect(all.body.map((c: Component) => c.id)).toEqual(many.map((c) => c.id));
      expect(all.body.every((c: Component) => c.status!.status === 'stable')).toBe(true);
      const page = await api.get('/v2/components?page_size=2500&start_after_id=n01000');
      expect(page.body[0].id).toBe('n01001');
      expect(page.body).toHaveLength(2500);
    });

    it('gets, puts (id from the path) and deletes single components', async () => {
      expect((await api.get('/v2/components/x1')).status).toBe(404);
      const put = await api.put('/v2/components/x1', { id: 'other', enabled: false, error: 'e' });
      expect(put.body).toEqual({ id: 'x1', enabled: false, error: 'e' });
      expect(await stored('other')).toBeUndefined();
      const got = await api.get('/v2/components/x1');
      expect(got.body.status.status).toBe('stable');
      expect((await api.delete('/v2/components/x1')).status).toBe(204);
      const gone = await api.delete('/v2/components/x1');
      expect(gone.status).toBe(404);
      expect(gone.body).toEqual({ type: 'about:blank', title: 'The resource was not found', status: 404, detail: "Component 'x1' does not exist" });
      expect((await api.patch('/v2/components/x1', { error: 'e' })).status).toBe(404);
      expect((await api.put('/v2/components/x1', {})).status).toBe(400);
      expect((await api.get(`/v2/components/${'x'.repeat(128)}`)).status).toBe(400);
    });

    it('restricts components to the tenant set', async () => {
      await putComponents([{ id: 'x1' }, { id: 'x2' }, { id: 'x3' }, { id: 'x4' }]);
      const list = await api.get('/v2/components', { tenant: 'acme' });
      expect(list.body.map((c: Component) => c.id)).toEqual(['x1', 'x2']);
      expect((await api.get('/v2/components?ids=x1,x3', { tenant: 'acme' })).body.map((c: Component) => c.id)).toEqual(['x1']);
      expect((await api.get('/v2/components/x3', { tenant: 'acme' })).status).toBe(404);
      expect((await api.get('/v2/components/x3', { tenant: '' })).status).toBe(200);
      expect((await api.delete('/v2/components/x3', { tenant: 'acme' })).status).toBe(404);
      expect((await api.patch('/v2/components/x3', { error: 'e' }, { tenant: 'acme' })).status).toBe(404);
      const bad = await api.get('/v2/components', { tenant: 'nope' });
      expect(bad.status).toBe(400);
      expect(bad.body.title).toBe('Invalid tenant');
      expect(bad.body.detail).toBe('Data not found for tenant nope');
      const outside = await api.patch('/v2/components', [{ id: 'x1', error: 'e' }, { id: 'x3', error: 'e' }], { tenant: 'acme' });
      expect(outside.status).toBe(404);
      expect(outside.body.detail).toBe("Component 'x3' does not exist");
      const skipped = await api.patch('/v2/components?skip_bad_ids=true', [{ id: 'x1', error: 'e' }, { id: 'x3', error: 'e' }], { tenant: 'acme' });
      expect(skipped.body.map((c: Component) => c.id)).toEqual(['x1']);
      expect((await stored('x3'))!.error).toBeUndefined();
      // PUT ignores the tenant entirely
      expect((await api.put('/v2/components/x4', { error: 'mine' }, { tenant: 'nope' })).status).toBe(200);
    });

    it('without a tenant service every non-empty tenant is invalid', async () => {
      const s = await startServer({ store, clock, logger: false });
      extra.push(s);
      const r = await new Api(s.url).get('/v2/components', { tenant: 'acme' });
      expect(r.status).toBe(400);
      expect(r.body.title).toBe('Invalid tenant');
    });
  });

  // ------------------------------------------------------------------ applystaged
  describe('applystaged', () => {
    const full = { kernel: 'k', kernel_parameters: 'p', initrd: 'i' };
    async function stagedSession(name: string, operation: string, tenant = '') {
      const s: Session = {
        name,
        tenant: tenant || null,
        operation,
        template_name: 't',
        limit: '',
        stage: true,
        components: '',
        include_disabled: false,
        status: { start_time: STAMP, end_time: null, status: 'running', error: null },
      };
      await store.sessions.put(tenant, name, s);
    }

    it('applies, fails and ignores per component as the staged session says', async () => {
      await stagedSession('sboot', 'boot');
      await stagedSession('sreboot', 'reboot');
      await stagedSession('sdown', 'shutdown');
      await stagedSession('sbad', 'bogus');
      const la = { action: 'newly_discovered' };
      await putComponents([
        { id: 'boot', last_action: la, staged_state: { session: 'sboot', boot_artifacts: full, configuration: 'cfg' } },
        { id: 'reboot', last_action: la, actual_state: { boot_artifacts: full }, staged_state: { session: 'sreboot', boot_artifacts: full } },
        { id: 'bootmissing', last_action: la, staged_state: { session: 'sboot', boot_artifacts: { ...full, initrd: '' } } },
        { id: 'rebootmissing', last_action: la, staged_state: { session: 'sreboot', boot_artifacts: { kernel: '' } } },
        { id: 'down', last_action: la, staged_state: { session: 'sdown', boot_artifacts: { kernel: '', initrd: '' } } },
        { id: 'downbad', last_action: la, staged_state: { session: 'sdown', boot_artifacts: full } },
        { id: 'badop', last_action: la, staged_state: { session: 'sbad' } },
        { id: 'gone', last_action: la, staged_state: { session: 'missing' } },
        { id: 'nostage', last_action: la },
        { id: 'emptystage', last_action: la, staged_state: { session: '' } },
        { id: 'noaction', staged_state: { session: 'sboot', boot_artifacts: full } },
      ]);
      const before = await stored('noaction');
      const r = await api.post('/v2/applystaged', {
        xnames: ['boot', 'reboot', 'bootmissing', 'rebootmissing', 'down', 'downbad', 'badop', 'gone', 'nostage', 'emptystage', 'unknown', 'noaction'],
      });
      expect(r.status).toBe(200);
      expect(r.body).toEqual({
        succeeded: ['boot', 'reboot', 'down'],
        failed: ['bootmissing', 'rebootmissing', 'downbad', 'badop', 'gone', 'noaction'],
        ignored: ['nostage', 'emptystage', 'unknown'],
      });
      const boot = (await stored('boot'))!;
      expect(boot.desired_state).toEqual({ boot_artifacts: full, configuration: 'cfg', last_updated: STAMP });
      expect(boot.enabled).toBe(true);
      expect(boot.session).toBe('sboot');
      expect(boot.last_action).toEqual({ action: 'apply_staged', last_updated: STAMP });
      expect(boot.status).toEqual({ status_override: 'on_hold' });
      expect(boot.event_stats).toEqual({ power_on_attempts: 0, power_off_graceful_attempts: 0, power_off_forceful_attempts: 0 });
      expect(boot.staged_state!.session).toBe('sboot');
      const reboot = (await stored('reboot'))!;
      expect(reboot.actual_state).toEqual({ boot_artifacts: { kernel: '', kernel_parameters: '', initrd: '' }, bss_token: '', last_updated: STAMP });
      expect((await stored('down'))!.desired_state).toEqual({ boot_artifacts: { kernel: '', initrd: '' }, configuration: '', last_updated: STAMP });
      const err = (id: string) => stored(id).then((c) => [c!.error, c!.enabled, c!.last_action!.action]);
      expect(await err('bootmissing')).toEqual([
        'Staged operation is boot but some boot artifacts have not been specified (session: sboot, tenant: )',
        false,
        'apply_staged',
      ]);
      expect((await err('rebootmissing'))[0]).toBe('Staged operation is reboot but some boot artifacts have not been specified (session: sreboot, tenant: )');
      expect((await err('downbad'))[0]).toBe('Staged operation is shutdown but boot artifacts have been specified (session: sdown, tenant: )');
      expect((await err('badop'))[0]).toBe('Invalid operation (bogus) in staged session (session: sbad, tenant: )');
      expect((await err('gone'))[0]).toBe('Staged session no longer exists (session: missing, tenant: )');
      expect(await stored('noaction')).toEqual(before);
      expect((await stored('bootmissing'))!.desired_state).toBeUndefined();
    });

    it('clears the staged state when clear_stage is set, handles tenants and an omitted body', async () => {
      await api.patch('/v2/options', { clear_stage: true });
      await stagedSession('s', 'boot', 'acme');
      await putComponents([
        { id: 'x1', last_action: {}, staged_state: { session: 's', boot_artifacts: full } },
        { id: 'x3', last_action: {}, staged_state: { session: 's', boot_artifacts: full } },
      ]);
      const r = await api.post('/v2/applystaged', { xnames: ['x1', 'x3', 'x1'] }, { tenant: 'acme' });
      expect(r.body).toEqual({ succeeded: ['x1'], failed: [], ignored: ['x3'] });
      expect((await stored('x1'))!.staged_state).toEqual({ configuration: '', boot_artifacts: { kernel: '', kernel_parameters: '', initrd: '' }, last_updated: STAMP });
      expect((await stored('x3'))!.staged_state!.session).toBe('s');
      // no tenant: the tenant's session is not visible
      await putComponents([{ id: 'x5', last_action: {}, staged_state: { session: 's', boot_artifacts: full } }]);
      expect((await api.post('/v2/applystaged', { xnames: ['x5'] })).body.failed).toEqual(['x5']);
      expect((await api.post('/v2/applystaged', undefined)).body).toEqual({ succeeded: [], failed: [], ignored: [] });
      expect((await api.post('/v2/applystaged', { xnames: ['x1'] }, { tenant: 'nope' })).status).toBe(400);
      expect((await api.post('/v2/applystaged', { xnames: 'x1' })).status).toBe(400);
    });
  });

  // ------------------------------------------------------------------ session templates
  describe('session templates', () => {
    it('sanitises a template on PUT and stores it in the tenant namespace', async () => {
      const body = {
        description: 'd',
        cfs: { configuration: '' },
        boot_sets: {
          compute: { name: 'compute', path: 's3://b/img/manifest.json', type: 's3', node_list: ['X3000C0S01B0N0', 'x1'], cfs: {} },
          uan: { path: 's3://b/img/manifest.json', type: 's3', node_roles_groups: ['Application'], arch: 'ARM' },
        },
      };
      const r = await api.put('/v2/sessiontemplates/t1', body);
      expect(r.status).toBe(200);
      expect(r.body).toEqual({
        description: 'd',
        boot_sets: {
          compute: { path: 's3://b/img/manifest.json', type: 's3', node_list: ['x3000c0s1b0n0', 'x1'], arch: 'X86' },
          uan: { path: 's3://b/img/manifest.json', type: 's3', node_roles_groups: ['Application'], arch: 'ARM' },
        },
        name: 't1',
        tenant: null,
      });
      expect(await store.templates.get('', 't1')).toEqual(r.body);
      const t = await api.put('/v2/sessiontemplates/t1', body, { tenant: 'acme' });
      expect(t.body.tenant).toBe('acme');
      expect((await api.get('/v2/sessiontemplates')).body).toHaveLength(2);
      expect((await api.get('/v2/sessiontemplates', { tenant: 'acme' })).body.map((x: { tenant: string }) => x.tenant)).toEqual(['acme']);
      expect((await api.get('/v2/sessiontemplates/t1', { tenant: 'beta' })).body.detail).toBe("Session template for tenant 'beta' 't1' does not exist");
      expect((await api.delete('/v2/sessiontemplates/t1', { tenant: 'acme' })).status).toBe(204);
      expect((await api.get('/v2/sessiontemplates/t1')).status).toBe(200);
      expect((await api.get('/v2/sessiontemplates/t1', { tenant: 'acme' })).status).toBe(404);
      const inv = await api.put('/v2/sessiontemplates/t2', body, { tenant: 'nope' });
      expect(inv.body).toMatchObject({ title: 'Invalid tenant', detail: 'The provided tenant does not exist' });
    });

    it('refuses bad templates with 400 and stores nothing', async () => {
      const bs = { path: 's3://b/img/manifest.json', type: 's3', node_list: ['x1'] };
      const cases: [unknown, string][] = [
        [{ boot_sets: { a: { ...bs, name: 'b' } } }, "The session template could not be created: boot_sets key (a) does not match 'name' field of corresponding boot set (b)"],
        [{ boot_sets: { a: { path: 'p', type: 's3' } } }, "The session template could not be created: Boot set a: No hardware specifier fields (frozenset({'node_list', 'node_roles_groups', 'node_groups'}))"],
        [{ name: 'x', boot_sets: { a: bs } }, "Property is read-only - 'name'"],
        [{ tenant: 'x', boot_sets: { a: bs } }, "Property is read-only - 'tenant'"],
        [{ boot_sets: {} }, "{} does not have enough properties - 'boot_sets'"],
        [{ boot_sets: { a: { ...bs, foo: 1 } } }, "Additional properties are not allowed ('foo' was unexpected) - 'boot_sets.a'"],
        [{ boot_sets: { a: { ...bs, arch: 'PDP11' } } }, "'PDP11' is not one of ['X86', 'ARM', 'Other', 'Unknown'] - 'boot_sets.a.arch'"],
        [{}, "'boot_sets' is a required property"],
      ];
      for (const [body, detail] of cases) {
        const r = await api.put('/v2/sessiontemplates/t1', body);
        expect(r.status).toBe(400);
        expect(r.body.detail).toBe(detail);
      }
      await api.patch('/v2/options', { reject_nids: true });
      const nid = await api.put('/v2/sessiontemplates/t1', { boot_sets: { a: { ...bs, node_list: ['nid000001'] } } });
      expect(nid.body.detail).toBe("The session template could not be created: Boot set a: Has NID in 'node_list'");
      expect((await api.put('/v2/sessiontemplates/bad name', { boot_sets: { a: bs } })).status).toBe(400);
      expect(await store.templates.list()).toEqual([]);
    });

    it('fails a template whose IMS image arch does not match the boot set arch', async () => {
      addBootImage(s3, ims, 'armimg', { arch: 'aarch64' });
      const r = await api.put('/v2/sessiontemplates/t1', {
        boot_sets: { a: { path: 's3://boot-images/armimg/manifest.json', type: 's3', node_list: ['x1'] } },
      });
      expect(r.status).toBe(400);
      expect(r.body.detail).toBe(
        "The session template could not be created: BootSetArchMismatch: Boot set arch 'X86' means IMS image arch should be 'x86_64', but actual IMS image arch is 'aarch64'",
      );
    });

    it('patches a template by merging boot sets and cfs', async () => {
      await api.put('/v2/sessiontemplates/t1', {
        cfs: { configuration: 'c1' },
        boot_sets: { a: { path: 's3://b/i/manifest.json', type: 's3', node_list: ['x1'], kernel_parameters: 'kp' } },
      });
      const r = await api.patch('/v2/sessiontemplates/t1', {
        enable_cfs: false,
        boot_sets: { a: { path: 's3://b/i/manifest.json', type: 's3', node_list: ['X2'], cfs: { configuration: 'bc' } }, b: { path: 's3://b/j/manifest.json', type: 's3', node_groups: ['g'] } },
      });
      expect(r.status).toBe(200);
      expect(r.body.boot_sets.a).toEqual({ path: 's3://b/i/manifest.json', type: 's3', node_list: ['x2'], kernel_parameters: 'kp', arch: 'X86', cfs: { configuration: 'bc' } });
      expect(r.body.boot_sets.b.arch).toBe('X86');
      expect(r.body.cfs).toEqual({ configuration: 'c1' });
      expect(r.body.enable_cfs).toBe(false);
      expect((await api.patch('/v2/sessiontemplates/zz', { enable_cfs: true })).status).toBe(404);
      const bad = await api.patch('/v2/sessiontemplates/t1', { boot_sets: { c: { path: 'p', type: 's3' } } });
      expect(bad.body.detail).toMatch(/^The session template could not be patched: Boot set c: No hardware specifier fields/);
      expect((await store.templates.get('', 't1'))!.boot_sets.c).toBeUndefined();
      expect((await api.patch('/v2/sessiontemplates/t1', { name: 'x' })).status).toBe(400);
    });

    it('serves the example template and validates stored templates', async () => {
      const ex = await api.get('/v2/sessiontemplatetemplate');
      expect(ex.body.boot_sets.name_your_boot_set.rootfs_provider).toBe('sbps');
      expect((await api.get('/v2/sessiontemplatesvalid/none')).status).toBe(404);
      await makeTemplate('good');
      expect((await api.get('/v2/sessiontemplatesvalid/good')).body).toBe('Valid');
      await store.templates.put('', 'noimg', {
        name: 'noimg',
        tenant: null,
        boot_sets: { b: { path: 's3://boot-images/missing/manifest.json', type: 's3', node_list: ['x1'] } },
      });
      expect((await api.get('/v2/sessiontemplatesvalid/noimg')).body).toBe(
        "Session template: 'noimg' boot set: 'b': Can't find boot artifacts. Error: ManifestNotFound: Unable to read manifest file 's3://boot-images/missing/manifest.json'.",
      );
      const p = addBootImage(s3, undefined, 'notinims', { initrd: false });
      await store.templates.put('', 'warn', {
        name: 'warn',
        tenant: null,
        boot_sets: { b: { path: p, type: 's3', node_list: ['x1'], rootfs_provider: 'dvs' } },
      });
      expect((await api.get('/v2/sessiontemplatesvalid/warn')).body).toBe(
        [
          "Session template: 'warn' boot set: 'b': Unsupported rootfs_provider ('dvs') will cause boot/reboot sessions to fail",
          `Session template: 'warn' boot set: 'b': ${p} doesn't contain a initrd`,
          "Session template: 'warn' boot set: 'b': Can't validate boot image arch: IMS image id 'notinims' does not exist in IMS",
        ].join('; '),
      );
      await api.patch('/v2/options', { ims_images_must_exist: true });
      expect((await api.get('/v2/sessiontemplatesvalid/warn')).body).toBe("Session template: 'warn' boot set: 'b': IMS image id 'notinims' does not exist in IMS");
      ims.down = true;
      await api.patch('/v2/options', { ims_errors_fatal: true });
      // IMS not answering: the message names it and says what to check.
      expect((await api.get('/v2/sessiontemplatesvalid/good')).body).toBe(
        "Session template: 'good' boot set: 'compute': connect ECONNREFUSED 127.0.0.1:1; check that IMS answers the BOS API (BOS_IMS_URL)",
      );
    });

    it('reports the manifest error for boot when no artifact store is configured', async () => {
      const s = await startServer({ store, clock, logger: false });
      extra.push(s);
      await makeTemplate('t1');
      const r = await new Api(s.url).get('/v2/sessiontemplatesvalid/t1');
      expect(r.body).toMatch(/Can't find boot artifacts\. Error: ManifestNotFound/);
    });
  });

  // ------------------------------------------------------------------ sessions
  describe('sessions', () => {
    it('creates a session, refusing a duplicate name with 409', async () => {
      await makeTemplate('t1');
      const r = await api.post('/v2/sessions', { operation: 'boot', template_name: 't1', name: 's1', limit: 'x1' });
      expect(r.status).toBe(201);
      expect(r.body).toEqual({
        name: 's1',
        tenant: null,
        operation: 'boot',
        template_name: 't1',
        limit: 'x1',
        stage: false,
        components: '',
        include_disabled: false,
        status: { start_time: STAMP, end_time: null, status: 'pending', error: null },
      });
      const dup = await api.post('/v2/sessions', { operation: 'shutdown', template_name: 't1', name: 's1' });
      expect(dup.status).toBe(409);
      expect(dup.body).toMatchObject({ title: 'The resource to be created already exists', detail: "Session 's1' already exists" });
      const anon = await api.post('/v2/sessions', { operation: 'shutdown', template_name: 't1', limit: null, stage: true });
      expect(anon.body.name).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(anon.body.limit).toBe('');
      expect(anon.body.stage).toBe(true);
      expect((await store.sessions.list()).length).toBe(2);
    });

    it('refuses sessions with missing templates, missing limits, NIDs, failing templates or bad bodies', async () => {
      await makeTemplate('t1');
      const post = (body: unknown, tenant?: string) => api.post('/v2/sessions', body, { tenant });
      expect((await post({ operation: 'boot', template_name: 'nope' })).body.detail).toBe('Session Template Name invalid: nope');
      expect((await post({ operation: 'boot', template_name: 't1' }, 'acme')).body.detail).toBe('Session Template Name invalid: t1');
      expect((await post({ operation: 'boot', template_name: 't1' }, 'nope')).body).toMatchObject({ title: 'Invalid tenant', detail: 'The provided tenant does not exist' });
      expect((await post({ operation: 'bogus', template_name: 't1' })).body.detail).toBe("'bogus' is not one of ['boot', 'reboot', 'shutdown'] - 'operation'");
      expect((await post({ operation: 'boot' })).body.detail).toBe("'template_name' is a required property");
      expect((await post({ operation: 'boot', template_name: 't1', foo: 1 })).body.detail).toBe("Additional properties are not allowed ('foo' was unexpected)");
      expect((await post({ operation: 'boot', template_name: 't1', limit: 'nid001' })).status).toBe(201);
      await api.patch('/v2/options', { reject_nids: true, session_limit_required: true });
      expect((await post({ operation: 'boot', template_name: 't1' })).body.detail).toBe('session_limit_required option is set, but this session has no limit specified');
      expect((await post({ operation: 'boot', template_name: 't1', limit: 'x1,!nid001' })).body.detail).toBe('reject_nids: session limit appears to contain NIDs: x1,!nid001');
      await store.templates.put('', 'broken', { name: 'broken', tenant: null, boot_sets: {} });
      expect((await post({ operation: 'shutdown', template_name: 'broken', limit: 'x1' })).body.detail).toBe("Session template fails check: Session template 'broken' requires at least 1 boot set.");
      expect((await store.sessions.list()).length).toBe(1);
    });

    it('keeps sessions in tenant namespaces', async () => {
      await makeTemplate('t1');
      await makeTemplate('t1', { tenant: 'acme' });
      expect((await api.post('/v2/sessions', { operation: 'boot', template_name: 't1', name: 's1' })).status).toBe(201);
      const t = await api.post('/v2/sessions', { operation: 'boot', template_name: 't1', name: 's1' }, { tenant: 'acme' });
      expect(t.status).toBe(201);
      expect(t.body.tenant).toBe('acme');
      const dup = await api.post('/v2/sessions', { operation: 'boot', template_name: 't1', name: 's1' }, { tenant: 'acme' });
      expect(dup.body.detail).toBe("Session 's1' already exists for tenant 'acme'");
      expect((await api.get('/v2/sessions')).body).toHaveLength(2);
      expect((await api.get('/v2/sessions', { tenant: 'acme' })).body.map((s: Session) => s.tenant)).toEqual(['acme']);
      expect((await api.get('/v2/sessions/s1', { tenant: 'beta' })).body.detail).toBe("Session for tenant 'beta' 's1' does not exist");
      expect((await api.delete('/v2/sessions/s1', { tenant: 'acme' })).status).toBe(204);
      expect((await api.get('/v2/sessions/s1')).status).toBe(200);
    });

    it('lists and deletes by status and age', async () => {
      await makeTemplate('t1');
      const mk = async (name: string, status: string) => {
        await api.post('/v2/sessions', { operation: 'shutdown', template_name: 't1', name });
        await api.patch(`/v2/sessions/${name}`, { status: { status } });
      };
      await mk('old', 'complete');
      clock.advance(3 * 3600_000);
      await mk('mid', 'running');
      clock.advance(3 * 3600_000);
      await mk('new', 'complete');
      const names = async (q: string) => ((await api.get(`/v2/sessions${q}`)).body as Session[]).map((s) => s.name).sort();
      expect(await names('')).toEqual(['mid', 'new', 'old']);
      expect(await names('?status=complete')).toEqual(['new', 'old']);
      expect(await names('?min_age=2h')).toEqual(['mid', 'old']);
      expect(await names('?max_age=4H')).toEqual(['mid', 'new']);
      expect(await names('?min_age=1h&max_age=4h')).toEqual(['mid']);
      expect(await names('?min_age=0')).toEqual(['mid', 'new', 'old']);
      expect((await api.get('/v2/sessions?min_age=5x')).status).toBe(400);
      expect((await api.get('/v2/sessions?status=done')).status).toBe(400);
      await store.sessionStatus.put('', 'old', { managed_components_count: 0 } as never);
      expect((await api.delete('/v2/sessions?status=complete&min_age=1h')).status).toBe(204);
      expect(await names('')).toEqual(['mid', 'new']);
      expect(await store.sessionStatus.get('', 'old')).toBeUndefined();
      expect((await api.delete('/v2/sessions')).status).toBe(204);
      expect(await names('')).toEqual([]);
    });

    it('patches a session: components replaced, status merged', async () => {
      await makeTemplate('t1');
      await api.post('/v2/sessions', { operation: 'boot', template_name: 't1', name: 's1' });
      const r = await api.patch('/v2/sessions/s1', { components: 'x1,x2', status: { status: 'running' } });
      expect(r.body.components).toBe('x1,x2');
      expect(r.body.status).toEqual({ start_time: STAMP, end_time: null, status: 'running', error: null });
      expect((await api.patch('/v2/sessions/s1', { status: { status: 'sideways' } })).status).toBe(400);
      expect((await api.patch('/v2/sessions/s1', { name: 'x' })).status).toBe(400);
      expect((await api.patch('/v2/sessions/zz', { components: '' })).status).toBe(404);
      expect((await store.sessions.get('', 's1'))!.status.status).toBe('running');
    });

    it('computes the extended status, saves it and serves the saved copy once complete', async () => {
      await makeTemplate('t1');
      await api.post('/v2/sessions', { operation: 'boot', template_name: 't1', name: 's1' });
      const comps: Partial<Component>[] = [
        { id: 'n01', session: 's1', enabled: true, status: { phase: 'powering_on', status_override: '' } },
        { id: 'n02', session: 's1', enabled: true, status: { phase: 'configuring', status_override: '' } },
        { id: 'n03', session: 's1', enabled: false, status: { phase: 'configuring', status_override: '' } },
        { id: 'n04', session: 's1', enabled: false },
        { id: 'n05', session: 's1', enabled: false, status: { status_override: 'failed' }, error: 'boom' },
        { id: 'n06', session: 's2', staged_state: { session: 's1' } },
        { id: 'n07', session: 's2', enabled: false, error: 'boom' },
      ];
      for (let i = 10; i < 22; i++) comps.push({ id: `e${i}`, session: 's1', enabled: false, error: 'many' });
      await putComponents(comps);
      // enabled: true set on_hold; clear the overrides of n01/n02 again
      await api.patch('/v2/components', { patch: { status: { status_override: '' } }, filters: { ids: 'n01,n02' } });
      clock.advance(65_500);
      const st = await api.get('/v2/sessions/s1/status');
      expect(st.status).toBe(200);
      const n = 17 + 1; // 17 managed + 1 staged
      const pct = (k: number) => Math.round((k * 10000) / n) / 100;
      expect(st.body).toEqual({
        managed_components_count: n,
        phases: {
          percent_complete: pct(13 + 1),
          percent_powering_on: pct(1),
          percent_powering_off: 0,
          percent_configuring: pct(1),
        },
        percent_staged: pct(1),
        percent_successful: pct(13),
        percent_failed: pct(1),
        error_summary: {
          boom: { count: 1, list: 'n05' },
          many: { count: 12, list: 'e10,e11,e12,e13,e14,e15,e16,e17,e18,e19...' },
        },
        timing: { start_time: STAMP, end_time: null, duration: '0:01:05.500000' },
        status: 'pending',
      });
      const saved = await api.post('/v2/sessions/s1/status');
      expect(saved.status).toBe(200);
      await api.patch('/v2/sessions/s1', { status: { status: 'complete', end_time: '2026-01-02T13:00:01' } });
      await api.delete('/v2/components/n05');
      const done = await api.get('/v2/sessions/s1/status');
      expect(done.body).toEqual({ ...saved.body, timing: { ...saved.body.timing } });
      expect(done.body.error_summary.boom).toEqual({ count: 1, list: 'n05' });
      const fresh = await api.post('/v2/sessions/s1/status');
      expect(fresh.body.timing).toEqual({ start_time: STAMP, end_time: '2026-01-02T13:00:01', duration: '1 day, 1:00:01' });
      expect(fresh.body.error_summary.boom).toBeUndefined();
      expect((await api.get('/v2/sessions/zz/status')).status).toBe(404);
      expect((await api.post('/v2/sessions/zz/status')).status).toBe(404);
    });

    it('counts only the tenant components in a tenant session status', async () => {
      await makeTemplate('t1', { tenant: 'acme' });
      await api.post('/v2/sessions', { operation: 'boot', template_name: 't1', name: 's1' }, { tenant: 'acme' });
      await putComponents([{ id: 'x1', session: 's1' }, { id: 'x3', session: 's1' }, { id: 'x2', staged_state: { session: 's1' } }]);
      const st = await api.get('/v2/sessions/s1/status', { tenant: 'acme' });
      expect(st.body.managed_components_count).toBe(2);
      expect(st.body.percent_staged).toBe(50);
      expect((await api.get('/v2/sessions/s1/status')).status).toBe(404);
    });
  });

  // ------------------------------------------------------------------ options
  describe('options', () => {
    it('serves defaults, writes them back, validates patches and hides unknown keys', async () => {
      const g = await api.get('/v2/options');
      expect(g.body.default_retry_policy).toBe(3);
      expect(Object.keys(g.body)).toHaveLength(20);
      expect((await store.getOptions())!.polling_frequency).toBe(15);
      const before = await store.getOptions();
      const bad: Record<string, unknown>[] = [
        {},
        { default_retry_policy: 'x' },
        { default_retry_policy: 1.5 },
        { default_retry_policy: true },
        { bss_read_timeout: 5 },
        { max_component_batch_size: 131072 },
        { clear_stage: 'yes' },
        { cleanup_completed_session_ttl: '7s' },
        { component_actual_state_ttl: '30m' },
        { component_actual_state_ttl: '0h' },
        { logging_level: 'LOUD' },
        { polling_frequency: 10, hsm_read_timeout: 1 },
      ];
      for (const body of bad) {
        const r = await api.patch('/v2/options', body);
        expect(r.status, JSON.stringify(body)).toBe(400);
        expect(r.body.title).toBe('Bad Request');
      }
      expect(await store.getOptions()).toEqual(before);
      const p = await api.patch('/v2/options', { default_retry_policy: 5, cleanup_completed_session_ttl: '2W', logging_level: 'debug', custom: 1 });
      expect(p.status).toBe(200);
      expect(p.body).toMatchObject({ default_retry_policy: 5, cleanup_completed_session_ttl: '2W', custom: 1 });
      const after = await api.get('/v2/options');
      expect(after.body.default_retry_policy).toBe(5);
      expect(after.body.custom).toBeUndefined();
      // an invalid stored TTL is replaced by the default on read
      await store.putOptions({ ...(await store.getOptions())!, component_actual_state_ttl: 'bogus' });
      expect((await api.get('/v2/options')).body.component_actual_state_ttl).toBe('4h');
      // unknown keys are purged at the next start
      expect((await store.getOptions())!.custom).toBe(1);
      extra.push(await startServer({ store, clock, logger: false }));
      expect((await store.getOptions())!.custom).toBeUndefined();
    });
  });

  // ------------------------------------------------------------------ bad input and failures
  describe('bad input', () => {
    it('answers 4xx problems for malformed requests and leaves the store unchanged', async () => {
      await putComponents([{ id: 'x1', enabled: false }]);
      const before = await stored('x1');
      const cases: [string, string, Parameters<Api['request']>[2], number][] = [
        ['PATCH', '/v2/components/x1', { raw: '{"enabled": tru' }, 400],
        // Another media type is refused as upstream's framework refuses it.
        ['PATCH', '/v2/components/x1', { raw: 'enabled=true', contentType: 'application/x-www-form-urlencoded' }, 415],
        ['PATCH', '/v2/components/x1', { raw: '' }, 400],
        ['PATCH', '/v2/components/x1', { body: [] }, 400],
        ['PATCH', '/v2/components/x1', { body: { enabled: 'yes' } }, 400],
        ['PATCH', '/v2/components/x1', { body: { last_action: { action: 'dancing' } } }, 400],
        ['PATCH', '/v2/components/x1', { body: { desired_state: { last_updated: 'x' } } }, 400],
        ['PATCH', '/v2/components/x1', { body: { retry_policy: -1 } }, 400],
        ['PUT', '/v2/components', { body: [{ enabled: true }] }, 400],
        ['PUT', '/v2/components', { body: { id: 'x1' } }, 400],
        ['PATCH', '/v2/components', { body: 5 }, 400],
        ['POST', '/v2/sessions', { raw: 'operation=boot', contentType: 'text/plain' }, 415],
        ['GET', '/v2/nothing', {}, 404],
        ['DELETE', '/v2/components', {}, 405],
        ['POST', '/v2/options', { body: {} }, 405],
      ];
      for (const [method, path, opts, status] of cases) {
        const r = await api.request(method, path, opts);
        expect(r.status, `${method} ${path} ${JSON.stringify(opts)}`).toBe(status);
      }
      expect(await stored('x1')).toEqual(before);
      expect(await store.components.count()).toBe(1);
      for (const contentType of ['application/json; charset=utf-8', 'application/merge-patch+json']) {
        const ok = await api.request('PATCH', '/v2/components/x1', { raw: '{"retry_policy": 1}', contentType });
        expect(ok.status, contentType).toBe(200);
      }
      const proto = await api.request('PATCH', '/v2/components/x1', { raw: '{"__proto__": {"enabled": true}}' });
      expect(proto.status).toBe(400);
      expect(proto.body.detail).toBe('Error parsing the data provided: the key "__proto__" is not allowed');
      const deepProto = await api.request('PUT', '/v2/components', { raw: '[{"id": "x1"}, {"id": "x2", "staged_state": {"boot_artifacts": {"__proto__": {}}}}]' });
      expect(deepProto.status).toBe(400);
      expect(deepProto.body.detail).toBe('Error parsing the data provided: the key "__proto__" is not allowed - \'1.staged_state.boot_artifacts\'');
      const quoted = await api.request('PATCH', '/v2/components/x1', { raw: '{"retry_policy": 1, "error": "__proto__"}' });
      expect(quoted.status, 'the word inside a string value is no key').toBe(200);
      const ro = await api.patch('/v2/components/x1', { status: { status: 'stable' } });
      expect(ro.body.detail).toBe("Property is read-only - 'status.status'");
      const ro2 = await api.put('/v2/components', [{ id: 'x1' }, { id: 'x2', last_action: { last_updated: 'x' } }]);
      expect(ro2.body.detail).toBe("Property is read-only - '1.last_action.last_updated'");
      const wrong = await api.patch('/v2/components/x1', { enabled: 'yes' });
      expect(wrong.body.detail).toBe("'yes' is not of type 'boolean' - 'enabled'");
      const m405 = await api.request('DELETE', '/v2/components');
      expect(m405.body.title).toBe('Method Not Allowed');
      expect(m405.headers.get('allow')).toContain('PATCH');
      expect((await api.get('/v2/nothing')).body.title).toBe('Not Found');
    });

    it('refuses an oversized body with 413', async () => {
      const s = await startServer({ store, clock, logger: false, bodyLimit: 1000 });
      extra.push(s);
      const r = await new Api(s.url).put('/v2/components', [{ id: 'x1', error: 'e'.repeat(2000) }]);
      expect(r.status).toBe(413);
      expect(await store.components.count()).toBe(0);
    });
  });
});

// ------------------------------------------------------------------ store failures (memory only)
describe('store failures', () => {
  function failingStore(make: () => Error): Store {
    const base = new MemoryStore();
    const fail = async () => {
      throw make();
    };
    const table = { get: fail, getMany: fail, getManyShared: fail, ids: fail, list: fail, listShared: fail, putMany: fail, delete: fail, count: fail, put: fail };
    return {
      kind: 'memory',
      components: table,
      templates: table,
      sessions: table,
      sessionStatus: table,
      getOptions: fail,
      putOptions: fail,
      bootArtifacts: { get: fail, put: fail },
      ping: async () => false,
      close: () => base.close(),
    } as unknown as Store;
  }

  it('answers 503 when the store cannot be reached, and healthz reports it', async () => {
    const err = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { name: 'StoreUnavailableError' });
    const srv = await startServer({ store: failingStore(err), logger: false });
    try {
      const api = new Api(srv.url);
      const r = await api.get('/v2/components');
      expect(r.status).toBe(503);
      expect(r.body.title).toBe('Unable to connect to the Redis database');
      expect(r.body.detail).toBe('connect ECONNREFUSED 127.0.0.1:6379');
      expect((await api.get('/v2/healthz')).body).toEqual({ dbStatus: 'not_available', apiStatus: 'ok' });
      expect((await api.get('/v2/version')).status).toBe(200);
    } finally {
      await srv.close();
    }
  });

  it('answers a generic 500 on an unexpected error, without its text', async () => {
    const srv = await startServer({ store: failingStore(() => new Error('secret-password-in-message')), logger: false });
    try {
      const r = await new Api(srv.url).get('/v2/sessions');
      expect(r.status).toBe(500);
      expect(r.body.title).toBe('Internal Server Error');
      expect(r.text).not.toContain('secret');
    } finally {
      await srv.close();
    }
  });
});
