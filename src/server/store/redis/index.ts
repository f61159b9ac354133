/**
 * The production store: Redis laid out exactly as upstream BOS lays it out (one logical database per
 * record type, every value a JSON object), so this server can share a Redis with the upstream
 * services and with other replicas of itself. Redis holds the truth: the only thing kept in this
 * process is the component listing cache, which Redis's invalidation messages (or a comparison with
 * the values Redis returns) keep true; every read-change-write is atomic in Redis (docs/store.md).
 *
 *   connections.ts      connections per database, errors, the wait for replicas
 *   components.ts       components: reads, listings
 *   component-writes.ts components: the write queue and its transactions
 *   listing-cache.ts    the records listings parsed, by id
 *   tracking.ts         which cached records Redis has not reported changed
 *   compare-and-set.ts  atomic change of one value (templates, sessions, options)
 *   tenant-table.ts     templates, sessions, saved statuses
 */
import { readFile } from 'node:fs/promises';
import type { BootArtifactsRecord, ExtendedStatus, Session, SessionTemplate } from '../../../common/types.js';
import { parseRedisTarget } from '../../../clients/redis-target.js';
import { REDIS_DB } from '../keys.js';
import type { Store, StoreStats, TenantTable } from '../store.js';
import { updateValue } from './compare-and-set.js';
import { held } from '../freeze.js';
import { messageOf } from '../../../common/errors.js';
import { Connections, parseRecord } from './connections.js';
import { RedisComponents } from './components.js';
import { RedisTenantTable } from './tenant-table.js';

/** How long ping() waits for an answer. */
const PING_TIMEOUT_MS = 2_000;
const OPTIONS_KEY = 'options';

export interface RedisStoreOptions {
  /**
   * `redis://[user:password@]host[:port]`, `rediss://...` (TLS), `host[:port]`, or
   * `redis+sentinel://host[:port][,host[:port]...]/<master name>` (the primary the sentinels name).
   * A DB path is ignored.
   */
  url: string;
  /** Overrides a password given in the URL. */
  password?: string;
  /** The sentinels' own password, when they require one. */
  sentinelPassword?: string;
  /** Use TLS even for a `redis://` URL. */
  tls?: boolean;
  /** PEM file of the CA that signed the Redis server's certificate (default: the system's CAs). */
  tlsCaFile?: string;
  /** Not supported: upstream keys carry no prefix, and sharing a Redis with it needs the same keys. */
  keyPrefix?: never;
  /** Seconds to wait for a TCP/TLS connection before giving up (default 5). */
  connectTimeoutSeconds?: number;
  /** Replicas that must have a write before it is acknowledged (Redis WAIT; default 0: none). */
  waitReplicas?: number;
  /** Seconds a write waits for those replicas (default 1). */
  waitTimeoutSeconds?: number;
}

/** Boot-artifact records kept by token (the oldest let go first). */
const BOOT_ARTIFACTS_KEPT = 10_000;

export class RedisStore implements Store {
  readonly kind = 'redis' as const;
  readonly components: RedisComponents;
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
    // A token's record is written once and never changed (a new BSS PUT gives a new token), so a
    // record found is kept: the 100,000 state reports of a boot name a few dozen tokens, and each
    // read it from Redis and held its own copy of the kernel parameters.
    const found = new Map<string, BootArtifactsRecord>();
    this.bootArtifacts = {
      get: async (token: string) => {
        // A copy each time (callers may change what they get); its strings are shared.
        const known = found.get(token);
        if (known) return { ...known };
        const s = await conn.run(db, (r) => r.get(token));
        if (s == null) return undefined; // not written yet, perhaps: asked again next time
        const rec = held(parseRecord<BootArtifactsRecord>(db, '<bss token>', s));
        if (found.size >= BOOT_ARTIFACTS_KEPT) found.delete(found.keys().next().value!);
        found.set(token, rec);
        return { ...rec };
      },
      // Written once per BSS token, never read and written back: a plain SET.
      put: async (token: string, record: BootArtifactsRecord) => {
        const text = JSON.stringify(record);
        await conn.write(db, (r) => r.set(token, text));
      },
    };
  }

  /**
   * Connect to Redis and check that it answers. Rejects with StoreUnavailableError (naming the
   * address, never the password) when it does not.
   */
  static async connect(opts: RedisStoreOptions): Promise<RedisStore> {
    const target = parseRedisTarget(opts.url, { password: opts.password, sentinelPassword: opts.sentinelPassword, tls: opts.tls });
    if (opts.tlsCaFile) {
      try {
        target.ca = await readFile(opts.tlsCaFile, 'utf8');
      } catch (e) {
        throw new Error(`cannot read the Redis TLS CA file ${opts.tlsCaFile}: ${messageOf(e)}`);
      }
    }
    const conn = new Connections(target, (opts.connectTimeoutSeconds ?? 5) * 1000, {
      replicas: opts.waitReplicas ?? 0,
      timeoutMs: (opts.waitTimeoutSeconds ?? 1) * 1000,
    });
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
    await this.conn.write(REDIS_DB.options, (r) => r.set(OPTIONS_KEY, text));
  }

  async updateOptions(change: (current: Record<string, unknown> | null) => Record<string, unknown> | undefined): Promise<Record<string, unknown> | null> {
    const db = REDIS_DB.options;
    const parse = (text: string | null) => (text === null ? null : parseRecord<Record<string, unknown>>(db, OPTIONS_KEY, text));
    const stored = await updateValue(this.conn, db, OPTIONS_KEY, 'The options', (text) => {
      const next = change(parse(text));
      return next === undefined ? undefined : JSON.stringify(next);
    });
    return parse(stored);
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

  stats(): StoreStats {
    const { cache } = this.components;
    return { listingCache: { records: cache.size, hits: cache.hits, misses: cache.misses }, connected: this.conn.connected() };
  }
}
