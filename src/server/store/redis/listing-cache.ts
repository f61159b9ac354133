/**
 * The component listing cache of one Redis store: per id, the last value text a listing received
 * and the record parsed from it (docs/store.md).
 */
import type { Component } from '../../../common/types.js';
import { compareIds } from '../memory.js';
import { parseRecord } from './connections.js';
import { held } from '../freeze.js';
import { shareStates } from '../../record-json.js';

/** Most component ids the listing cache of one store holds (see ListingCache). */
const LIST_CACHE_MAX = 250_000;

/**
 * The component listing cache of one RedisStore: per id, the last value text a listing received
 * and the record parsed from it.
 *
 * Two ways keep it true to Redis. Redis tells this process which ids changed (server-assisted
 * client-side caching, CLIENT TRACKING, see Tracking): while that works, an entry read through the
 * tracked connection and not invalidated since is used without fetching its value at all. Every
 * other value a listing fetches is compared with the cached text (a string comparison): when it is
 * the very same, the cached record is used instead of parsing the text again. Either way the same
 * record object comes back, so the API's output JSON cached for it is reused too. A write, through
 * this process or another one, invalidates the id (tracking) and changes its text (comparison), so
 * the cache never answers with an old record.
 *
 * Bounded: it holds at most LIST_CACHE_MAX ids, only ids a listing found in Redis, and a listing that
 * saw every id after its startAfter drops the cached ids there that it did not see (deleted).
 * Records are replaced, never changed: callers of listShared() only read them.
 */
export interface CacheEntry {
  /**
   * The value text the record was parsed from, to compare a fetched value with; none for a value
   * Redis tracks (written or read through the tracked connection: it stays current until reported,
   * and a value changed elsewhere has another text anyway). Keeping the text of every tracked value
   * alive would hold 2 KB per component for nothing while tracking works.
   */
  raw: string | undefined;
  rec: Component;
  /** The last listing that saw the id. */
  pass: number;
  /** The tracking epoch in which the value was read through the tracked connection and not invalidated since; -1 when none. */
  epoch: number;
}

export class ListingCache {
  readonly entries = new Map<string, CacheEntry>();
  /** The current tracking epoch: bumped whenever tracking starts or loses track (see Tracking). */
  epoch = 0;
  private passes = 0;
  /** Reads that used a cached record, and reads that parsed one (for the metrics). */
  hits = 0;
  misses = 0;

  /** Start a listing: its number marks the ids it sees. */
  begin(): number {
    return ++this.passes;
  }

  /**
   * The entry of `id` whose stored value is `raw`: the cached one when the text is the same. A new
   * text starts untracked (the caller marks it when the read was tracked).
   */
  entry(id: string, raw: string, pass: number, db: number): CacheEntry {
    const e = this.entries.get(id);
    if (e !== undefined && e.raw === raw) {
      if (e.pass < pass) e.pass = pass;
      this.hits++;
      return e;
    }
    this.misses++;
    const next: CacheEntry = { raw, rec: held(shareStates(parseRecord<Component>(db, id, raw))), pass: Math.max(e?.pass ?? 0, pass), epoch: -1 };
    if (e !== undefined || this.entries.size < LIST_CACHE_MAX) this.entries.set(id, next);
    return next;
  }

  /**
   * Values this process has just written (write-through): the records written, which are the
   * store's from then on (the writer hands over new records or copies). Written through the tracked connection (`trusted` per value, see Tracking.write()), they are current
   * until Redis reports them written elsewhere: the next listing fetches nothing. Otherwise the
   * next listing still fetches them but finds the same text and uses the record as written instead
   * of parsing it again (a copy costs about a fifth of a parse). A boot rewrites every component
   * several times, and each rewrite otherwise cost the API a parse of every record at the next
   * listing.
   */
  wrote(records: readonly Component[], textOf: (i: number) => string, trusted: readonly boolean[] | undefined): void {
    const epoch = this.epoch;
    for (let i = 0; i < records.length; i++) {
      const id = records[i]!.id;
      const e = this.entries.get(id);
      if (e !== undefined || this.entries.size < LIST_CACHE_MAX) {
        const rec = held(records[i]!);
        const current = trusted?.[i] === true;
        this.entries.set(id, { raw: current ? undefined : textOf(i), rec, pass: e?.pass ?? 0, epoch: current ? epoch : -1 });
      }
    }
  }

  /**
   * `e` was read through the tracked connection in tracking epoch `epoch`: current until Redis
   * reports it written. Its text is let go: while tracked, a change is reported rather than found by
   * comparing texts, and 100,000 texts of 2 KB each were the largest share of the API's memory. If
   * tracking is lost, the next listing parses the value again.
   */
  trust(e: CacheEntry, epoch: number): void {
    e.epoch = epoch;
    e.raw = undefined;
  }

  drop(id: string): void {
    this.entries.delete(id);
  }

  /** After a listing that saw every id greater than `startAfter` (every id without it). */
  evictUnseen(pass: number, startAfter: string | undefined): void {
    for (const [id, e] of this.entries) {
      if (e.pass < pass && (startAfter === undefined || compareIds(id, startAfter) > 0)) this.entries.delete(id);
    }
  }

  get size(): number {
    return this.entries.size;
  }
}

