import { readFile } from 'node:fs/promises';
import { Redis, type RedisOptions } from 'ioredis';
import type { BootArtifactsRecord, Component, ExtendedStatus, Session, SessionTemplate } from '../../common/types.js';
import { REDIS_DB, tenantKey } from './keys.js';
import { compareIds, copyJson, sortIds, upperBound } from './memory.js';
import { piecesLength, storedPieces, writePieces } from '../record-json.js';
import {
  StoreDataError,
  StoreUnavailableError,
  type ComponentTable,
  type ListOptions,
  type Store,
  type TenantTable,
  type WriteMeta,
} from './store.js';

/**
 * The production store: Redis laid out exactly as upstream BOS lays it out (data-model §5), so this
 * server can share a Redis with the upstream services. One logical database per record type, one
 * connection per database (opened on first use), every value a JSON object. Redis holds the truth:
 * the only thing kept in this process is the component listing cache (ListingCache), kept true by
 * Redis's invalidation messages (two more connections to DB 1) or, without them, by comparing it
 * with the values Redis returns; a restarted server finds everything again.
 */

/** Keys asked per SCAN step (a hint to Redis; larger means fewer round trips). */
const SCAN_COUNT = 10_000;
/** Keys per MGET; batches are sent back to back without waiting (pipelined on the wire). */
const MGET_BATCH = 1_000;
/** Batches in flight while a limited listing looks for its first matches. */
const LIMITED_WINDOW = 4;
/**
 * Batches in flight during an unlimited listing. A few suffice to keep Redis busy, and replies
 * handled soon after they arrive are collected young (all at once, 100k values waited in memory
 * and the garbage collection cost more than the parsing the listing cache saves).
 */
const UNLIMITED_WINDOW = 8;
/** Most component ids the listing cache of one store holds (see ListingCache). */
const LIST_CACHE_MAX = 250_000;
/** Records per MSET; larger writes are split into several MSETs inside one MULTI/EXEC. */
const MSET_CHUNK = 5_000;
/** How long ping() waits for an answer. */
const PING_TIMEOUT_MS = 2_000;

export interface RedisStoreOptions {
  /** `redis://[user:password@]host[:port]`, `rediss://...` (TLS), or `host[:port]`. A DB path is ignored. */
  url: string;
  /** Overrides a password given in the URL. */
  password?: string;
  /** Use TLS even for a `redis://` URL. */
  tls?: boolean;
  /** PEM file of the CA that signed the Redis server's certificate (default: the system's CAs). */
  tlsCaFile?: string;
  /** Not supported: upstream keys carry no prefix, and sharing a Redis with it needs the same keys. */
  keyPrefix?: never;
  /** Seconds to wait for a TCP/TLS connection before giving up (default 5). */
  connectTimeoutSeconds?: number;
}

interface Target {
  host: string;
  port: number;
  username?: string;
  password?: string;
  tls: boolean;
  /** PEM text of the CA to trust for TLS, when not the system's. */
  ca?: string;
  /** The address as shown in messages: scheme, user, host and port; never the password. */
  shown: string;
}

/** Parse a Redis URL into connection settings and a printable (password-free) form. */
export function parseRedisUrl(url: string, password?: string, tls?: boolean): Target {
  const raw = /^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? url : `redis://${url}`;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new Error(`invalid Redis URL: expected redis://host:port or rediss://host:port`);
  }
  const scheme = u.protocol.replace(/:$/, '').toLowerCase();
  if (scheme !== 'redis' && scheme !== 'rediss') {
    throw new Error(`invalid Redis URL scheme '${scheme}': expected redis:// or rediss://`);
  }
  const useTls = scheme === 'rediss' || tls === true;
  const host = u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1';
  const port = u.port ? Number(u.port) : 6379;
  const username = u.username ? decodeURIComponent(u.username) : undefined;
  const pw = password ?? (u.password ? decodeURIComponent(u.password) : undefined);
  const shownHost = host.includes(':') ? `[${host}]` : host;
  const shown = `${useTls ? 'rediss' : 'redis'}://${username ? `${encodeURIComponent(username)}@` : ''}${shownHost}:${port}`;
  return { host, port, username, password: pw || undefined, tls: useTls, shown };
}

/** Redis replies that mean "not usable right now" rather than "bad request". */
const UNAVAILABLE_REPLY = /^(NOAUTH|WRONGPASS|LOADING|MASTERDOWN|READONLY|MISCONF|BUSY|NOPERM)\b/;

function errorText(e: unknown): string {
  if (e instanceof AggregateError && e.errors.length) return e.errors.map(errorText).join('; ');
  if (e instanceof Error) return e.message || e.name;
  return String(e);
}

function noop(): void {}

/** One lazily opened connection per logical database, and the translation of their errors. */
class Connections {
  private readonly clients = new Map<number, Promise<Redis>>();
  private readonly lastConnectionError = new Map<number, unknown>();
  private closed = false;

  constructor(
    readonly target: Target,
    private readonly connectTimeoutMs: number,
  ) {}

  /** The message of every StoreUnavailableError: which Redis, what went wrong, what to check. */
  unavailable(db: number, cause: unknown): StoreUnavailableError {
    let text = errorText(cause);
    // "max retries per request" says nothing about why: name the connection error behind it.
    const conn = this.lastConnectionError.get(db);
    if (cause instanceof Error && cause.name === 'MaxRetriesPerRequestError' && conn) {
      text = `${errorText(conn)} (gave up after retrying)`;
    }
    text = text.replace(/[.\s]+$/, '');
    if (this.target.password) text = text.split(this.target.password).join('***');
    const hints = [`that redis-server is running and reachable at ${this.target.host}:${this.target.port}`];
    if (/NOAUTH|WRONGPASS|password/i.test(text)) hints.unshift('the Redis password');
    else hints.push(this.target.password ? 'that the password is right' : 'whether it needs a password');
    if (this.target.tls && /certificate|self.signed|SSL|TLS|altnames/i.test(text)) {
      hints.unshift("that the server's TLS certificate is for this host name and signed by a CA you trust (give the CA file as tlsCaFile)");
    } else {
      hints.push(this.target.tls ? 'that it serves TLS (rediss://)' : 'whether it needs TLS (use rediss://)');
    }
    return new StoreUnavailableError(`Redis at ${this.target.shown} (DB ${db}) is unavailable: ${text}. Check ${hints.join(', ')}.`, {
      cause,
    });
  }

  private options(db: number): RedisOptions {
    const t = this.target;
    return {
      host: t.host,
      port: t.port,
      username: t.username,
      password: t.password,
      db,
      tls: t.tls ? { servername: /^[\d.:]+$/.test(t.host) ? undefined : t.host, ...(t.ca ? { ca: t.ca } : {}) } : undefined,
      lazyConnect: true,
      connectTimeout: this.connectTimeoutMs,
      // A request waiting while the connection is down fails after one reconnect attempt, so the API
      // can answer 503 quickly; the connection keeps reconnecting in the background.
      maxRetriesPerRequest: 1,
      retryStrategy: (times) => Math.min(times * 100, 1_000),
      enableOfflineQueue: true,
    };
  }

  /** The connection to `db`, opened on first use; a failed first connect is retried on the next call. */
  client(db: number): Promise<Redis> {
    if (this.closed) return Promise.reject(this.unavailable(db, new Error('the store has been closed')));
    let p = this.clients.get(db);
    if (!p) {
      p = this.open(db);
      this.clients.set(db, p);
      p.catch(() => {
        if (this.clients.get(db) === p) this.clients.delete(db);
      });
    }
    return p;
  }

  private async open(db: number): Promise<Redis> {
    // Commands issued in one turn of the event loop (the GETs of many concurrent requests, say) go out
    // in one write instead of one write each.
    const client = new Redis({ ...this.options(db), enableAutoPipelining: true });
    let lastError: unknown;
    client.on('error', (e: unknown) => {
      lastError = e;
      this.lastConnectionError.set(db, e);
    });
    try {
      await client.connect();
      return client;
    } catch (e) {
      client.disconnect();
      throw this.unavailable(db, lastError ?? e);
    }
  }

  /** Run commands on `db`, turning connection and authentication failures into StoreUnavailableError. */
  async run<T>(db: number, fn: (r: Redis) => Promise<T>): Promise<T> {
    const r = await this.client(db);
    try {
      return await fn(r);
    } catch (e) {
      throw this.translate(db, e);
    }
  }

  translate(db: number, e: unknown): Error {
    if (e instanceof StoreUnavailableError || e instanceof StoreDataError) return e;
    const name = e instanceof Error ? e.name : '';
    if (name === 'ReplyError' && !UNAVAILABLE_REPLY.test(errorText(e))) {
      return new Error(`Redis at ${this.target.shown} (DB ${db}) refused a command: ${errorText(e)}`, { cause: e });
    }
    return this.unavailable(db, e);
  }

  /**
   * A connection of its own to `db` (not shared, not reconnected: when it closes it stays closed),
   * which close() also quits. Rejects with StoreUnavailableError when it cannot be opened.
   */
  async dedicated(db: number, overrides: Partial<RedisOptions> = {}): Promise<Redis> {
    if (this.closed) throw this.unavailable(db, new Error('the store has been closed'));
    const client = new Redis({ ...this.options(db), retryStrategy: () => null, ...overrides });
    client.on('error', noop); // reported by the commands that fail; a closed connection is handled by its owner
    this.extra.add(client);
    client.once('end', () => this.extra.delete(client));
    try {
      await client.connect();
      return client;
    } catch (e) {
      client.disconnect();
      throw this.unavailable(db, e);
    }
  }
  private readonly extra = new Set<Redis>();

  async close(): Promise<void> {
    this.closed = true;
    const all: Promise<Redis>[] = [...this.clients.values(), ...[...this.extra].map((r) => Promise.resolve(r))];
    this.clients.clear();
    this.extra.clear();
    await Promise.all(
      all.map(async (p) => {
        const r = await p.catch(() => undefined);
        if (!r) return;
        try {
          await r.quit();
        } catch {
          r.disconnect();
        }
      }),
    );
  }
}

function parseRecord<T>(db: number, key: string, text: string): T {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new StoreDataError(`Redis DB ${db} key ${JSON.stringify(key)} does not hold valid JSON`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw new StoreDataError(`Redis DB ${db} key ${JSON.stringify(key)} does not hold a JSON object`);
  }
  return v as T;
}

/** Every key of a database, de-duplicated (SCAN may return a key twice), in code-point order. */
async function scanKeys(conn: Connections, db: number): Promise<string[]> {
  return conn.run(db, async (r) => {
    const seen = new Set<string>();
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'COUNT', SCAN_COUNT);
      for (const k of keys) seen.add(k);
      cursor = next;
    } while (cursor !== '0');
    return sortIds([...seen]);
  });
}

/** Send one MGET per batch, all at once; the promises settle in order as the replies arrive. */
function mgetBatches(r: Redis, keys: readonly string[], from: number, to: number): Promise<(string | null)[]>[] {
  const out: Promise<(string | null)[]>[] = [];
  for (let i = from; i < to; i += MGET_BATCH) {
    const p = r.mget(keys.slice(i, Math.min(i + MGET_BATCH, to)));
    p.catch(noop); // awaited below; this only keeps an abandoned batch from being an unhandled rejection
    out.push(p);
  }
  return out;
}

/** Values of `keys` in order (null where absent), fetched in pipelined MGET batches. */
async function mgetAll(conn: Connections, db: number, keys: readonly string[]): Promise<(string | null)[]> {
  if (keys.length === 0) return [];
  return conn.run(db, async (r) => {
    const parts = await Promise.all(mgetBatches(r, keys, 0, keys.length));
    return parts.length === 1 ? parts[0]! : parts.flat();
  });
}

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
interface CacheEntry {
  /**
   * The value text the record was parsed from, to compare a fetched value with; none for a value
   * this process wrote and Redis tracks (it stays current until reported, and a value changed
   * elsewhere has another text anyway): keeping the text of every write alive until the next one
   * would only make it old garbage for the collector.
   */
  raw: string | undefined;
  rec: Component;
  /** The last listing that saw the id. */
  pass: number;
  /** The tracking epoch in which the value was read through the tracked connection and not invalidated since; -1 when none. */
  epoch: number;
}

class ListingCache {
  readonly entries = new Map<string, CacheEntry>();
  /** The current tracking epoch: bumped whenever tracking starts or loses track (see Tracking). */
  epoch = 0;
  private passes = 0;

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
      return e;
    }
    const next: CacheEntry = { raw, rec: parseRecord<Component>(db, id, raw), pass: Math.max(e?.pass ?? 0, pass), epoch: -1 };
    if (e !== undefined || this.entries.size < LIST_CACHE_MAX) this.entries.set(id, next);
    return next;
  }

  /**
   * Values this process has just written (write-through): copies of the records written, or the
   * records themselves when they were handed over (WriteMeta.handover). Written
   * through the tracked connection (`trusted` per value, see Tracking.write()), they are current
   * until Redis reports them written elsewhere: the next listing fetches nothing. Otherwise the
   * next listing still fetches them but finds the same text and uses the record as written instead
   * of parsing it again (a copy costs about a fifth of a parse). A boot rewrites every component
   * several times, and each rewrite otherwise cost the API a parse of every record at the next
   * listing.
   */
  wrote(records: readonly Component[], textOf: (i: number) => string, trusted: readonly boolean[] | undefined, handover: boolean): void {
    const epoch = this.epoch;
    for (let i = 0; i < records.length; i++) {
      const id = records[i]!.id;
      const e = this.entries.get(id);
      if (e !== undefined || this.entries.size < LIST_CACHE_MAX) {
        const rec = handover ? records[i]! : copyJson(records[i]!);
        const current = trusted?.[i] === true;
        this.entries.set(id, { raw: current ? undefined : textOf(i), rec, pass: e?.pass ?? 0, epoch: current ? epoch : -1 });
      }
    }
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
class Tracking {
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
  async read(keys: string[]): Promise<{ values: (string | null)[]; trusted: boolean[] }> {
    const { result: values, trusted } = await this.inFlightFor(keys, (r) => r.mget(keys));
    return { values, trusted };
  }

  /**
   * Run a write of `keys` through the tracked connection, and per key whether the value written can
   * be relied on later (as for read()). No report comes back for it (NOLOOP), so keys it creates
   * are counted as new names here.
   */
  async write(keys: readonly string[], run: (r: Redis) => Promise<void>): Promise<boolean[]> {
    const { trusted } = await this.inFlightFor(keys, run);
    for (const id of keys) this.named(id);
    return trusted;
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
const TRACKING_RETRY_MS = 60_000;

class RedisComponents implements ComponentTable {
  private readonly db = REDIS_DB.components;
  readonly cache = new ListingCache();
  private tracking: Tracking | null = null;
  private trackingStart: Promise<Tracking | null> | null = null;
  private trackingRefusedAt = -Infinity;
  constructor(private readonly conn: Connections) {}

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
      if (e !== undefined && e.raw === s) out[i] = shared ? e.rec : copyJson(e.rec);
      else out[i] = parseRecord<Component>(this.db, ids[i]!, s);
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
        if (trusted[j]) e.epoch = epoch;
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

  async putMany(records: readonly Component[], meta?: WriteMeta): Promise<void> {
    if (records.length === 0) return;
    // Values go to ioredis as Buffers, slices of one buffer the records' JSON is written into piece by
    // piece: records handed over are the store's, so their JSON comes from the remembered texts of
    // their unchanged parts (record-json.ts); others are encoded whole.
    const handover = meta?.handover === true;
    const pieces: string[][] = new Array(records.length);
    let size = 0;
    for (let i = 0; i < records.length; i++) {
      const rec = records[i]!;
      if (typeof rec.id !== 'string' || rec.id === '') {
        throw new Error(`cannot store a component without an id (record ${i} of ${records.length})`);
      }
      const p = (pieces[i] = handover ? storedPieces(rec) : [JSON.stringify(rec)]);
      size += piecesLength(p);
    }
    const values = Buffer.allocUnsafe(size);
    const ends = new Array<number>(records.length);
    const flat: (string | Buffer)[] = new Array(records.length * 2);
    for (let i = 0, at = 0; i < records.length; i++) {
      const end = at + writePieces(values, at, pieces[i]!);
      flat[2 * i] = records[i]!.id;
      flat[2 * i + 1] = values.subarray(at, end);
      ends[i] = end;
      at = end;
    }
    const textOf = (i: number): string => values.toString('utf8', i === 0 ? 0 : ends[i - 1], ends[i]);
    const write = async (r: Redis): Promise<void> => {
      if (flat.length <= MSET_CHUNK * 2) {
        await r.mset(flat);
        return;
      }
      const tx = r.multi();
      for (let i = 0; i < flat.length; i += MSET_CHUNK * 2) tx.mset(flat.slice(i, i + MSET_CHUNK * 2));
      const results = await tx.exec();
      const failed = results?.find(([err]) => err);
      if (!results) throw new Error('the MULTI transaction was aborted');
      if (failed) throw failed[0];
    };
    // Through the tracked connection while tracking runs: the values written stay cached as current.
    const t = this.tracking;
    let trusted: boolean[] | undefined; // set once written through the tracked connection
    if (t?.active) {
      try {
        trusted = await t.write(records.map((r) => r.id), write);
      } catch (e) {
        // Refused by Redis: refused. The tracked connection lost: written again through the shared one
        // (setting the same values twice is harmless), as a write that was never tracked.
        if (t.active) throw this.conn.translate(this.db, e);
      }
    }
    if (trusted === undefined) await this.conn.run(this.db, write);
    this.cache.wrote(records, textOf, trusted, handover);
  }

  async delete(id: string): Promise<boolean> {
    this.cache.drop(id);
    return (await this.conn.run(this.db, (r) => r.del(id))) > 0;
  }

  count(): Promise<number> {
    return this.conn.run(this.db, (r) => r.dbsize());
  }
}

class RedisTenantTable<T> implements TenantTable<T> {
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
    await this.conn.run(this.db, (r) => r.set(tenantKey(tenant, name), text));
  }

  async delete(tenant: string, name: string): Promise<boolean> {
    const key = tenantKey(tenant, name);
    return (await this.conn.run(this.db, (r) => r.del(key))) > 0;
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

const OPTIONS_KEY = 'options';

export class RedisStore implements Store {
  readonly kind = 'redis' as const;
  readonly components: ComponentTable;
  readonly templates: TenantTable<SessionTemplate>;
  readonly sessions: TenantTable<Session>;
  readonly sessionStatus: TenantTable<ExtendedStatus>;
  readonly bootArtifacts: Store['bootArtifacts'];
  private readonly conn: Connections;

  private constructor(conn: Connections) {
    this.conn = conn;
    this.components = new RedisComponents(conn);
    this.templates = new RedisTenantTable<SessionTemplate>(conn, REDIS_DB.templates);
    this.sessions = new RedisTenantTable<Session>(conn, REDIS_DB.sessions);
    this.sessionStatus = new RedisTenantTable<ExtendedStatus>(conn, REDIS_DB.sessionStatus);
    const db = REDIS_DB.bootArtifacts;
    this.bootArtifacts = {
      get: async (token: string) => {
        const s = await conn.run(db, (r) => r.get(token));
        return s == null ? undefined : parseRecord<BootArtifactsRecord>(db, '<bss token>', s);
      },
      put: async (token: string, record: BootArtifactsRecord) => {
        const text = JSON.stringify(record);
        await conn.run(db, (r) => r.set(token, text));
      },
    };
  }

  /**
   * Connect to Redis and check that it answers. Rejects with StoreUnavailableError (naming the
   * address, never the password) when it does not.
   */
  static async connect(opts: RedisStoreOptions): Promise<RedisStore> {
    const target = parseRedisUrl(opts.url, opts.password, opts.tls);
    if (opts.tlsCaFile) {
      try {
        target.ca = await readFile(opts.tlsCaFile, 'utf8');
      } catch (e) {
        throw new Error(`cannot read the Redis TLS CA file ${opts.tlsCaFile}: ${errorText(e)}`);
      }
    }
    const conn = new Connections(target, (opts.connectTimeoutSeconds ?? 5) * 1000);
    const store = new RedisStore(conn);
    try {
      await conn.run(REDIS_DB.options, (r) => r.ping());
    } catch (e) {
      await conn.close();
      throw e;
    }
    return store;
  }

  /** Where this store points, without the password (for logs). */
  get address(): string {
    return this.conn.target.shown;
  }

  async getOptions(): Promise<Record<string, unknown> | null> {
    const s = await this.conn.run(REDIS_DB.options, (r) => r.get(OPTIONS_KEY));
    return s == null ? null : parseRecord<Record<string, unknown>>(REDIS_DB.options, OPTIONS_KEY, s);
  }

  async putOptions(options: Record<string, unknown>): Promise<void> {
    const text = JSON.stringify(options);
    await this.conn.run(REDIS_DB.options, (r) => r.set(OPTIONS_KEY, text));
  }

  async ping(): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), PING_TIMEOUT_MS);
    });
    try {
      return await Promise.race([
        this.conn.run(REDIS_DB.options, (r) => r.ping()).then(
          (reply) => reply === 'PONG',
          () => false,
        ),
        timeout,
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  close(): Promise<void> {
    return this.conn.close();
  }
}
