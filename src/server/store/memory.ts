import type { BootArtifactsRecord, Component, ExtendedStatus, Session, SessionTemplate } from '../../common/types.js';
import { StoreConflictError, UPDATE_ATTEMPTS, UPDATE_GROUP, type ComponentChange, type ComponentTable, type ListOptions, type Store, type TenantTable, type WriteMeta } from './store.js';
import { runChanges } from './component-change.js';
import { held } from './freeze.js';
import { tenantKey } from './keys.js';
import { copyJson } from '../../common/copy.js';

export { copyJson };

class MemoryComponents implements ComponentTable {
  private readonly records = new Map<string, Component>();
  private sorted: string[] | null = null;

  private sortedIds(): string[] {
    if (!this.sorted) this.sorted = sortIds([...this.records.keys()]);
    return this.sorted;
  }

  async get(id: string) {
    const r = this.records.get(id);
    return r ? copyJson(r) : undefined;
  }
  async getMany(ids: readonly string[]) {
    return ids.map((id) => {
      const r = this.records.get(id);
      return r ? copyJson(r) : undefined;
    });
  }
  async getManyShared(ids: readonly string[]) {
    return ids.map((id) => this.records.get(id));
  }
  async ids() {
    return [...this.sortedIds()];
  }
  async list(opts: ListOptions = {}) {
    return this.visit(opts).map(copyJson);
  }
  /** Every write stores a new object (a copy, or records handed over), so a record object never changes. */
  async listShared(opts: ListOptions = {}) {
    return this.visit(opts);
  }
  private visit(opts: ListOptions): Component[] {
    const ids = this.sortedIds();
    let i = 0;
    if (opts.startAfter !== undefined) i = upperBound(ids, opts.startAfter);
    const out: Component[] = [];
    const limit = opts.limit && opts.limit > 0 ? opts.limit : Infinity;
    for (; i < ids.length && out.length < limit; i++) {
      const r = this.records.get(ids[i]!)!;
      if (!opts.filter || opts.filter(r)) out.push(r);
    }
    return out;
  }
  /** Each group read, changed and written in one synchronous step: nothing else runs in between. */
  async update(ids: readonly string[], change: ComponentChange) {
    const written: (Component | null | undefined)[] = [];
    for (let from = 0; from < ids.length; from += UPDATE_GROUP) {
      const run = runChanges([{ ids: ids.slice(from, from + UPDATE_GROUP), change }], (id) => this.records.get(id));
      const outcome = run.outcomes[0]!;
      if (!outcome.ok) throw outcome.error;
      for (const [id, rec] of run.writes) {
        if (rec === null) {
          if (this.records.delete(id)) this.sorted = null;
        } else {
          if (!this.records.has(id)) this.sorted = null;
          this.records.set(id, held(rec));
        }
      }
      written.push(...outcome.written);
    }
    return written;
  }
  async putMany(records: readonly Component[], meta?: WriteMeta) {
    const byId = new Map((meta?.handover ? records : records.map(copyJson)).map((r) => [r.id, r]));
    await this.update([...byId.keys()], (_cur, id) => byId.get(id));
  }
  async delete(id: string) {
    const [written] = await this.update([id], (rec) => (rec ? null : undefined));
    return written === null;
  }
  async count() {
    return this.records.size;
  }
}

class MemoryTenantTable<T> implements TenantTable<T> {
  private readonly records = new Map<string, T>();
  async get(tenant: string, name: string) {
    const r = this.records.get(tenantKey(tenant, name));
    return r === undefined ? undefined : copyJson(r);
  }
  async put(tenant: string, name: string, value: T) {
    this.records.set(tenantKey(tenant, name), copyJson(value));
  }
  /** Compare-and-set, as the Redis store does: `change` may wait, and runs again when the record changed meanwhile. */
  async update(tenant: string, name: string, change: (current: T | undefined) => T | undefined | Promise<T | undefined>) {
    const key = tenantKey(tenant, name);
    for (let attempt = 1; attempt <= UPDATE_ATTEMPTS; attempt++) {
      const before = this.records.get(key);
      const next = await change(before === undefined ? undefined : copyJson(before));
      if (this.records.get(key) !== before) continue;
      if (next === undefined) return before === undefined ? undefined : copyJson(before);
      this.records.set(key, copyJson(next));
      return copyJson(next);
    }
    throw new StoreConflictError(`The record '${name}'`, UPDATE_ATTEMPTS);
  }
  async delete(tenant: string, name: string) {
    return this.records.delete(tenantKey(tenant, name));
  }
  async list() {
    return sortIds([...this.records.keys()]).map((k) => copyJson(this.records.get(k)!));
  }
}

/**
 * Code-point order, as Python string sorting gives (and UTF-8 byte order). JavaScript's `<` compares
 * UTF-16 code units, which puts characters above U+FFFF (surrogate pairs) before U+E000..U+FFFF;
 * the first differing unit is remapped so surrogates sort last.
 */
export function compareIds(a: string, b: string): number {
  if (a === b) return 0;
  const n = a.length < b.length ? a.length : b.length;
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x < y ? -1 : 1;
  }
  return a.length < b.length ? -1 : 1;
}

/**
 * Sort ids in place by code point. The default sort (UTF-16 order) is several times faster and gives
 * the same order unless an id holds a character at or above U+D800, so it is used when none does.
 */
export function sortIds(ids: string[]): string[] {
  for (const id of ids) if (HIGH_UNITS.test(id)) return ids.sort(compareIds);
  return ids.sort();
}
const HIGH_UNITS = /[\uD800-\uFFFF]/;

/** Index of the first element strictly greater than `key` in an array sorted by compareIds. */
export function upperBound(sorted: readonly string[], key: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareIds(sorted[mid]!, key) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The embedded default store: everything in this process's memory. */
export class MemoryStore implements Store {
  readonly kind = 'memory' as const;
  readonly components = new MemoryComponents();
  readonly templates = new MemoryTenantTable<SessionTemplate>();
  readonly sessions = new MemoryTenantTable<Session>();
  readonly sessionStatus = new MemoryTenantTable<ExtendedStatus>();
  private options: Record<string, unknown> | null = null;
  private readonly artifacts = new Map<string, BootArtifactsRecord>();

  readonly bootArtifacts = {
    get: async (token: string) => {
      const r = this.artifacts.get(token);
      return r ? { ...r } : undefined;
    },
    put: async (token: string, record: BootArtifactsRecord) => {
      this.artifacts.set(token, { ...record });
    },
  };

  async getOptions() {
    return this.options ? copyJson(this.options) : null;
  }
  async putOptions(options: Record<string, unknown>) {
    this.options = copyJson(options);
  }
  async updateOptions(change: (current: Record<string, unknown> | null) => Record<string, unknown> | undefined) {
    const next = change(this.options ? copyJson(this.options) : null);
    if (next !== undefined) this.options = copyJson(next);
    return this.options ? copyJson(this.options) : null;
  }
  async ping() {
    return true;
  }
  async close() {}
}
