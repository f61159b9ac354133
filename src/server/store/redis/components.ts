/**
 * The components of the Redis store (DB 1, one JSON value per component id): reads and listings
 * through the listing cache and tracking, writes through the component writer (docs/store.md).
 */
import type { Component } from '../../../common/types.js';
import { copyJson, sortIds, upperBound } from '../memory.js';
import type { ComponentChange, ComponentTable, ListOptions, WriteMeta } from '../store.js';
import { REDIS_DB } from '../keys.js';
import { MGET_BATCH, mgetAll, noop, parseRecord, scanKeys, type Connections } from './connections.js';
import { ListingCache } from './listing-cache.js';
import { held } from '../freeze.js';
import { shareStates } from '../../record-json.js';
import { Tracking, TRACKING_RETRY_MS } from './tracking.js';
import { ComponentWriter } from './component-writes.js';

/** Batches in flight while a limited listing looks for its first matches. */
const LIMITED_WINDOW = 4;
/**
 * Batches in flight during an unlimited listing. A few suffice to keep Redis busy, and replies
 * handled soon after they arrive are collected young (all at once, 100k values waited in memory
 * and the garbage collection cost more than the parsing the listing cache saves).
 */
const UNLIMITED_WINDOW = 8;

export class RedisComponents implements ComponentTable {
  private readonly db = REDIS_DB.components;
  readonly cache = new ListingCache();
  private tracking: Tracking | null = null;
  private trackingStart: Promise<Tracking | null> | null = null;
  private trackingRefusedAt = -Infinity;
  private readonly writer: ComponentWriter;
  constructor(private readonly conn: Connections) {
    this.writer = new ComponentWriter(conn, this.db, this.cache, () => this.tracking);
  }

  /** The running Tracking, started when there is none; null while Redis refuses it. */
  private async tracker(): Promise<Tracking | null> {
    if (this.tracking?.active) return this.tracking;
    if (Date.now() - this.trackingRefusedAt < TRACKING_RETRY_MS) return null;
    this.trackingStart ??= Tracking.start(this.conn, this.db, this.cache, (lost) => {
      if (this.tracking === lost) this.tracking = null;
    }).then((t) => {
      this.trackingStart = null;
      this.tracking = t;
      if (!t) this.trackingRefusedAt = Date.now();
      return t;
    });
    return this.trackingStart;
  }

  async get(id: string): Promise<Component | undefined> {
    const s = await this.conn.run(this.db, (r) => r.get(id));
    return s == null ? undefined : parseRecord<Component>(this.db, id, s);
  }

  /** The sorted ids of the last SCAN, for the tracking epoch and new-key count it was taken in. */
  private idList: { ids: string[]; tracking: Tracking; epoch: number; newKeys: number } | null = null;

  /**
   * Sorted ids for a listing. While tracking runs, the last listing's ids are reused until Redis
   * reports a write to a key they do not include (the tracked connection sees every write, in
   * every database: a component created anywhere, but also every boot-artifact record, session and
   * template written) or tracking restarts: operators page through 100,000 components 2,800 at a
   * time, and each page would otherwise SCAN and sort every key. Up to NEW_NAMES_MAX such names are
   * looked up among the components instead (EXISTS) and the ones found added; more, and the ids
   * are SCANned again. An id deleted since is harmless (its value is gone, so it is not listed).
   * Call after `t.barrier()`.
   */
  private async listingIds(t: Tracking | null): Promise<string[]> {
    const held = this.idList;
    if (t && held && held.tracking === t && held.epoch === this.cache.epoch) {
      if (held.newKeys === t.newKeys) return held.ids;
      if (t.newNames) {
        // Names written since are few: ask whether they are components instead of a SCAN (one
        // lookup at a time, so a listing never returns while an earlier one's lookup is pending).
        const run = this.idsChain.then(() => this.withNewIds(t));
        this.idsChain = run.catch(() => undefined);
        return run;
      }
    }
    return this.scanIds(t);
  }

  private idsChain: Promise<unknown> = Promise.resolve();

  /** SCAN every id; the list is held for later listings when nothing new was written meanwhile. */
  private async scanIds(t: Tracking | null): Promise<string[]> {
    const epoch = this.cache.epoch;
    const newKeys = t?.newKeys;
    const ids = await this.ids();
    if (t && t.active && newKeys === t.newKeys && epoch === this.cache.epoch) {
      // Nothing new was written while the SCAN ran: the list is complete until something is.
      t.known = new Set(ids);
      t.newNames = new Set();
      this.idList = { ids, tracking: t, epoch, newKeys: t.newKeys };
    }
    return ids;
  }

  /**
   * The held id list with the names written since that exist among the components (EXISTS on this
   * database). The names looked up are taken out of newNames first, so a name written again
   * meanwhile is looked up again by the next listing (the list is kept at the newKeys count seen
   * before the lookup). A lookup that fails leaves the next listing to SCAN.
   */
  private async withNewIds(t: Tracking): Promise<string[]> {
    const held = this.idList;
    if (!t.active || !held || held.tracking !== t || held.epoch !== this.cache.epoch || !t.newNames) return this.scanIds(t);
    if (held.newKeys === t.newKeys) return held.ids; // an earlier lookup saw to it
    const newKeys = t.newKeys;
    const names = [...t.newNames];
    t.newNames.clear();
    let found: string[];
    try {
      found = names.length === 0 ? [] : await this.conn.run(this.db, async (r) => {
        const replies = await r.pipeline(names.map((n) => ['exists', n])).exec();
        if (!replies) throw new Error('the EXISTS pipeline was aborted');
        return names.filter((_, i) => {
          const [err, n] = replies[i]!;
          if (err) throw err;
          return Number(n) > 0;
        });
      });
    } catch (e) {
      t.newNames = null;
      throw e;
    }
    found = found.filter((id) => !t.known.has(id));
    const ids = found.length === 0 ? held.ids : sortIds([...held.ids, ...found]);
    for (const id of found) t.known.add(id);
    if (t.active && held.epoch === this.cache.epoch && this.idList === held) this.idList = { ids, tracking: t, epoch: held.epoch, newKeys };
    return ids;
  }

  getMany(ids: readonly string[]): Promise<(Component | undefined)[]> {
    return this.readMany(ids, false);
  }

  /** The cached record where the stored text is the one cached (so its output JSON is cached too). */
  getManyShared(ids: readonly string[]): Promise<(Component | undefined)[]> {
    return this.readMany(ids, true);
  }

  /**
   * Records by id. While tracking runs, a cached entry Redis has not invalidated since it was read
   * is current (as for a listing, after the barrier): it is used without fetching its value (as is,
   * or copied when not `shared`). The rest is fetched; a fetched value whose text is the cached one
   * gives the cached record (shared) or a copy of it, instead of a parse. An operator's re-read and
   * bulk PATCH of components it has just listed then cost the API no reads from Redis.
   */
  private async readMany(ids: readonly string[], shared: boolean): Promise<(Component | undefined)[]> {
    const out: (Component | undefined)[] = new Array(ids.length);
    const entries = this.cache.entries;
    let missing: number[] | undefined;
    const t = this.tracking;
    if (t?.active) {
      try {
        await t.barrier();
      } catch {
        // the invalidation connection failed: fetch everything (tracking restarts with the next listing)
      }
      if (t.active) {
        const epoch = this.cache.epoch;
        missing = [];
        for (let i = 0; i < ids.length; i++) {
          const e = entries.get(ids[i]!);
          if (e !== undefined && e.epoch === epoch) out[i] = shared ? e.rec : copyJson(e.rec);
          else missing.push(i);
        }
        this.cache.hits += ids.length - missing.length;
      }
    }
    const fetch = missing ?? ids.map((_, i) => i);
    if (fetch.length === 0) return out;
    const values = await mgetAll(this.conn, this.db, fetch.length === ids.length ? ids : fetch.map((i) => ids[i]!));
    for (let j = 0; j < fetch.length; j++) {
      const i = fetch[j]!;
      const s = values[j];
      if (s == null) continue;
      const e = entries.get(ids[i]!);
      if (e !== undefined && e.raw === s) {
        out[i] = shared ? e.rec : copyJson(e.rec);
        this.cache.hits++;
      } else {
        this.cache.misses++;
        out[i] = shared ? held(shareStates(parseRecord<Component>(this.db, ids[i]!, s))) : parseRecord<Component>(this.db, ids[i]!, s);
      }
    }
    return out;
  }

  ids(): Promise<string[]> {
    return scanKeys(this.conn, this.db);
  }

  list(opts: ListOptions = {}): Promise<Component[]> {
    return this.visit(opts, true);
  }

  listShared(opts: ListOptions = {}): Promise<readonly Component[]> {
    return this.visit(opts, false);
  }

  /**
   * The listing: SCAN the ids, fetch the values in pipelined MGETs, and turn each value into a record
   * through the cache (see ListingCache). The filter sees the cached record; with `copy`, the matches
   * are handed out as copies (list()), otherwise as they are (listShared()).
   */
  private async visit(opts: ListOptions, copy: boolean): Promise<Component[]> {
    const t = await this.tracker();
    if (t) {
      try {
        return await this.visitTracked(t, opts, copy);
      } catch (e) {
        // Tracking lost track midway (one of its connections closed): list by comparing instead.
        if (t.active) throw this.conn.translate(this.db, e);
      }
    }
    return this.visitCompared(opts, copy);
  }

  /**
   * A listing while Redis tracks what this store read: only the values of ids not cached, or
   * invalidated since they were read, are fetched. A limited listing (a page) goes through the ids
   * in windows and stops at the window where it has its matches.
   */
  private async visitTracked(t: Tracking, opts: ListOptions, copy: boolean): Promise<Component[]> {
    await t.barrier();
    const keys = await this.listingIds(t);
    const start = opts.startAfter !== undefined ? upperBound(keys, opts.startAfter) : 0;
    const limit = opts.limit && opts.limit > 0 ? opts.limit : Infinity;
    const filter = opts.filter;
    const cache = this.cache;
    const pass = cache.begin();
    const epoch = cache.epoch;
    const out: Component[] = [];
    let from = start;
    while (from < keys.length && out.length < limit) {
      const to = limit === Infinity ? keys.length : Math.min(keys.length, from + Math.max(MGET_BATCH, 2 * (limit - out.length)));
      const recs = await this.readTracked(t, keys, from, to, pass, epoch);
      for (let i = 0; i < recs.length && out.length < limit; i++) {
        const c = recs[i];
        if (c !== undefined && (!filter || filter(c))) out.push(copy ? copyJson(c) : c);
      }
      from = to;
    }
    // Every id after startAfter was seen: cached ids there that were not are gone from Redis.
    if (from >= keys.length) cache.evictUnseen(pass, opts.startAfter);
    return out;
  }

  /** The records of keys[from..to) (undefined where deleted), reading only what the cache cannot trust. */
  private async readTracked(t: Tracking, keys: readonly string[], from: number, to: number, pass: number, epoch: number): Promise<(Component | undefined)[]> {
    const cache = this.cache;
    const start = from;
    const recs: (Component | undefined)[] = new Array(to - from);
    const missing: number[] = [];
    for (let i = from; i < to; i++) {
      const e = cache.entries.get(keys[i]!);
      if (e !== undefined && e.epoch === epoch) {
        if (e.pass < pass) e.pass = pass;
        recs[i - start] = e.rec;
      } else {
        missing.push(i);
      }
    }
    cache.hits += to - from - missing.length;
    let sent = 0;
    const queue: { idx: number[]; p: ReturnType<Tracking['read']> }[] = [];
    const refill = () => {
      while (sent < missing.length && queue.length < UNLIMITED_WINDOW) {
        const idx = missing.slice(sent, sent + MGET_BATCH);
        const p = t.read(idx.map((i) => keys[i]!));
        p.catch(noop); // awaited below; this only keeps an abandoned batch from being an unhandled rejection
        queue.push({ idx, p });
        sent += idx.length;
      }
    };
    refill();
    while (queue.length > 0) {
      const { idx, p } = queue.shift()!;
      const { values, trusted } = await p;
      for (let j = 0; j < idx.length; j++) {
        const id = keys[idx[j]!]!;
        const raw = values[j];
        if (raw == null) {
          cache.drop(id); // deleted since the SCAN
          continue;
        }
        const e = cache.entry(id, raw, pass, this.db);
        if (trusted[j]) cache.trust(e, epoch);
        recs[idx[j]! - start] = e.rec;
      }
      refill();
    }
    return recs;
  }

  /** A listing that fetches every value and compares it with the cached text. */
  private async visitCompared(opts: ListOptions, copy: boolean): Promise<Component[]> {
    const keys = await this.listingIds(null);
    const start = opts.startAfter !== undefined ? upperBound(keys, opts.startAfter) : 0;
    const limit = opts.limit && opts.limit > 0 ? opts.limit : Infinity;
    const filter = opts.filter;
    const cache = this.cache;
    const pass = cache.begin();
    const out: Component[] = [];
    let complete = start >= keys.length;
    if (!complete) {
      complete = await this.conn.run(this.db, async (r) => {
        // Keep a few batches in flight; a limited listing stops as soon as enough records matched.
        const window = (limit === Infinity ? UNLIMITED_WINDOW : LIMITED_WINDOW) * MGET_BATCH;
        let sent = start;
        const queue: { from: number; p: Promise<(string | null)[]> }[] = [];
        const refill = () => {
          while (sent < keys.length && sent - (queue[0]?.from ?? sent) < window) {
            const to = Math.min(sent + MGET_BATCH, keys.length);
            const p = r.mget(keys.slice(sent, to));
            p.catch(noop); // awaited below; this only keeps an abandoned batch from being an unhandled rejection
            queue.push({ from: sent, p });
            sent = to;
          }
        };
        refill();
        while (queue.length > 0 && out.length < limit) {
          const { from, p } = queue.shift()!;
          const values = await p;
          for (let i = 0; i < values.length && out.length < limit; i++) {
            const id = keys[from + i]!;
            const raw = values[i];
            if (raw == null) {
              cache.drop(id); // deleted since the SCAN
              continue;
            }
            const c = cache.entry(id, raw, pass, this.db).rec;
            if (!filter || filter(c)) out.push(copy ? copyJson(c) : c);
          }
          if (out.length < limit) refill();
        }
        // Not stopped by the limit: every value was looked at.
        return out.length < limit;
      });
    }
    // Every id after startAfter was seen: cached ids there that were not are gone from Redis.
    if (complete) cache.evictUnseen(pass, opts.startAfter);
    return out;
  }

  update(ids: readonly string[], change: ComponentChange): Promise<(Component | null | undefined)[]> {
    // A changed record shares the states equal to other records' (a boot set's desired state).
    return this.writer.submit(ids, (cur, id) => {
      const next = change(cur, id);
      return next ? shareStates(next) : next;
    });
  }

  /** Whole records, written whatever is stored: nothing to read or watch. */
  async putMany(records: readonly Component[], meta?: WriteMeta): Promise<void> {
    // Kept sharing the parts equal to other records' (handed-over records as they are, others copied
    // first): discovery writes 100,000 records alike but for their ids, and a bulk PATCH then merges
    // each shared part once (mergeMemo()).
    const byId = new Map(records.map((r) => shareStates(meta?.handover ? r : copyJson(r))).map((r) => [r.id, r]));
    await this.writer.submit([...byId.keys()], (_cur, id) => byId.get(id), true);
  }

  async delete(id: string): Promise<boolean> {
    const [written] = await this.writer.submit([id], (rec) => (rec ? null : undefined));
    return written === null;
  }

  count(): Promise<number> {
    return this.conn.run(this.db, (r) => r.dbsize());
  }
}
