import type { Store, TenantTable } from '../server/store/store.js';
import type { ChangeBus, ChangeKind } from './bus.js';

/**
 * A Store that publishes a change event after every successful write, whatever the store behind it.
 * The API server runs on it so that operators anywhere (same process or through Redis pub/sub) wake
 * as soon as there is something to do.
 */
export function withChangeEvents(store: Store, bus: ChangeBus): Store {
  const tenantTable = <T>(table: TenantTable<T>, kind: ChangeKind): TenantTable<T> => ({
    get: (t, n) => table.get(t, n),
    list: () => table.list(),
    put: async (t, n, v) => {
      await table.put(t, n, v);
      bus.publish({ kind, op: 'put', name: n });
    },
    update: async (t, n, change) => {
      let wrote = false;
      const out = await table.update(t, n, async (cur) => {
        const next = await change(cur);
        wrote = next !== undefined;
        return next;
      });
      if (wrote) bus.publish({ kind, op: 'put', name: n });
      return out;
    },
    delete: async (t, n) => {
      const had = await table.delete(t, n);
      if (had) bus.publish({ kind, op: 'delete', name: n });
      return had;
    },
  });
  const c = store.components;
  return {
    kind: store.kind,
    components: {
      get: (id) => c.get(id),
      getMany: (ids) => c.getMany(ids),
      getManyShared: (ids) => c.getManyShared(ids),
      ids: () => c.ids(),
      list: (opts) => c.list(opts),
      listShared: (opts) => c.listShared(opts),
      count: () => c.count(),
      update: async (ids, change, meta) => {
        const written = await c.update(ids, change, meta);
        const put = written.filter((w) => w).length;
        const deleted = written.filter((w) => w === null).length;
        if (put > 0) bus.publish({ kind: 'components', op: meta?.op ?? 'put', count: put });
        if (deleted > 0) bus.publish({ kind: 'components', op: 'delete', count: deleted });
        return written;
      },
      putMany: async (records, meta) => {
        await c.putMany(records, meta);
        if (records.length > 0) bus.publish({ kind: 'components', op: meta?.op ?? 'put', count: records.length });
      },
      delete: async (id) => {
        const had = await c.delete(id);
        if (had) bus.publish({ kind: 'components', op: 'delete' });
        return had;
      },
    },
    templates: tenantTable(store.templates, 'templates'),
    sessions: tenantTable(store.sessions, 'sessions'),
    sessionStatus: store.sessionStatus,
    getOptions: () => store.getOptions(),
    putOptions: async (o) => {
      await store.putOptions(o);
      bus.publish({ kind: 'options', op: 'put' });
    },
    updateOptions: async (change) => {
      let wrote = false;
      const out = await store.updateOptions((cur) => {
        const next = change(cur);
        wrote = next !== undefined;
        return next;
      });
      if (wrote) bus.publish({ kind: 'options', op: 'put' });
      return out;
    },
    bootArtifacts: store.bootArtifacts,
    ping: () => store.ping(),
    close: () => store.close(),
    ...(store.stats && { stats: () => store.stats!() }),
  };
}
