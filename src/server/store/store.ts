import type { BootArtifactsRecord, Component, ExtendedStatus, Session, SessionTemplate, StoredComponent } from '../../common/types.js';

/**
 * Storage behind the BOS v2 API. Two implementations pass one contract suite
 * (test/server/store.contract.test.ts): in memory (the embedded default) and Redis (production).
 *
 * Ownership: every record a store returns is the caller's to mutate (a copy), and a record passed
 * in is copied by the store (the caller may keep mutating it), except where a method says otherwise
 * (the shared reads, records handed over, the records a change is given and returns).
 *
 * Many processes, one truth: every write that reads a stored value and writes it back (update(),
 * the options and tenant-table updates) is atomic in the backing store, against writers in this
 * process and in every other one; what a process keeps in memory (the Redis listing cache) never
 * makes a read older than a write that completed before it began (docs/store.md).
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
  /**
   * Read, change and write the options atomically: `change` gets the stored object (null when never
   * written) and gives the object to store, or undefined to leave it as it is. It may be called again
   * when another writer changed the options meanwhile. Resolves to the options stored afterwards.
   */
  updateOptions(change: (current: Record<string, unknown> | null) => Record<string, unknown> | undefined): Promise<Record<string, unknown> | null>;
  /** Boot-artifact records keyed by BSS token (Redis DB 4): power-on writes them, the API reads them. */
  bootArtifacts: {
    get(token: string): Promise<BootArtifactsRecord | undefined>;
    put(token: string, record: BootArtifactsRecord): Promise<void>;
  };
  /** True when the backing store answers. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
  /** What the store can tell about itself without a request, for the metrics (the Redis store only). */
  stats?(): StoreStats;
}

export interface StoreStats {
  /** The component listing cache: records held, and reads that used a cached record or parsed one. */
  listingCache?: { records: number; hits: number; misses: number };
  /** Every open connection is ready (false while one connects or reconnects). */
  connected?: boolean;
}

/** Which records a listing gives: see ComponentTable.list(). */
export interface ListOptions {
  startAfter?: string;
  filter?: (c: StoredComponent) => boolean;
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

/**
 * What a change makes of one component (ComponentTable.update): given the stored record (undefined
 * when there is none; the store's own record, to be read and never changed) and its id, the record to
 * write (a new object handed over to the store: it may share parts with the stored record, as
 * mergeComponent() gives, and nothing changes it afterwards; its id is the id), null to delete it, or
 * undefined to leave it as it is. It may be called more than once for an id (again when another
 * writer changed the record meanwhile): it must not have other effects, except to note what it
 * decided, which the last call overwrites.
 */
export type ComponentChange = (current: StoredComponent | undefined, id: string) => Component | null | undefined;

/** Components changed together, atomically as a whole, by one update (a longer list is changed in groups of this size). */
export const UPDATE_GROUP = 250;

export interface ComponentTable {
  get(id: string): Promise<Component | undefined>;
  /** Records for the given ids, in the same order; undefined where an id is unknown. */
  getMany(ids: readonly string[]): Promise<(Component | undefined)[]>;
  /** getMany() without the copies, under the same terms as listShared(): read them, never change them. */
  getManyShared(ids: readonly string[]): Promise<readonly (StoredComponent | undefined)[]>;
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
  listShared(opts?: ListOptions): Promise<readonly StoredComponent[]>;
  /**
   * Read, change and write components: `change` is called for each of `ids` (distinct) with the
   * stored record, and what it gives is written. Each record's read-change-write is atomic (no write
   * by anyone else lands between the read `change` is given and the write of what it gives), and up
   * to UPDATE_GROUP records are changed together, all written or none; a longer list is changed in
   * groups of that size, one after the other. Changes made through one store are applied in the
   * order they were asked for. An exception thrown by `change` rejects the update: nothing of its
   * group is written (groups before it are). Resolves, per id in order, to what was written: the
   * record, null (deleted) or undefined (left as it was). `meta` describes the write for change events.
   */
  update(ids: readonly string[], change: ComponentChange, meta?: WriteMeta): Promise<(Component | null | undefined)[]>;
  /**
   * Write whole records (create or replace), all at once, whatever is stored. `meta` describes the
   * write for change events. The records are copied in (changing them afterwards changes nothing
   * stored), unless `meta.handover` says they are the store's from now on.
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
  /**
   * Read, change and write one record atomically: `change` gets the stored record (undefined when
   * there is none; the caller's to change) and gives the record to store, or undefined to leave it as
   * it is. It may run again (it may be asynchronous) when another writer changed the record meanwhile;
   * an exception thrown by it rejects the update, with nothing written. Resolves to the record stored
   * afterwards.
   */
  update(tenant: string, name: string, change: (current: T | undefined) => T | undefined | Promise<T | undefined>): Promise<T | undefined>;
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

/** How many times an atomic update is tried when other writers keep changing what it read. */
export const UPDATE_ATTEMPTS = 30;

/**
 * The records an atomic update read kept being changed by other writers, on every attempt of a
 * bounded number: answered 503, so the caller repeats the request.
 */
export class StoreConflictError extends StoreUnavailableError {
  constructor(what: string, attempts: number) {
    super(`${what} kept being changed by other writers while this request was applying its change (${attempts} attempts); nothing was written: repeat the request`);
    this.name = 'StoreConflictError';
  }
}

/** A stored value is not a JSON object (corrupt or foreign data): a server error, not a 503. */
export class StoreDataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreDataError';
  }
}
