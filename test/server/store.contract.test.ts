import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { BootArtifactsRecord, Component, ExtendedStatus, Session, SessionTemplate } from '../../src/common/types.js';
import { MemoryStore, sortIds } from '../../src/server/store/memory.js';
import { RedisStore } from '../../src/server/store/redis/index.js';
import { StoreDataError, StoreUnavailableError, UPDATE_GROUP, type Store, type TenantTable } from '../../src/server/store/store.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

/** A component the way a booted node looks: every field populated. */
function booted(id: string, extra: Partial<Component> = {}): Component {
  return {
    id,
    actual_state: {
      boot_artifacts: { kernel: 's3://boot/k', kernel_parameters: 'console=ttyS0', initrd: 's3://boot/i', timestamp: '2026-01-01T00:00:00' },
      bss_token: `tok-${id}`,
      last_updated: '2026-01-01T00:00:01',
    },
    desired_state: {
      boot_artifacts: { kernel: 's3://boot/k', kernel_parameters: 'console=ttyS0', initrd: 's3://boot/i' },
      configuration: 'cfg',
      bss_token: `tok-${id}`,
      last_updated: '2026-01-01T00:00:00',
    },
    staged_state: { configuration: '', boot_artifacts: { kernel: '', kernel_parameters: '', initrd: '' }, session: '' },
    last_action: { action: 'powering_on', failed: false, last_updated: '2026-01-01T00:00:00' },
    event_stats: { power_on_attempts: 1, power_off_graceful_attempts: 0, power_off_forceful_attempts: 0 },
    status: { phase: '', status_override: '' },
    enabled: true,
    error: '',
    session: 'sess-1',
    retry_policy: 3,
    ...extra,
  };
}

function session(name: string, tenant: string | null): Session {
  return {
    name,
    tenant,
    operation: 'boot',
    template_name: 't',
    limit: '',
    stage: false,
    components: '',
    include_disabled: false,
    status: { start_time: '2026-01-01T00:00:00', end_time: null, status: 'pending', error: null },
  };
}

function template(name: string, tenant: string | null): SessionTemplate {
  return { name, tenant, boot_sets: { compute: { path: 's3://boot-images/x/manifest.json', type: 's3', node_list: ['x1'], arch: 'X86' } } };
}

function extStatus(n: number): ExtendedStatus {
  return {
    managed_components_count: n,
    phases: { percent_complete: 100, percent_powering_on: 0, percent_powering_off: 0, percent_configuring: 0 },
    percent_staged: 0,
    percent_successful: 100,
    percent_failed: 0,
    error_summary: {},
    timing: { start_time: '2026-01-01T00:00:00', end_time: '2026-01-01T00:10:00', duration: '0:10:00' },
    status: 'complete',
  };
}

const sha1 = (s: string) => createHash('sha1').update(s, 'utf8').digest('hex');
/** Upstream's tenant-aware key, written out here independently of src/server/store/keys.ts. */
const upstreamKey = (tenant: string, name: string) => `${sha1(tenant)}-${sha1(name)}`;

/** Code-point order, the way Python sorts strings. */
function codePointSort(xs: string[]): string[] {
  const cps = (s: string) => Array.from(s, (c) => c.codePointAt(0)!);
  return [...xs].sort((a, b) => {
    const x = cps(a);
    const y = cps(b);
    for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
    return x.length - y.length;
  });
}

let redis: TestRedis;
const opened: Store[] = [];

beforeAll(async () => {
  redis = await startRedis();
});
afterEach(async () => {
  while (opened.length) await opened.pop()!.close();
});
afterAll(async () => {
  await redis?.stop();
});

async function flushRedis(url: string): Promise<void> {
  const raw = new Redis(url, { lazyConnect: true });
  await raw.connect();
  await raw.flushall();
  await raw.quit();
}

/**
 * Two stores on one Redis (two API replicas) as one: every write goes through `w`, reads alternate
 * between `r` and `w`, so each read through `r` must see what was written through the other.
 */
function twoStores(w: Store, r: Store): Store {
  let turn = 0;
  const reader = () => (turn++ % 2 === 0 ? r : w);
  const table = <T>(pick: (s: Store) => TenantTable<T>): TenantTable<T> => ({
    get: (t, n) => pick(reader()).get(t, n),
    list: () => pick(reader()).list(),
    put: (t, n, v) => pick(w).put(t, n, v),
    update: (t, n, c) => pick(w).update(t, n, c),
    delete: (t, n) => pick(w).delete(t, n),
  });
  return {
    kind: w.kind,
    components: {
      get: (id) => reader().components.get(id),
      getMany: (ids) => reader().components.getMany(ids),
      getManyShared: (ids) => reader().components.getManyShared(ids),
      ids: () => reader().components.ids(),
      list: (o) => reader().components.list(o),
      listShared: (o) => reader().components.listShared(o),
      count: () => reader().components.count(),
      update: (ids, c, m) => w.components.update(ids, c, m),
      putMany: (recs, m) => w.components.putMany(recs, m),
      delete: (id) => w.components.delete(id),
    },
    templates: table((s) => s.templates),
    sessions: table((s) => s.sessions),
    sessionStatus: table((s) => s.sessionStatus),
    getOptions: () => reader().getOptions(),
    putOptions: (o) => w.putOptions(o),
    updateOptions: (c) => w.updateOptions(c),
    bootArtifacts: { get: (t) => reader().bootArtifacts.get(t), put: (t, v) => w.bootArtifacts.put(t, v) },
    ping: () => r.ping(),
    close: async () => {
      await w.close();
      await r.close();
    },
  };
}

/** `single`: one store object, whose record objects a test may compare by identity. */
const factories: { name: string; single: boolean; make: () => Promise<Store> }[] = [
  { name: 'MemoryStore', single: true, make: async () => new MemoryStore() },
  {
    name: 'RedisStore',
    single: true,
    make: async () => {
      await flushRedis(redis.url);
      return RedisStore.connect({ url: redis.url });
    },
  },
  {
    name: 'two RedisStores on one Redis (writes through one, reads through both)',
    single: false,
    make: async () => {
      await flushRedis(redis.url);
      return twoStores(await RedisStore.connect({ url: redis.url }), await RedisStore.connect({ url: redis.url }));
    },
  },
];

describe.each(factories)('Store contract: $name', ({ make, single }) => {
  async function fresh(): Promise<Store> {
    const s = await make();
    opened.push(s);
    return s;
  }

  it('starts empty and answers ping', async () => {
    const s = await fresh();
    expect(await s.ping()).toBe(true);
    expect(await s.components.count()).toBe(0);
    expect(await s.components.ids()).toEqual([]);
    expect(await s.components.list()).toEqual([]);
    expect(await s.components.getMany([])).toEqual([]);
    expect(await s.components.get('x1')).toBeUndefined();
    expect(await s.getOptions()).toBeNull();
    expect(await s.templates.list()).toEqual([]);
  });

  it('gets one and many components, in request order, undefined where unknown', async () => {
    const s = await fresh();
    await s.components.putMany([booted('x3'), booted('x1', { enabled: false }), booted('x2')]);
    expect(await s.components.get('x1')).toEqual(booted('x1', { enabled: false }));
    expect(await s.components.get('x9')).toBeUndefined();
    const many = await s.components.getMany(['x2', 'nope', 'x1', 'x2']);
    expect(many.map((c) => c?.id)).toEqual(['x2', undefined, 'x1', 'x2']);
    expect(many[2]).toEqual(booted('x1', { enabled: false }));
    expect(await s.components.getManyShared(['x2', 'nope', 'x1', 'x2'])).toEqual(many);
    expect(await s.components.getManyShared([])).toEqual([]);
    // Shared reads follow writes: a new value, never the one read before.
    const before = (await s.components.getManyShared(['x1']))[0];
    await s.components.putMany([booted('x1', { enabled: true })]);
    const after = (await s.components.getManyShared(['x1']))[0];
    expect(after).toEqual(booted('x1', { enabled: true }));
    expect(after).not.toBe(before);
    expect(await s.components.count()).toBe(3);
  });

  it('orders ids by code point, as Python sorts strings', async () => {
    const s = await fresh();
    const ids = ['x9', 'x10', 'X1', 'a', 'x3000c0s1b0n0', '\uE000', '\u{10000}', 'é', 'x1'];
    await s.components.putMany(ids.map((id) => ({ id })));
    const expected = codePointSort(ids);
    expect(expected.slice(-2)).toEqual(['\uE000', '\u{10000}']);
    expect(await s.components.ids()).toEqual(expected);
    expect((await s.components.list()).map((c) => c.id)).toEqual(expected);
    expect((await s.components.list({ startAfter: '\uE000' })).map((c) => c.id)).toEqual(['\u{10000}']);
  });

  it('lists with startAfter (strictly greater, present or not), filter and limit', async () => {
    const s = await fresh();
    const recs = Array.from({ length: 20 }, (_, i) => booted(`x${String(i).padStart(2, '0')}`, { enabled: i % 3 === 0 }));
    await s.components.putMany(recs);
    const ids = (cs: Component[]) => cs.map((c) => c.id);
    expect(ids(await s.components.list({ startAfter: 'x05' }))[0]).toBe('x06');
    expect(ids(await s.components.list({ startAfter: 'x055' }))[0]).toBe('x06');
    expect(await s.components.list({ startAfter: 'x19' })).toEqual([]);
    expect(await s.components.list({ startAfter: 'zzz' })).toEqual([]);
    expect(ids(await s.components.list({ startAfter: '' }))).toHaveLength(20);
    expect(ids(await s.components.list({ limit: 3 }))).toEqual(['x00', 'x01', 'x02']);
    expect(ids(await s.components.list({ limit: 0 }))).toHaveLength(20);
    expect(ids(await s.components.list({ filter: (c) => c.enabled === true }))).toEqual(['x00', 'x03', 'x06', 'x09', 'x12', 'x15', 'x18']);
    // The limit counts matches, not records looked at.
    expect(ids(await s.components.list({ filter: (c) => c.enabled === true, limit: 2, startAfter: 'x03' }))).toEqual(['x06', 'x09']);
    expect(await s.components.list({ filter: () => false, limit: 5 })).toEqual([]);
  });

  it('lists correctly across many fetch batches, with and without a limit', async () => {
    const s = await fresh();
    const n = 4_321;
    const recs = Array.from({ length: n }, (_, i) => booted(`x${1000 + i}c0s0b0n0`, { enabled: i === n - 1 }));
    await s.components.putMany(recs);
    expect(await s.components.count()).toBe(n);
    const all = await s.components.list();
    expect(all).toHaveLength(n);
    expect(all[1234]).toEqual(recs[1234]);
    // Only the very last record matches: a limited listing must look through every batch.
    const last = await s.components.list({ filter: (c) => c.enabled === true, limit: 1 });
    expect(last.map((c) => c.id)).toEqual([recs[n - 1]!.id]);
    const page = await s.components.list({ startAfter: recs[2999]!.id, limit: 1500 });
    expect(page.map((c) => c.id)).toEqual(recs.slice(3000, 4500).map((c) => c.id));
  });

  // Record identity is a matter of one store object (two stores never share records).
  if (single) it('listShared gives what list gives, and the same object for a record until it is written', async () => {
    const s = await fresh();
    const recs = Array.from({ length: 2_500 }, (_, i) => booted(`x${1000 + i}c0s0b0n0`, { enabled: i % 3 === 0 }));
    await s.components.putMany(recs);
    const enabled = (c: Component) => c.enabled === true;
    for (const opts of [{}, { filter: enabled }, { startAfter: recs[1999]!.id }, { filter: enabled, limit: 7, startAfter: recs[10]!.id }]) {
      expect(await s.components.listShared(opts)).toEqual(await s.components.list(opts));
    }
    const first = await s.components.listShared();
    const again = await s.components.listShared();
    expect(again.every((c, i) => c === first[i])).toBe(true);
    await s.components.putMany([{ ...recs[5]!, enabled: false, session: 'changed' }]);
    await s.components.delete(recs[6]!.id);
    const after = await s.components.listShared();
    expect(after).toHaveLength(recs.length - 1);
    expect(after[5]).not.toBe(first[5]);
    expect(after[5]).toMatchObject({ id: recs[5]!.id, enabled: false, session: 'changed' });
    expect(after[6]!.id).toBe(recs[7]!.id);
    expect(after[6]).toBe(first[7]);
    expect(first[5]).toEqual(recs[5]); // a record handed out earlier is not changed by the write
  });

  if (single) it('keeps records handed over without copying them, and copies the rest in', async () => {
    const s = await fresh();
    const kept = booted('x1000c0s0b0n0');
    const copied = booted('x1001c0s0b0n0');
    await s.components.putMany([kept], { handover: true });
    await s.components.putMany([copied]);
    copied.session = 'changed after the write';
    const [a, b] = await s.components.getManyShared([kept.id, copied.id]);
    // The record handed over, or (Redis) it holding the equal parts other records hold instead of its own.
    expect(a).toEqual(kept);
    for (const [k, v] of Object.entries(kept)) if (v === null || typeof v !== 'object') expect((a as Record<string, unknown>)[k]).toBe(v);
    if (s.kind !== 'redis') expect(a).toBe(kept);
    expect(b).not.toBe(copied);
    expect(b!.session).toBe(booted('x').session);
    expect(await s.components.listShared()).toEqual([kept, booted('x1001c0s0b0n0')]);
    if (s.kind === 'redis') {
      const twin = booted('x1002c0s0b0n0');
      await s.components.putMany([twin], { handover: true });
      const [c] = await s.components.getManyShared([twin.id]);
      // Equal parts are one object (desired states differ: each names its own token).
      expect(c!.desired_state).not.toBe(a!.desired_state);
      for (const k of ['staged_state', 'last_action', 'event_stats', 'status'] as const) expect(c![k]).toBe(a![k]);
    }
  });

  it('list agrees with a model for any records, startAfter, filter and limit', async () => {
    const s = await fresh();
    const idArb = fc.string({ unit: fc.constantFrom('a', 'b', 'x', '1', '0', 'é', '\u{1F600}'), minLength: 1, maxLength: 4 });
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.record({ id: idArb, enabled: fc.boolean() }), { selector: (r) => r.id, maxLength: 25 }),
        fc.option(idArb, { nil: undefined }),
        fc.boolean(),
        fc.nat({ max: 6 }),
        async (recs, startAfter, onlyEnabled, limit) => {
          for (const id of await s.components.ids()) await s.components.delete(id);
          await s.components.putMany(recs);
          const filter = onlyEnabled ? (c: Component) => c.enabled === true : undefined;
          const sorted = codePointSort(recs.map((r) => r.id));
          let expected = sorted
            .filter((id) => startAfter === undefined || (id !== startAfter && codePointSort([id, startAfter])[0] === startAfter))
            .map((id) => recs.find((r) => r.id === id)!)
            .filter((r) => !onlyEnabled || r.enabled);
          if (limit > 0) expected = expected.slice(0, limit);
          expect(await s.components.list({ startAfter, filter, limit })).toEqual(expected);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('putMany replaces whole records (no merge); the last duplicate wins', async () => {
    const s = await fresh();
    await s.components.putMany([booted('x1')]);
    await s.components.putMany([{ id: 'x1', enabled: false }]);
    expect(await s.components.get('x1')).toEqual({ id: 'x1', enabled: false });
    await s.components.putMany([
      { id: 'x2', error: 'first' },
      { id: 'x2', error: 'second' },
    ]);
    expect(await s.components.get('x2')).toEqual({ id: 'x2', error: 'second' });
    expect(await s.components.count()).toBe(2);
    await s.components.putMany([]);
    expect(await s.components.count()).toBe(2);
  });

  it('delete removes a record and says whether it existed', async () => {
    const s = await fresh();
    await s.components.putMany([booted('x1'), booted('x2')]);
    expect(await s.components.delete('x1')).toBe(true);
    expect(await s.components.delete('x1')).toBe(false);
    expect(await s.components.delete('never')).toBe(false);
    expect(await s.components.get('x1')).toBeUndefined();
    expect(await s.components.ids()).toEqual(['x2']);
    expect(await s.components.count()).toBe(1);
    // A deleted id can come back, and sorts into place again.
    await s.components.putMany([{ id: 'x0' }]);
    expect(await s.components.ids()).toEqual(['x0', 'x2']);
  });

  it('copies records in and out: mutating them never changes what is stored', async () => {
    const s = await fresh();
    const mine = booted('x1');
    await s.components.putMany([mine]);
    mine.enabled = false;
    mine.desired_state!.boot_artifacts!.kernel = 'changed-after-put';
    expect(await s.components.listShared()).toEqual([booted('x1')]);
    expect(await s.components.list()).toEqual([booted('x1')]);
    const got = await s.components.get('x1');
    expect(got).toEqual(booted('x1'));
    got!.actual_state!.boot_artifacts!.kernel = 'changed-after-get';
    got!.status!.status_override = 'on_hold';
    (await s.components.list())[0]!.event_stats!.power_on_attempts = 99;
    (await s.components.getMany(['x1']))[0]!.session = 'other';
    (await s.components.ids()).push('ghost');
    expect(await s.components.get('x1')).toEqual(booted('x1'));
    expect(await s.components.ids()).toEqual(['x1']);

    const opts = { default_retry_policy: 5, nested: { a: [1] } };
    await s.putOptions(opts);
    opts.nested.a.push(2);
    const readOpts = (await s.getOptions())!;
    expect(readOpts).toEqual({ default_retry_policy: 5, nested: { a: [1] } });
    (readOpts.nested as { a: number[] }).a.push(3);
    expect(await s.getOptions()).toEqual({ default_retry_policy: 5, nested: { a: [1] } });

    const tpl = template('t1', null);
    await s.templates.put('', 't1', tpl);
    tpl.boot_sets.compute!.node_list!.push('x2');
    const readTpl = (await s.templates.get('', 't1'))!;
    readTpl.boot_sets.compute!.path = 'elsewhere';
    (await s.templates.list())[0]!.description = 'changed';
    expect(await s.templates.get('', 't1')).toEqual(template('t1', null));

    const art: BootArtifactsRecord = { kernel: 'k', kernel_parameters: 'p', initrd: 'i', timestamp: '2026-01-01T00:00:00' };
    await s.bootArtifacts.put('tok', art);
    art.kernel = 'changed';
    (await s.bootArtifacts.get('tok'))!.initrd = 'changed';
    expect(await s.bootArtifacts.get('tok')).toEqual({ kernel: 'k', kernel_parameters: 'p', initrd: 'i', timestamp: '2026-01-01T00:00:00' });
  });

  const tables: { table: string; pick: (s: Store) => TenantTable<unknown>; value: (name: string, tenant: string | null, n: number) => unknown }[] = [
    { table: 'templates', pick: (s) => s.templates, value: (n, t) => template(n, t) },
    { table: 'sessions', pick: (s) => s.sessions, value: (n, t) => session(n, t) },
    { table: 'sessionStatus', pick: (s) => s.sessionStatus, value: (_n, _t, i) => extStatus(i) },
  ];

  describe.each(tables)('tenant table $table', ({ pick, value }) => {
    it('keeps tenant namespaces apart and lists every tenant in key order', async () => {
      const s = await fresh();
      const t = pick(s);
      await t.put('', 'same', value('same', null, 1));
      await t.put('acme', 'same', value('same', 'acme', 2));
      await t.put('acme', 'other', value('other', 'acme', 3));
      await t.put('globex', 'x', value('x', 'globex', 4));
      expect(await t.get('', 'same')).toEqual(value('same', null, 1));
      expect(await t.get('acme', 'same')).toEqual(value('same', 'acme', 2));
      expect(await t.get('globex', 'same')).toBeUndefined();
      expect(await t.get('', 'other')).toBeUndefined();

      const entries: [string, string, unknown][] = [
        ['', 'same', value('same', null, 1)],
        ['acme', 'same', value('same', 'acme', 2)],
        ['acme', 'other', value('other', 'acme', 3)],
        ['globex', 'x', value('x', 'globex', 4)],
      ];
      entries.sort((a, b) => (upstreamKey(a[0], a[1]) < upstreamKey(b[0], b[1]) ? -1 : 1));
      expect(await t.list()).toEqual(entries.map((e) => e[2]));

      // Replace, then delete in one namespace only.
      await t.put('acme', 'same', value('same', 'acme', 5));
      expect(await t.get('acme', 'same')).toEqual(value('same', 'acme', 5));
      expect(await t.delete('acme', 'same')).toBe(true);
      expect(await t.delete('acme', 'same')).toBe(false);
      expect(await t.delete('nobody', 'same')).toBe(false);
      expect(await t.get('acme', 'same')).toBeUndefined();
      expect(await t.get('', 'same')).toEqual(value('same', null, 1));
      expect(await t.list()).toHaveLength(3);
    });
  });

  it('the records it holds cannot be changed in place: in the test suite they are frozen', async () => {
    const s = await fresh();
    await s.components.putMany([booted('x1')]);
    const [shared] = await s.components.getManyShared(['x1']);
    const listed = (await s.components.listShared())[0]!;
    for (const rec of [shared!, listed]) {
      expect(() => {
        (rec as Component).enabled = false;
      }).toThrow(TypeError);
      expect(() => {
        (rec.desired_state as { configuration: string }).configuration = 'changed';
      }).toThrow(TypeError);
    }
    await s.components.update(['x1'], (c) => {
      expect(() => {
        (c as Component).error = 'in place';
      }).toThrow(TypeError);
      return undefined;
    });
    expect((await s.components.get('x1'))!.enabled).toBe(true);
  });

  it('update gives the change each stored record, writes and deletes what it gives, and writes nothing of a group when it throws', async () => {
    const s = await fresh();
    await s.components.putMany([booted('x1'), booted('x2'), booted('x3')]);
    const seen = new Map<string, string | undefined>();
    const written = await s.components.update(['x2', 'nope', 'x1', 'x3'], (c, id) => {
      seen.set(id, c?.id);
      if (id === 'x2') return { ...c!, session: 'new' };
      if (id === 'nope') return { id: 'nope', enabled: false };
      if (id === 'x1') return null;
      return undefined;
    });
    expect(written).toEqual([{ ...booted('x2'), session: 'new' }, { id: 'nope', enabled: false }, null, undefined]);
    expect([...seen]).toEqual([
      ['x2', 'x2'],
      ['nope', undefined],
      ['x1', 'x1'],
      ['x3', 'x3'],
    ]);
    expect(await s.components.ids()).toEqual(['nope', 'x2', 'x3']);
    expect((await s.components.get('x2'))!.session).toBe('new');
    const refuse = (id: string) => (c: Component | undefined, at: string) => {
      if (at === id) throw new Error('refused');
      return { ...c!, error: 'written' };
    };
    await expect(s.components.update(['x2', 'x3'], refuse('x3'))).rejects.toThrow('refused');
    await expect(s.components.update(['x2'], () => ({ id: 'x9' }))).rejects.toThrow(/gave a record of 'x9'/);
    expect(await s.components.ids()).toEqual(['nope', 'x2', 'x3']);
    expect((await s.components.getMany(['x2', 'x3'])).map((c) => c!.error)).toEqual(['', '']);
    expect(await s.components.update([], () => null)).toEqual([]);
  });

  it('a long update is changed in groups: a change that throws stops it, the groups before it stay written', async () => {
    const s = await fresh();
    const ids = Array.from({ length: 2 * UPDATE_GROUP + 100 }, (_, i) => `x${10000 + i}`);
    await s.components.putMany(ids.map((id) => ({ id, error: '' })));
    const last = ids[2 * UPDATE_GROUP + 50]!;
    await expect(
      s.components.update(ids, (c, id) => {
        if (id === last) throw new Error('stop');
        return { ...c!, error: 'done' };
      }),
    ).rejects.toThrow('stop');
    const errors = (await s.components.getMany(ids)).map((c) => c!.error);
    expect(errors.slice(0, 2 * UPDATE_GROUP).every((e) => e === 'done')).toBe(true);
    expect(errors.slice(2 * UPDATE_GROUP).every((e) => e === '')).toBe(true);
    const all = await s.components.update(ids, (c) => ({ ...c!, error: 'all' }));
    expect(all.map((c) => c!.error)).toEqual(ids.map(() => 'all'));
  });

  it('updates of the same records asked for at once all land, in the order asked', async () => {
    const s = await fresh();
    await s.components.putMany([booted('c1', { retry_policy: 0 }), booted('c2', { retry_policy: 0 })]);
    await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        s.components.update(i % 3 === 0 ? ['c1', 'c2'] : ['c1'], (c) => ({ ...c!, retry_policy: c!.retry_policy! + 1, error: `${i}` })),
      ),
    );
    expect(await s.components.get('c1')).toMatchObject({ retry_policy: 60, error: '59' });
    expect(await s.components.get('c2')).toMatchObject({ retry_policy: 20, error: '57' });
  });

  it('tenant-table and options updates change what is stored, and write nothing when the change throws or gives nothing', async () => {
    const s = await fresh();
    await expect(s.sessions.update('acme', 's1', (cur) => (cur ? undefined : session('s1', 'acme')))).resolves.toEqual(session('s1', 'acme'));
    await expect(s.sessions.update('acme', 's1', (cur) => (cur ? undefined : session('s1', 'other')))).resolves.toEqual(session('s1', 'acme'));
    await expect(
      s.sessions.update('acme', 's1', async () => {
        throw new Error('no');
      }),
    ).rejects.toThrow('no');
    const patched = await s.sessions.update('acme', 's1', async (cur) => ({ ...cur!, components: 'x1' }));
    expect(patched).toEqual({ ...session('s1', 'acme'), components: 'x1' });
    expect(await s.sessions.get('acme', 's1')).toEqual(patched);
    expect(await s.sessions.get('', 's1')).toBeUndefined();
    await Promise.all(Array.from({ length: 20 }, () => s.sessions.update('', 'count', (cur) => ({ ...session('count', null), limit: String(Number(cur?.limit || 0) + 1) }))));
    expect((await s.sessions.get('', 'count'))!.limit).toBe('20');

    expect(await s.updateOptions((cur) => (cur ? undefined : { polling_frequency: 3 }))).toEqual({ polling_frequency: 3 });
    expect(await s.updateOptions((cur) => ({ ...cur, logging_level: 'DEBUG' }))).toEqual({ polling_frequency: 3, logging_level: 'DEBUG' });
    expect(await s.updateOptions(() => undefined)).toEqual({ polling_frequency: 3, logging_level: 'DEBUG' });
    expect(await s.getOptions()).toEqual({ polling_frequency: 3, logging_level: 'DEBUG' });
  });

  it('stores the options object as it is, unknown keys included, replacing the previous one', async () => {
    const s = await fresh();
    await s.putOptions({ polling_frequency: 7, not_an_option: 'kept' });
    expect(await s.getOptions()).toEqual({ polling_frequency: 7, not_an_option: 'kept' });
    await s.putOptions({ logging_level: 'DEBUG' });
    expect(await s.getOptions()).toEqual({ logging_level: 'DEBUG' });
  });

  it('stores boot-artifact records by BSS token', async () => {
    const s = await fresh();
    const token = 'a'.repeat(300) + ':/=+';
    const rec: BootArtifactsRecord = { kernel: 's3://k', kernel_parameters: 'root=x', initrd: 's3://i', timestamp: '2026-02-03T04:05:06' };
    expect(await s.bootArtifacts.get(token)).toBeUndefined();
    await s.bootArtifacts.put(token, rec);
    expect(await s.bootArtifacts.get(token)).toEqual(rec);
    expect(await s.bootArtifacts.get('other')).toBeUndefined();
  });
});

describe('RedisStore only', () => {
  async function raw(url: string, db: number): Promise<Redis> {
    const r = new Redis(url, { db, lazyConnect: true });
    await r.connect();
    return r;
  }

  /** How many times Redis has run `command` (INFO commandstats). */
  async function commandCalls(admin: Redis, command: string): Promise<number> {
    return Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(String(await admin.info('commandstats')))?.[1] ?? 0);
  }

  it('uses upstream layout: one DB per record type, ids and tenant-aware keys, JSON object values', async () => {
    await flushRedis(redis.url);
    const s = await RedisStore.connect({ url: redis.url });
    opened.push(s);
    await s.putOptions({ polling_frequency: 7 });
    await s.components.putMany([booted('x3000c0s19b1n0')]);
    await s.templates.put('acme', 'tpl', template('tpl', 'acme'));
    await s.sessions.put('', 'sess', session('sess', null));
    await s.bootArtifacts.put('tok-1', { kernel: 'k', kernel_parameters: 'p', initrd: 'i', timestamp: '2026-01-01T00:00:00' });
    await s.sessionStatus.put('', 'sess', extStatus(2));

    const expected: [number, string, unknown][] = [
      [0, 'options', { polling_frequency: 7 }],
      [1, 'x3000c0s19b1n0', booted('x3000c0s19b1n0')],
      [2, upstreamKey('acme', 'tpl'), template('tpl', 'acme')],
      [3, 'da39a3ee5e6b4b0d3255bfef95601890afd80709-' + sha1('sess'), session('sess', null)],
      [4, 'tok-1', { kernel: 'k', kernel_parameters: 'p', initrd: 'i', timestamp: '2026-01-01T00:00:00' }],
      [5, upstreamKey('', 'sess'), extStatus(2)],
    ];
    for (const [db, key, value] of expected) {
      const r = await raw(redis.url, db);
      try {
        expect(await r.keys('*')).toEqual([key]);
        expect(JSON.parse((await r.get(key))!)).toEqual(value);
      } finally {
        await r.quit();
      }
    }
  });

  /**
   * Another client's SET of `key`, landing while a change runs: sent at once on its own connection,
   * then a pause before the change returns, so Redis has it before the update's EXEC.
   */
  function writeMeanwhile(other: Redis, key: string, value: string): void {
    void other.set(key, value);
    const until = performance.now() + 20;
    while (performance.now() < until) {
      // busy: the change is synchronous
    }
  }

  it('updates of the same records through two stores at once all land (each read-change-write is atomic in Redis)', async () => {
    await flushRedis(redis.url);
    const a = await RedisStore.connect({ url: redis.url });
    const b = await RedisStore.connect({ url: redis.url });
    opened.push(a, b);
    const ids = ['c0', 'c1', 'c2', 'c3', 'c4'];
    await a.components.putMany(ids.map((id) => booted(id, { retry_policy: 0 })));
    // One store tracks (its listing started tracking), the other does not: both write paths meet.
    await a.components.listShared();
    const bump = (store: RedisStore, n: number) =>
      Array.from({ length: n }, (_, i) => {
        const some = ids.filter((_, j) => (i + j) % 2 === 0);
        return store.components.update(some, (c) => ({ ...c!, retry_policy: c!.retry_policy! + 1 }));
      });
    const written = await Promise.all([...bump(a, 150), ...bump(b, 150)]);
    expect(written.flat().every((c) => c && c.retry_policy! > 0)).toBe(true);
    const expected = ids.map((_, j) => 2 * Array.from({ length: 150 }, (_, i) => i).filter((i) => (i + j) % 2 === 0).length);
    for (const store of [a, b]) expect((await store.components.getMany(ids)).map((c) => c!.retry_policy)).toEqual(expected);
  });

  it('a change whose records another client writes before the update writes runs again on the new value', async () => {
    for (const tracked of [false, true]) {
      await flushRedis(redis.url);
      const s = await RedisStore.connect({ url: redis.url });
      opened.push(s);
      await s.components.putMany([booted('x1', { error: '' })]);
      if (tracked) await s.components.listShared();
      const other = await raw(redis.url, 1);
      const seen: (string | undefined)[] = [];
      try {
        const [out] = await s.components.update(['x1'], (c) => {
          seen.push(c!.error);
          if (seen.length === 1) writeMeanwhile(other, 'x1', JSON.stringify(booted('x1', { error: 'by another client' })));
          return { ...c!, session: 'mine' };
        });
        expect(out!.error).toBe('by another client');
      } finally {
        await other.quit();
      }
      // The first run's write was refused (another write landed after the read); the second ran on that write.
      expect(seen).toEqual(['', 'by another client']);
      expect(await s.components.get('x1')).toMatchObject({ error: 'by another client', session: 'mine' });
    }
  });

  it('an update that loses to other writers on every attempt fails with a 503 saying to repeat it, writing nothing', async () => {
    await flushRedis(redis.url);
    const s = await RedisStore.connect({ url: redis.url });
    opened.push(s);
    await s.components.putMany([booted('x1')]);
    const other = await raw(redis.url, 1);
    let runs = 0;
    try {
      const err = await s.components
        .update(['x1'], (c) => {
          runs++;
          writeMeanwhile(other, 'x1', JSON.stringify(booted('x1', { error: `other ${runs}` })));
          return { ...c!, session: 'mine' };
        })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreUnavailableError);
      expect((err as Error).name).toBe('StoreConflictError');
      expect((err as Error).message).toMatch(/kept being changed by other writers .* nothing was written: repeat the request/);
      expect(runs).toBe(30);
      let tplRuns = 0;
      const tpl = await s.templates.update('', 't', async () => {
        await other.select(2);
        await other.set(upstreamKey('', 't'), JSON.stringify({ ...template('t', 'other'), description: `run ${++tplRuns}` }));
        await other.select(1);
        return template('t', null);
      }).catch((e: unknown) => e);
      expect((tpl as Error).name).toBe('StoreConflictError');
      expect(tplRuns).toBe(30);
    } finally {
      await other.quit();
    }
    expect((await s.components.get('x1'))!.session).toBe('sess-1');
  });

  it('a shared connection that ended (stopped reconnecting) is replaced at its next use', async () => {
    await flushRedis(redis.url);
    const s = await RedisStore.connect({ url: redis.url });
    opened.push(s);
    await s.putOptions({ a: 1 });
    const conn = (s as unknown as { conn: { client(db: number): Promise<Redis> } }).conn;
    const first = await conn.client(0);
    first.disconnect(); // ends it for good, as ioredis does when a Sentinel lookup is cut short
    await new Promise((r) => setTimeout(r, 20));
    expect(first.status).toBe('end');
    expect(await s.getOptions()).toEqual({ a: 1 });
    expect(await conn.client(0)).not.toBe(first);
  });

  it('listings see writes and deletions made by another process at once (the listing cache)', async () => {
    await flushRedis(redis.url);
    const a = await RedisStore.connect({ url: redis.url });
    const b = await RedisStore.connect({ url: redis.url });
    opened.push(a, b);
    const recs = Array.from({ length: 1_500 }, (_, i) => booted(`x${1000 + i}c0s0b0n0`));
    await a.components.putMany(recs);
    expect(await a.components.listShared()).toEqual(recs);
    expect(await a.components.list()).toEqual(recs);
    // Another store (another server process) changes, adds and deletes records.
    await b.components.putMany([{ ...recs[3]!, session: 'other', enabled: false }, booted('x9999c0s0b0n0')]);
    await b.components.delete(recs[4]!.id);
    const want = [...recs.slice(0, 3), { ...recs[3]!, session: 'other', enabled: false }, ...recs.slice(5), booted('x9999c0s0b0n0')];
    expect(await a.components.listShared()).toEqual(want);
    expect(await a.components.list()).toEqual(want);
    expect(await a.components.listShared({ filter: (c) => c.session === 'other' })).toEqual([want[3]]);
    // A change that keeps the value's length is seen too; so is a value written by another client.
    const r1 = await raw(redis.url, 1);
    try {
      await r1.set(recs[0]!.id, JSON.stringify({ ...recs[0]!, session: 'sessionX' }).replace('"sessionX"', '"sessionY"'));
      await r1.set(recs[1]!.id, JSON.stringify({ ...recs[1]!, session: recs[1]!.session!.replace(/.$/, 'Z') }));
      const listed = await a.components.listShared({ limit: 2 });
      expect(listed.map((c) => c.session)).toEqual(['sessionY', recs[1]!.session!.replace(/.$/, 'Z')]);
      await r1.set(recs[0]!.id, JSON.stringify({ ...recs[0]!, session: 'sessionW' }));
      expect((await a.components.listShared()).slice(0, 2).map((c) => c.session)).toEqual(['sessionW', recs[1]!.session!.replace(/.$/, 'Z')]);
      expect((await a.components.list()).slice(0, 2).map((c) => c.session)).toEqual(['sessionW', recs[1]!.session!.replace(/.$/, 'Z')]);
      // Everything gone: the listing is empty and the cache lets go of every record.
      await r1.flushdb();
    } finally {
      await r1.quit();
    }
    expect(await a.components.listShared()).toEqual([]);
    expect((a.components as unknown as { cache: { size: number } }).cache.size).toBe(0);
  });

  it('the listing cache stays true when its tracking connections are killed, and tracks again', async () => {
    await flushRedis(redis.url);
    const a = await RedisStore.connect({ url: redis.url });
    const b = await RedisStore.connect({ url: redis.url });
    opened.push(a, b);
    const recs = Array.from({ length: 50 }, (_, i) => booted(`x${1000 + i}c0s0b0n0`));
    await a.components.putMany(recs);
    expect(await a.components.listShared()).toEqual(recs);
    const admin = await raw(redis.url, 0);
    try {
      const tracked = async () => ((await admin.client('LIST')) as string).split('\n').filter((l) => /flags=\S*t/.test(l) || /sub=1/.test(l));
      // The tracked connection (reads and writes, broadcast mode) and the invalidation subscriber.
      expect((await tracked()).length).toBe(2);
      for (const line of await tracked()) await admin.client('KILL', 'ID', /\bid=(\d+)/.exec(line)![1]!);
      // Changes made while nothing tracks them are still seen.
      for (let i = 0; i < 5; i++) {
        await b.components.putMany([{ ...recs[i * 7]!, session: `round-${i}` }]);
        const got = await a.components.listShared();
        expect(got[i * 7]!.session).toBe(`round-${i}`);
        expect(got).toHaveLength(recs.length);
      }
      expect((await tracked()).length).toBe(2);
    } finally {
      await admin.quit();
    }
  });

  it('listings racing with writes by another process end up with what Redis holds', async () => {
    await flushRedis(redis.url);
    const a = await RedisStore.connect({ url: redis.url });
    const b = await RedisStore.connect({ url: redis.url });
    opened.push(a, b);
    const ids = Array.from({ length: 3_000 }, (_, i) => `x${1000 + i}c0s0b0n0`);
    await b.components.putMany(ids.map((id) => booted(id)));
    let writing = true;
    const writer = (async () => {
      for (let round = 0; round < 150; round++) {
        const some = ids.filter((_, i) => (i * 7 + round) % 53 === 0);
        await b.components.putMany(some.map((id) => booted(id, { session: `s${round}` })));
        if (round % 10 === 0) await b.components.delete(ids[round]!);
      }
      writing = false;
    })();
    let listings = 0;
    while (writing) {
      await a.components.listShared();
      listings++;
    }
    await writer;
    expect(listings).toBeGreaterThan(1);
    const truth = await b.components.getMany(await b.components.ids());
    expect(await a.components.listShared()).toEqual(truth);
    expect(await a.components.list()).toEqual(truth);
  });

  it('writes of the same components by two processes at once, with listings between, end up with what Redis holds in both', async () => {
    await flushRedis(redis.url);
    const a = await RedisStore.connect({ url: redis.url });
    const b = await RedisStore.connect({ url: redis.url });
    opened.push(a, b);
    const ids = Array.from({ length: 600 }, (_, i) => `x${1000 + i}c0s0b0n0`);
    await a.components.putMany(ids.map((id) => booted(id)));
    await Promise.all([a.components.listShared(), b.components.listShared()]); // both track
    const writer = (store: RedisStore, name: string) => async () => {
      for (let round = 0; round < 60; round++) {
        const some = ids.filter((_, i) => (i * 5 + round) % 7 === 0);
        await store.components.putMany(some.map((id) => booted(id, { session: `${name}${round}` })));
        if (round % 3 === 0) await store.components.listShared();
        if (round % 20 === 0) await store.components.getMany(some.slice(0, 50));
      }
    };
    await Promise.all([writer(a, 'a')(), writer(b, 'b')()]);
    const admin = await raw(redis.url, 1);
    const truth = (await admin.mget(ids)).map((v) => JSON.parse(v!));
    await admin.quit();
    for (const store of [a, b]) {
      expect(await store.components.listShared()).toEqual(truth);
      expect(await store.components.getMany(ids)).toEqual(truth);
    }
  });

  it('lists correctly by comparing values when Redis refuses tracking (a user without CLIENT)', async () => {
    await flushRedis(redis.url);
    const admin = await raw(redis.url, 0);
    try {
      await admin.acl('SETUSER', 'no-client', 'on', '>no-client-pw', '~*', '&*', '+@all', '-client');
      const a = await RedisStore.connect({ url: redis.url.replace('redis://', 'redis://no-client:no-client-pw@') });
      const b = await RedisStore.connect({ url: redis.url });
      opened.push(a, b);
      const recs = Array.from({ length: 1_200 }, (_, i) => booted(`x${1000 + i}c0s0b0n0`));
      await b.components.putMany(recs);
      const first = await a.components.listShared();
      expect(first).toEqual(recs);
      await b.components.putMany([{ ...recs[9]!, session: 'moved' }]);
      await b.components.delete(recs[10]!.id);
      const second = await a.components.listShared();
      expect(second[9]!.session).toBe('moved');
      expect(second.map((c) => c.id)).not.toContain(recs[10]!.id);
      expect(second[0]).toBe(first[0]); // unchanged text: the cached record
      const cache = (a.components as unknown as { cache: { size: number } }).cache;
      expect(cache.size).toBe(recs.length - 1);
      expect((a.components as unknown as { tracking: unknown }).tracking).toBeNull();
    } finally {
      await admin.acl('DELUSER', 'no-client');
      await admin.quit();
    }
  });

  it('a listing after a write through the same store uses the records as written, unless another process wrote since', async () => {
    await flushRedis(redis.url);
    const a = await RedisStore.connect({ url: redis.url });
    const b = await RedisStore.connect({ url: redis.url });
    opened.push(a, b);
    const entries = (a.components as unknown as { cache: { entries: Map<string, { rec: Component }> } }).cache.entries;
    const recs = Array.from({ length: 1_500 }, (_, i) => booted(`x${1000 + i}c0s0b0n0`));
    await a.components.putMany(recs);
    await b.components.putMany([{ ...recs[3]!, session: 'by-b' }]);
    const written = recs.map((c) => entries.get(c.id)?.rec);
    expect(written.every((r, i) => r !== undefined && r !== recs[i])).toBe(true); // copies, held before any listing
    const listed = await a.components.listShared();
    expect(listed).toHaveLength(recs.length);
    expect(listed[3]).toMatchObject({ id: recs[3]!.id, session: 'by-b' });
    expect(listed.filter((c, i) => i !== 3).every((c) => c === written[recs.findIndex((r) => r.id === c.id)])).toBe(true);
    expect(await a.components.list()).toEqual(await b.components.list());
  });

  it('while tracking runs, its own writes stay cached as current: listings and reads after them fetch nothing, and still see writes made elsewhere', async () => {
    await flushRedis(redis.url);
    const a = await RedisStore.connect({ url: redis.url });
    const b = await RedisStore.connect({ url: redis.url });
    opened.push(a, b);
    const admin = await raw(redis.url, 1);
    const calls = async () => ({ mget: await commandCalls(admin, 'mget'), scan: await commandCalls(admin, 'scan') });
    try {
      const recs = Array.from({ length: 1_200 }, (_, i) => booted(`x${1000 + i}c0s0b0n0`));
      await b.components.putMany(recs);
      expect(await a.components.listShared()).toEqual(recs); // tracking starts with the first listing
      // a rewrites every record and creates one: the next listing and reads by id ask Redis for no value and scan nothing
      const rewritten = recs.map((c) => ({ ...c, session: 'by-a' }));
      const created = booted('x0999c0s0b0n0');
      await a.components.putMany([...rewritten, created]);
      const before = await calls();
      const listed = await a.components.listShared();
      expect(listed).toEqual([created, ...rewritten]);
      expect(await a.components.getMany(recs.map((c) => c.id))).toEqual(rewritten);
      expect(await calls()).toEqual(before);
      // b writes one, deletes one, creates one: a sees all three (fetching only what changed)
      await b.components.putMany([{ ...recs[5]!, session: 'by-b' }, booted('x0998c0s0b0n0')]);
      await b.components.delete(recs[6]!.id);
      const after = await a.components.listShared();
      expect(after.map((c) => c.id)).toEqual(['x0998c0s0b0n0', created.id, ...recs.map((c) => c.id).filter((id) => id !== recs[6]!.id)]);
      expect(after.find((c) => c.id === recs[5]!.id)!.session).toBe('by-b');
      expect(after.filter((c) => c.session === 'by-a')).toHaveLength(recs.length - 2);
      expect((await calls()).mget - before.mget).toBeLessThanOrEqual(2);
      expect(await a.components.list()).toEqual(await b.components.list());
    } finally {
      await admin.quit();
    }
  });

  it('reads by id what a listing has just read without asking Redis again, and still sees writes made anywhere', async () => {
    await flushRedis(redis.url);
    const a = await RedisStore.connect({ url: redis.url });
    const b = await RedisStore.connect({ url: redis.url });
    opened.push(a, b);
    const admin = await raw(redis.url, 1);
    const mgets = () => commandCalls(admin, 'mget');
    try {
      const recs = Array.from({ length: 1_200 }, (_, i) => booted(`x${1000 + i}c0s0b0n0`));
      await b.components.putMany(recs);
      const listed = await a.components.listShared();
      const ids = recs.map((c) => c.id);
      const before = await mgets();
      const shared = await a.components.getManyShared(ids);
      const copies = await a.components.getMany([...ids, 'x9']);
      expect(await mgets()).toBe(before + 1); // only the unknown id x9 was fetched
      expect(shared.every((c, i) => c === listed[i])).toBe(true);
      expect(copies.slice(0, -1)).toEqual(recs);
      expect(copies[ids.length]).toBeUndefined();
      expect(copies.every((c, i) => i === ids.length || c !== listed[i])).toBe(true);
      copies[0]!.session = 'changed-in-a-copy';
      expect((await a.components.getMany([ids[0]!]))[0]!.session).toBe(recs[0]!.session);
      // Written elsewhere, or deleted: Redis says so, and the read goes to Redis.
      await b.components.putMany([{ ...recs[5]!, session: 'by-b' }]);
      await b.components.delete(ids[6]!);
      const after = await a.components.getMany(ids.slice(4, 8));
      expect(after.map((c) => c?.session)).toEqual([recs[4]!.session, 'by-b', undefined, recs[7]!.session]);
      expect((await a.components.getManyShared([ids[5]!]))[0]!.session).toBe('by-b');
    } finally {
      await admin.quit();
    }
  });

  it('the listing cache drops ids deleted anywhere, also after a listing from startAfter', async () => {
    await flushRedis(redis.url);
    const a = await RedisStore.connect({ url: redis.url });
    const b = await RedisStore.connect({ url: redis.url });
    opened.push(a, b);
    const cache = (a.components as unknown as { cache: { size: number } }).cache;
    await b.components.putMany(['x1', 'x2', 'x3', 'x4'].map((id) => booted(id)));
    expect((await a.components.listShared()).map((c) => c.id)).toEqual(['x1', 'x2', 'x3', 'x4']);
    expect(cache.size).toBe(4);
    await b.components.delete('x1');
    await b.components.delete('x3');
    // A listing from x2 saw every id after x2: x3 goes; x1 (before it) stays until a full listing.
    expect((await a.components.listShared({ startAfter: 'x2' })).map((c) => c.id)).toEqual(['x4']);
    expect(cache.size).toBe(3);
    // A limited listing reads the ids in windows of at least 1,000: this one saw every id, so x1 goes too.
    expect((await a.components.listShared({ limit: 1 })).map((c) => c.id)).toEqual(['x2']);
    expect(cache.size).toBe(2);
    expect((await a.components.listShared()).map((c) => c.id)).toEqual(['x2', 'x4']);
    expect(cache.size).toBe(2);
  });

  it('paged listings look up the few keys written since among the components instead of scanning again, in any database', async () => {
    await flushRedis(redis.url);
    const a = await RedisStore.connect({ url: redis.url });
    const b = await RedisStore.connect({ url: redis.url });
    opened.push(a, b);
    const admin = await raw(redis.url, 1);
    const scans = () => commandCalls(admin, 'scan');
    try {
      const ids = Array.from({ length: 2_000 }, (_, i) => `x${1000 + i}c0s0b0n0`);
      await b.components.putMany(ids.map((id) => booted(id)));
      const page = async (startAfter?: string) => (await a.components.listShared({ startAfter, limit: 500 })).map((c) => c.id);
      expect(await page()).toEqual(ids.slice(0, 500));
      const before = await scans();
      // Keys of other databases (a boot-artifact record, a session; one named like a component)
      // and a component created by another process, between pages.
      await b.bootArtifacts.put('token-1', { kernel: 'k', kernel_parameters: 'p', initrd: 'i', timestamp: 't' });
      await b.sessions.put('', 's1', { name: 's1' } as Session);
      await b.bootArtifacts.put('x1000c0s0b0n0b', { kernel: 'k', kernel_parameters: 'p', initrd: 'i', timestamp: 't' });
      await b.components.putMany([booted('x1000c0s0b0n0a')]);
      expect(await page('x1000c0s0b0n0')).toEqual(['x1000c0s0b0n0a', ...ids.slice(1, 500)]);
      expect(await page(ids[499])).toEqual(ids.slice(500, 1000));
      expect(await scans()).toBe(before); // looked up, not scanned
      // The name of another database's key becomes a component later: it is listed.
      await b.components.putMany([booted('x1000c0s0b0n0b')]);
      expect((await page('x1000c0s0b0n0a')).slice(0, 2)).toEqual(['x1000c0s0b0n0b', ids[1]]);
      // More new names than are looked up: one SCAN, and everything listed.
      const many = Array.from({ length: 1_100 }, (_, i) => `x9${i}c0s0b0n0`);
      await b.components.putMany(many.map((id) => booted(id)));
      const all = (await a.components.listShared()).map((c) => c.id);
      expect(all).toEqual(sortIds([...ids, 'x1000c0s0b0n0a', 'x1000c0s0b0n0b', ...many]));
      expect(await scans()).toBeGreaterThan(before);
      expect(await a.components.listShared()).toHaveLength(all.length);
    } finally {
      await admin.quit();
    }
  });

  it('paged listings reuse the id list until a component is created anywhere, and drop only what they looked at', async () => {
    await flushRedis(redis.url);
    const a = await RedisStore.connect({ url: redis.url });
    const b = await RedisStore.connect({ url: redis.url });
    opened.push(a, b);
    const cache = (a.components as unknown as { cache: { size: number } }).cache;
    const ids = Array.from({ length: 3_000 }, (_, i) => `x${1000 + i}c0s0b0n0`);
    await b.components.putMany(ids.map((id) => booted(id)));
    const page = async (startAfter?: string) => (await a.components.listShared({ startAfter, limit: 700 })).map((c) => c.id);
    expect(await a.components.listShared()).toHaveLength(3_000);
    expect(cache.size).toBe(3_000);
    expect(await page()).toEqual(ids.slice(0, 700));
    // Another process creates one id between this listing's pages and deletes two: the next page shows it.
    await b.components.putMany([booted('x1000c0s0b0n0a')]);
    await b.components.delete(ids[2_999]!);
    await b.components.delete(ids[1]!);
    expect(await page(ids[699])).toEqual(ids.slice(700, 1400));
    expect(await page('x1000c0s0b0n0')).toEqual(['x1000c0s0b0n0a', ...ids.slice(2, 701)]);
    // The pages did not see every id: only the deleted id a page looked at (still in the held id
    // list, its value gone) left the cache; the other stays until a full listing.
    expect(cache.size).toBe(3_000);
    const all = (await a.components.listShared()).map((c) => c.id);
    expect(all).toEqual(['x1000c0s0b0n0', 'x1000c0s0b0n0a', ...ids.slice(2, 2_999)]);
    expect(cache.size).toBe(2_999);
  });

  it('reads records written the way upstream writes them (Python json.dumps, non-ASCII escaped)', async () => {
    await flushRedis(redis.url);
    const r1 = await raw(redis.url, 1);
    const r3 = await raw(redis.url, 3);
    try {
      await r1.set('x1', '{"id": "x1", "enabled": true, "error": "caf\\u00e9", "status": {"phase": "powering_on", "status_override": ""}}');
      await r3.set(upstreamKey('', 's'), '{"name": "s", "tenant": null, "status": {"status": "running"}}');
      const s = await RedisStore.connect({ url: redis.url });
      opened.push(s);
      expect(await s.components.get('x1')).toEqual({ id: 'x1', enabled: true, error: 'café', status: { phase: 'powering_on', status_override: '' } });
      expect(await s.sessions.get('', 's')).toMatchObject({ name: 's', tenant: null });
      // A value that is not a JSON object is a data error (500), not an outage (503).
      await r1.set('x2', '[1, 2]');
      await expect(s.components.list()).rejects.toBeInstanceOf(StoreDataError);
      await r1.set('x2', 'not json');
      await expect(s.components.get('x2')).rejects.toThrow(/DB 1 key "x2"/);
    } finally {
      await r1.quit();
      await r3.quit();
    }
  });

  it('finds everything again after redis-server restarts (appendonly) and a new store connects', async () => {
    const persistent = await startRedis({ appendonly: true });
    try {
      const s1 = await RedisStore.connect({ url: persistent.url });
      await s1.components.putMany([booted('x1'), booted('x2', { enabled: false })]);
      await s1.templates.put('acme', 'tpl', template('tpl', 'acme'));
      await s1.sessions.put('', 's', session('s', null));
      await s1.putOptions({ default_retry_policy: 9 });
      await s1.bootArtifacts.put('tok', { kernel: 'k', kernel_parameters: 'p', initrd: 'i', timestamp: 't' });
      await s1.close();

      await persistent.restart();

      const s2 = await RedisStore.connect({ url: persistent.url });
      opened.push(s2);
      expect(await s2.components.ids()).toEqual(['x1', 'x2']);
      expect(await s2.components.get('x2')).toEqual(booted('x2', { enabled: false }));
      expect(await s2.templates.list()).toEqual([template('tpl', 'acme')]);
      expect(await s2.sessions.get('', 's')).toEqual(session('s', null));
      expect(await s2.getOptions()).toEqual({ default_retry_policy: 9 });
      expect(await s2.bootArtifacts.get('tok')).toEqual({ kernel: 'k', kernel_parameters: 'p', initrd: 'i', timestamp: 't' });
    } finally {
      await persistent.stop();
    }
  });

  it('fails with StoreUnavailableError naming the address (never the password) while Redis is down, and recovers', async () => {
    const password = 'pa55-word-xyz';
    const guarded = await startRedis({ password });
    try {
      const url = guarded.url.replace('redis://', `redis://:${password}@`);
      const s = await RedisStore.connect({ url });
      opened.push(s);
      await s.components.putMany([{ id: 'x1' }]);
      expect(await s.ping()).toBe(true);

      await guarded.kill();
      const err = await s.components.get('x1').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(StoreUnavailableError);
      const message = (err as Error).message;
      expect(message).toContain(`127.0.0.1:${guarded.port}`);
      expect(message).not.toContain(password);
      expect(message).toMatch(/check/i);
      await expect(s.templates.list()).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(s.putOptions({})).rejects.toBeInstanceOf(StoreUnavailableError);
      expect(await s.ping()).toBe(false);

      // No appendonly: the restarted server is empty, but the same store reconnects by itself.
      await guarded.restart();
      let back = false;
      for (let i = 0; i < 100 && !back; i++) back = await s.ping();
      expect(back).toBe(true);
      expect(await s.components.get('x1')).toBeUndefined();
    } finally {
      await guarded.stop();
    }
  });

  it('rejects connect with StoreUnavailableError when nothing listens or the password is wrong', async () => {
    const gone = await startRedis();
    const url = gone.url;
    await gone.stop();
    const e1 = await RedisStore.connect({ url, password: 'hunter2-secret' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(e1).toBeInstanceOf(StoreUnavailableError);
    expect((e1 as Error).message).toContain(url);
    expect((e1 as Error).message).not.toContain('hunter2-secret');

    const guarded = await startRedis({ password: 'right-one' });
    try {
      const e2 = await RedisStore.connect({ url: guarded.url, password: 'wrong-one' }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(e2).toBeInstanceOf(StoreUnavailableError);
      expect((e2 as Error).message).toMatch(/password/i);
      expect((e2 as Error).message).not.toContain('wrong-one');
      const ok = await RedisStore.connect({ url: guarded.url, password: 'right-one' });
      opened.push(ok);
      expect(await ok.ping()).toBe(true);
    } finally {
      await guarded.stop();
    }
  });

  it('speaks TLS with rediss:// (trusting the given CA) and says what to check when the certificate is not trusted', async () => {
    const secure = await startRedis({ tls: true, password: 'tls-pw' });
    try {
      const s = await RedisStore.connect({ url: secure.url, password: 'tls-pw', tlsCaFile: secure.caFile });
      opened.push(s);
      await s.components.putMany([{ id: 'x1', enabled: true }]);
      expect(await s.components.get('x1')).toEqual({ id: 'x1', enabled: true });
      expect(await s.ping()).toBe(true);

      const untrusted = await RedisStore.connect({ url: secure.url, password: 'tls-pw' }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(untrusted).toBeInstanceOf(StoreUnavailableError);
      expect((untrusted as Error).message).toMatch(/certificate/);
      expect((untrusted as Error).message).toMatch(/tlsCaFile/);

      const plain = await RedisStore.connect({ url: secure.url.replace('rediss://', 'redis://'), password: 'tls-pw', connectTimeoutSeconds: 2 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(plain).toBeInstanceOf(StoreUnavailableError);
      expect((plain as Error).message).toMatch(/rediss:\/\//);
      expect((plain as Error).message).not.toContain('tls-pw');
    } finally {
      await secure.stop();
    }
  });

  it('close() quits every connection it opened: one per logical DB used', async () => {
    await flushRedis(redis.url);
    const probe = await raw(redis.url, 0);
    try {
      const clients = async () => {
        const list = (await probe.client('LIST')) as string;
        return new Map(list.trim().split('\n').map((line) => [/\bid=(\d+)/.exec(line)![1]!, Number(/\bdb=(\d+)/.exec(line)![1])]));
      };
      const before = await clients();
      const s = await RedisStore.connect({ url: redis.url });
      await s.components.count();
      await s.templates.list();
      await s.bootArtifacts.get('t');
      await s.components.list();
      const mine = [...(await clients())].filter(([id]) => !before.has(id));
      // DB 1 three times: the listing also reads through a tracked connection (broadcast mode: Redis
      // reports every key written elsewhere) and hears of changes on another.
      expect(mine.map(([, db]) => db).sort()).toEqual([0, 1, 1, 1, 2, 4]);
      await s.close();
      let left = mine.length;
      for (let i = 0; i < 50 && left > 0; i++) {
        const now = await clients();
        left = mine.filter(([id]) => now.has(id)).length;
      }
      expect(left).toBe(0);
    } finally {
      await probe.quit();
    }
  });
});
