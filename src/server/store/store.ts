import type { BootArtifactsRecord, Component, ExtendedStatus, Session, SessionTemplate } from '../../common/types.js';

/**
 * Storage behind the BOS v2 API. Two implementations pass one contract suite
 * (test/server/store.contract.test.ts): in memory (the embedded default) and Redis (production).
 *
 * Ownership: every record a store returns is the caller's to mutate (a copy), and a record passed
 * in is copied by the store (the caller may keep mutating it).
 */
export interface Store {
  readonly kind: 'memory' | 'redis';
  components: ComponentTable;
  templates: TenantTable<SessionTemplate>;
  sessions: TenantTable<Session>;
  /** Saved extended status of completed sessions (Redis DB 5). */
  sessionStatus: TenantTable<ExtendedStatus>;
  /** The stored options object as it is (unknown keys included), or null when never written. */
  getOptions(): Promise<Record<string, unknown> | null>;
  putOptions(options: Record<string, unknown>): Promise<void>;
  /** Boot-artifact records keyed by BSS token (Redis DB 4): power-on writes them, the API reads them. */
  bootArtifacts: {
    get(token: string): Promise<BootArtifactsRecord | undefined>;
    put(token: string, record: BootArtifactsRecord): Promise<void>;
  };
  /** True when the backing store answers. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/** Which records a listing gives: see ComponentTable.list(). */
export interface ListOptions {
  startAfter?: string;
  filter?: (c: Component) => boolean;
  limit?: number;
}

/** What a component write is, for the change events published after it. */
export interface WriteMeta {
  /** `report`: a node's own actual-state report (only `actual_state` changed); otherwise a plain write. */
  op?: 'report';
  /**
   * The caller hands the records over: neither they nor anything in them is changed afterwards (they
   * may share parts with records the store holds, as mergeComponent() gives), so the store keeps
   * them instead of copies.
   */
  handover?: boolean;
}

export interface ComponentTable {
  get(id: string): Promise<Component | undefined>;
  /** Records for the given ids, in the same order; undefined where an id is unknown. */
  getMany(ids: readonly string[]): Promise<(Component | undefined)[]>;
  /** getMany() without the copies, under the same terms as listShared(): read them, never change them. */
  getManyShared(ids: readonly string[]): Promise<readonly (Component | undefined)[]>;
  /** Every id, sorted ascending by code point. */
  ids(): Promise<string[]>;
  /**
   * Records in ascending id order, optionally only ids strictly greater than `startAfter`, and
   * only those accepted by `filter`; stops after `limit` matches when limit > 0. `filter` may be
   * handed the store's own record (the memory store does): it must only read it, never change it.
   */
  list(opts?: ListOptions): Promise<Component[]>;
  /**
   * list() without the copies: the store's own record objects, to be read and never changed (the
   * caller does not own them). A record object stands for one stored value for as long as it lives:
   * after a write (through this store or, with Redis, by another process) later listings give that
   * id a new object. Values derived from a record, such as its output JSON, may therefore be cached
   * by object identity (a WeakMap), which is what makes repeated full listings cheap.
   */
  listShared(opts?: ListOptions): Promise<readonly Component[]>;
  /**
   * Write whole records (create or replace), all at once. `meta` describes the write for change
   * events. The records are copied in (changing them afterwards changes nothing stored), unless
   * `meta.handover` says they are the store's from now on.
   */
  putMany(records: readonly Component[], meta?: WriteMeta): Promise<void>;
  /** Remove a record; false when it did not exist. */
  delete(id: string): Promise<boolean>;
  count(): Promise<number>;
}

/**
 * Records that live in a per-tenant namespace (templates, sessions, saved statuses). `tenant` is the
 * tenant name or '' for none. Keys are tenant-aware: sha1hex(tenant) + '-' + sha1hex(name).
 */
export interface TenantTable<T> {
  get(tenant: string, name: string): Promise<T | undefined>;
  put(tenant: string, name: string, value: T): Promise<void>;
  /** Remove a record; false when it did not exist. */
  delete(tenant: string, name: string): Promise<boolean>;
  /** Every record of every tenant, ordered by key. */
  list(): Promise<T[]>;
}

/**
 * The backing store cannot be reached (connection refused, timed out, authentication rejected, Redis
 * still loading). The API answers 503 with this message; it names the store address (never a
 * password) and what to check.
 */
export class StoreUnavailableError extends Error {
  readonly statusCode = 503;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}

/** A stored value is not a JSON object (corrupt or foreign data): a server error, not a 503. */
export class StoreDataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreDataError';
  }
}
