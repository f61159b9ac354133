/**
 * The Redis store's connections: one lazily opened connection per logical database, connections of
 * their own for tracking and transactions, the wait for replicas after a write, and the translation
 * of Redis errors into the store's errors (docs/store.md).
 */
import { Redis, type RedisOptions } from 'ioredis';
import { redisConnectionOptions, redisReachHint, type RedisTarget } from '../../../clients/redis-target.js';
import { sortIds } from '../memory.js';
import { StoreDataError, StoreUnavailableError } from '../store.js';
import { messageOf } from '../../../common/errors.js';
import { connectionEpoch, waitForReplicas } from '../../../clients/redis-wait.js';

/** Keys asked per SCAN step (a hint to Redis; larger means fewer round trips). */
const SCAN_COUNT = 10_000;
/** Keys per MGET; batches are sent back to back without waiting (pipelined on the wire). */
export const MGET_BATCH = 1_000;

/** Redis replies that mean "not usable right now" rather than "bad request". */
const UNAVAILABLE_REPLY = /^(NOAUTH|WRONGPASS|LOADING|MASTERDOWN|READONLY|MISCONF|BUSY|NOPERM|NOREPLICAS)\b/;

export function noop(): void {}

/** How writes wait for replicas (Redis WAIT): none when `replicas` is 0. */
export interface ReplicaWait {
  replicas: number;
  timeoutMs: number;
}

export class Connections {
  private readonly clients = new Map<number, Promise<Redis>>();
  private readonly lastConnectionError = new Map<number, unknown>();
  /** The shared connections opened, for connected(). */
  private readonly opened = new Map<number, Redis>();
  private readonly extra = new Set<Redis>();
  /** Databases whose shared connection ended: the next use opens a new one. */
  private readonly ended = new Set<number>();
  private closed = false;

  constructor(
    readonly target: RedisTarget,
    private readonly connectTimeoutMs: number,
    readonly replicaWait: ReplicaWait = { replicas: 0, timeoutMs: 1_000 },
  ) {}

  /** The message of every StoreUnavailableError: which Redis, what went wrong, what to check. */
  unavailable(db: number, cause: unknown): StoreUnavailableError {
    let text = messageOf(cause);
    // "max retries per request" says nothing about why: name the connection error behind it.
    const conn = this.lastConnectionError.get(db);
    if (cause instanceof Error && cause.name === 'MaxRetriesPerRequestError' && conn) {
      text = `${messageOf(conn)} (gave up after retrying)`;
    }
    text = text.replace(/[.\s]+$/, '');
    for (const secret of [this.target.password, this.target.sentinelPassword]) {
      if (secret) text = text.split(secret).join('***');
    }
    const hints = [redisReachHint(this.target)];
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
    return {
      ...redisConnectionOptions(this.target, db),
      lazyConnect: true,
      connectTimeout: this.connectTimeoutMs,
      // A request waiting while the connection is down fails after one reconnect attempt, so the API
      // can answer 503 quickly; the connection keeps reconnecting in the background.
      maxRetriesPerRequest: 1,
      retryStrategy: (times) => Math.min(times * 100, 1_000),
      enableOfflineQueue: true,
    };
  }

  /**
   * The connection to `db`, opened on first use; a failed first connect is retried on the next call,
   * and so is a connection that gave up reconnecting (ioredis can end one while it asks the
   * sentinels during a failover).
   */
  client(db: number): Promise<Redis> {
    if (this.closed) return Promise.reject(this.unavailable(db, new Error('the store has been closed')));
    let p = this.clients.get(db);
    if (p && this.ended.has(db)) {
      this.ended.delete(db);
      this.clients.delete(db);
      void p.then((r) => r.disconnect(), noop);
      p = undefined;
    }
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
    this.opened.set(db, client);
    let lastError: unknown;
    client.on('error', (e: unknown) => {
      lastError = e;
      this.lastConnectionError.set(db, e);
    });
    client.on('end', () => {
      if (this.clients.has(db)) this.ended.add(db);
    });
    try {
      await client.connect();
      return client;
    } catch (e) {
      client.disconnect();
      throw this.unavailable(db, lastError ?? e);
    }
  }

  /** True while every shared connection opened is ready (none opened yet counts as connected). */
  connected(): boolean {
    for (const r of this.opened.values()) if (r.status !== 'ready') return false;
    return !this.closed;
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

  /** Run a write on `db`, then wait for the replicas the settings ask for. */
  async write<T>(db: number, fn: (r: Redis) => Promise<T>): Promise<T> {
    return this.run(db, async (r) => {
      const epoch = connectionEpoch(r);
      const out = await fn(r);
      await this.replicated(r, db, epoch);
      return out;
    });
  }

  /**
   * After a write through `r` begun at `connectionEpoch(r)` = `epoch`: wait until the replicas have
   * every write made through it (WAIT), so a write the API acknowledges survives the loss of the
   * primary. It waits for every connected replica, and fails only when fewer than the configured
   * number confirmed, or when the connection was replaced since the write began.
   */
  async replicated(r: Redis, db: number, epoch: number): Promise<void> {
    const { replicas, timeoutMs } = this.replicaWait;
    if (replicas <= 0) return;
    const { got, reconnected } = await waitForReplicas(r, epoch, replicas, timeoutMs);
    if (reconnected) {
      throw new StoreUnavailableError(
        `Redis at ${this.target.shown} (DB ${db}): the connection was lost between a write and its confirmation by the replicas, so the write may be lost ` +
          '(a failover, or a restart of the primary); repeat the request.',
      );
    }
    if (got < replicas) {
      throw new StoreUnavailableError(
        `Redis at ${this.target.shown} (DB ${db}) took the write, but only ${got} of the ${replicas} replica(s) asked for confirmed it within ` +
          `${timeoutMs / 1000} s: it may be lost if the primary fails now. Check that the replicas are running and connected ` +
          '(INFO replication on the primary), then repeat the request.',
      );
    }
  }

  translate(db: number, e: unknown): Error {
    if (e instanceof StoreUnavailableError || e instanceof StoreDataError) return e;
    const name = e instanceof Error ? e.name : '';
    if (name === 'ReplyError' && !UNAVAILABLE_REPLY.test(messageOf(e))) {
      return new Error(`Redis at ${this.target.shown} (DB ${db}) refused a command: ${messageOf(e)}`, { cause: e });
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

export function parseRecord<T>(db: number, key: string, text: string): T {
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
export async function scanKeys(conn: Connections, db: number): Promise<string[]> {
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

/** Values of `keys` in order (null where absent), fetched through `r` in pipelined MGET batches. */
export async function mgetOn(r: Redis, keys: readonly string[]): Promise<(string | null)[]> {
  if (keys.length === 0) return [];
  const parts = await Promise.all(mgetBatches(r, keys, 0, keys.length));
  return parts.length === 1 ? parts[0]! : parts.flat();
}

/** Values of `keys` in order (null where absent), fetched in pipelined MGET batches. */
export async function mgetAll(conn: Connections, db: number, keys: readonly string[]): Promise<(string | null)[]> {
  if (keys.length === 0) return [];
  return conn.run(db, (r) => mgetOn(r, keys));
}
