/**
 * Server-assisted client-side caching of the component values (docs/store.md): which cached values
 * Redis has not reported changed, so listings and reads need not fetch them.
 */
import type { Redis } from 'ioredis';
import { mgetOn, type Connections } from './connections.js';
import type { ListingCache } from './listing-cache.js';

/**
 * Server-assisted client-side caching (Redis 6 and later) in broadcast mode: one connection, with
 * CLIENT TRACKING ON REDIRECT … BCAST NOLOOP (no prefix), reads and writes the component values,
 * and Redis sends the name of every key written anywhere by any other client (written, deleted,
 * expired, flushed; in every database) to a second connection subscribed to `__redis__:invalidate`.
 * Both are connections of their own; when either closes, everything known in this epoch counts as
 * unknown and tracking starts again with the next listing.
 *
 * So a cached value not reported since it was read or written through the tracked connection is
 * current, and this process's own writes (NOLOOP: not reported back to it) stay cached as current:
 * a listing after them fetches nothing. Every key written anywhere being reported, a component
 * created by another process is known too, and the sorted id list of the last listing can be
 * reused until one is (see RedisComponents.listingIds()); components this process creates are
 * added to it by the write itself.
 *
 * Ordering: reports arrive on another connection than the values. A listing first sends a PING on
 * the invalidation connection and waits for its answer, so every report sent before the listing
 * began has been applied. A report that overtakes the reply of a read or write made before the
 * change is caught by the sequence number: reports received while values are in flight are
 * remembered, and such a value is used but not trusted later.
 */
export class Tracking {
  /** The number of invalidation messages received. */
  seq = 0;
  /** Ids invalidated while reads were in flight, with the seq of their last invalidation. */
  private readonly recent = new Map<string, number>();
  private inFlight = 0;
  private closed = false;

  /** Bumped whenever a key this store had not listed is written somewhere (or everything is flushed). */
  newKeys = 0;
  /** Ids the last listing found: a write to any other key bumps newKeys. */
  known = new Set<string>();
  /**
   * Names written since the last SCAN that are not known ids, up to NEW_NAMES_MAX (then null: too
   * many to look up, the next listing SCANs). Tracking names keys of every database, so most of them
   * are not components at all (a boot-artifact record, a session), and a listing only needs to ask
   * Redis whether these few exist among the components instead of scanning every key again.
   */
  newNames: Set<string> | null = new Set();

  private constructor(
    /** The tracked connection: component values are read and written through it. */
    readonly conn: Redis,
    private readonly invalidations: Redis,
    private readonly cache: ListingCache,
    private readonly onLost: (t: Tracking) => void,
  ) {}

  /** Open the connections and turn tracking on; null when this Redis does not support it. */
  static async start(conn: Connections, db: number, cache: ListingCache, onLost: (t: Tracking) => void): Promise<Tracking | null> {
    let tracked: Redis | undefined;
    let invalidations: Redis | undefined;
    try {
      // Invalidation messages come as Pub/Sub messages to a RESP2 subscriber.
      invalidations = await conn.dedicated(db, { protocol: 2 });
      tracked = await conn.dedicated(db);
      const t = new Tracking(tracked, invalidations, cache, onLost);
      cache.epoch++;
      invalidations.on('messageBuffer', (channel: Buffer, payload: unknown) => t.invalidate(channel, payload));
      invalidations.once('close', () => t.lose());
      tracked.once('close', () => t.lose());
      const id = await invalidations.client('ID');
      await invalidations.subscribe(INVALIDATE_CHANNEL);
      await tracked.client('TRACKING', 'ON', 'REDIRECT', String(id), 'BCAST', 'NOLOOP');
      return t;
    } catch {
      tracked?.disconnect();
      invalidations?.disconnect();
      return null;
    }
  }

  get active(): boolean {
    return !this.closed;
  }

  private invalidate(channel: Buffer, payload: unknown): void {
    if (channel.toString() !== INVALIDATE_CHANNEL) return;
    this.seq++;
    if (!Array.isArray(payload)) {
      this.cache.epoch++; // a flush: nothing read so far is known to be current
      this.newKeys++;
      this.newNames = null;
      return;
    }
    for (const k of payload) {
      const id = Buffer.isBuffer(k) ? k.toString() : String(k);
      this.named(id);
      const e = this.cache.entries.get(id);
      if (e) e.epoch = -1;
      if (this.inFlight > 0) this.recent.set(id, this.seq);
    }
  }

  /** A key written: one the last listing did not find may be a new component. */
  private named(id: string): void {
    if (this.known.has(id)) return;
    this.newKeys++;
    if (this.newNames && this.newNames.size < NEW_NAMES_MAX) this.newNames.add(id);
    else this.newNames = null;
  }

  private lose(): void {
    if (this.closed) return;
    this.closed = true;
    this.cache.epoch++;
    this.conn.disconnect();
    this.invalidations.disconnect();
    this.onLost(this);
  }

  /** Resolves once every invalidation Redis sent before now has been applied. */
  async barrier(): Promise<void> {
    await this.invalidations.ping();
  }

  /**
   * MGET through the tracked connection, and per value whether it can be relied on later: false when
   * the id was invalidated while the read was in flight, or tracking lost track meanwhile. The caller
   * records the values before handling any other I/O (an invalidation arriving after that finds the
   * cache entry and clears it).
   */
  async read(keys: readonly string[]): Promise<{ values: (string | null)[]; trusted: boolean[] }> {
    const { result: values, trusted } = await this.inFlightFor(keys, (r) => mgetOn(r, keys));
    return { values, trusted };
  }

  /**
   * Run a write of `keys` through the tracked connection, and per key whether the value written can
   * be relied on later (as for read()). No report comes back for it (NOLOOP), so keys it creates
   * are counted as new names here.
   */
  async write<T>(keys: readonly string[], run: (r: Redis) => Promise<T>): Promise<{ result: T; trusted: boolean[] }> {
    const out = await this.inFlightFor(keys, run);
    for (const id of keys) this.named(id);
    return out;
  }

  private async inFlightFor<T>(keys: readonly string[], run: (r: Redis) => Promise<T>): Promise<{ result: T; trusted: boolean[] }> {
    const seq = this.seq;
    const epoch = this.cache.epoch;
    this.inFlight++;
    let result: T;
    try {
      result = await run(this.conn);
    } finally {
      this.inFlight--;
    }
    const ok = this.cache.epoch === epoch && !this.closed;
    const trusted = keys.map((id) => ok && (this.recent.get(id) ?? 0) <= seq);
    if (this.inFlight === 0) this.recent.clear();
    return { result, trusted };
  }
}

const INVALIDATE_CHANNEL = '__redis__:invalidate';
/** Names of unknown keys written since the last SCAN that a listing looks up instead of scanning again. */
const NEW_NAMES_MAX = 1_000;
/** After Redis refused tracking (older than 6, or not permitted), how long listings go without it before trying again. */
export const TRACKING_RETRY_MS = 60_000;
