/**
 * Records kept per tenant in the Redis store (templates DB 2, sessions DB 3, saved session statuses
 * DB 5), under upstream's tenant-aware keys.
 */
import { tenantKey } from '../keys.js';
import type { TenantTable } from '../store.js';
import { updateValue } from './compare-and-set.js';
import { mgetAll, parseRecord, scanKeys, type Connections } from './connections.js';

export class RedisTenantTable<T> implements TenantTable<T> {
  constructor(
    private readonly conn: Connections,
    private readonly db: number,
  ) {}

  async get(tenant: string, name: string): Promise<T | undefined> {
    const key = tenantKey(tenant, name);
    const s = await this.conn.run(this.db, (r) => r.get(key));
    return s == null ? undefined : parseRecord<T>(this.db, key, s);
  }

  async put(tenant: string, name: string, value: T): Promise<void> {
    const text = JSON.stringify(value);
    await this.conn.write(this.db, (r) => r.set(tenantKey(tenant, name), text));
  }

  async update(tenant: string, name: string, change: (current: T | undefined) => T | undefined | Promise<T | undefined>): Promise<T | undefined> {
    const key = tenantKey(tenant, name);
    const stored = await updateValue(this.conn, this.db, key, `The record '${name}'`, async (text) => {
      const next = await change(text === null ? undefined : parseRecord<T>(this.db, key, text));
      return next === undefined ? undefined : JSON.stringify(next);
    });
    return stored === null ? undefined : parseRecord<T>(this.db, key, stored);
  }

  async delete(tenant: string, name: string): Promise<boolean> {
    const key = tenantKey(tenant, name);
    return (await this.conn.write(this.db, (r) => r.del(key))) > 0;
  }

  async list(): Promise<T[]> {
    const keys = await scanKeys(this.conn, this.db);
    const values = await mgetAll(this.conn, this.db, keys);
    const out: T[] = [];
    for (let i = 0; i < values.length; i++) {
      const s = values[i];
      if (s != null) out.push(parseRecord<T>(this.db, keys[i]!, s));
    }
    return out;
  }
}
