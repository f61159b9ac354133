/**
 * Where the BOS database is and how to reach it: one Redis server, or the primary that a set of
 * Redis Sentinels names. Parsed once from the `--redis` URL (and the password settings) and used by
 * every Redis connection of a process: the API's store, the change events, the operators'
 * boot-artifact records. See docs/store.md.
 *
 *   redis://[user[:password]@]host[:port]                one server (rediss:// for TLS)
 *   redis+sentinel://[user[:password]@]h1[:port][,h2[:port]...]/<master name>
 *                                                        the primary of <master name> (rediss+sentinel:// for TLS)
 */
import type { RedisOptions } from 'ioredis';

interface RedisAddress {
  host: string;
  port: number;
}

export interface RedisTarget {
  /** `server`: host and port; `sentinel`: the primary the sentinels name. */
  mode: 'server' | 'sentinel';
  host: string;
  port: number;
  /** Sentinel mode: the sentinels to ask, and the master group name. */
  sentinels: RedisAddress[];
  name: string;
  username?: string;
  password?: string;
  /** Sentinel mode: the sentinels' own password, when they require one. */
  sentinelPassword?: string;
  tls: boolean;
  /** PEM text of the CA to trust for TLS, when not the system's. */
  ca?: string;
  /** The address as shown in messages: scheme, user, hosts; never a password. */
  shown: string;
}

export interface RedisTargetSettings {
  /** Overrides a password given in the URL. */
  password?: string;
  sentinelPassword?: string;
  /** Use TLS even for a `redis://` URL. */
  tls?: boolean;
}

const DEFAULT_PORT = 6379;
const DEFAULT_SENTINEL_PORT = 26379;
const EXPECTED = 'expected redis://host:port, rediss://host:port or redis+sentinel://host:port[,host:port...]/<master name>';

function showHost(a: RedisAddress): string {
  return `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;
}

/** `host`, `host:port`, `[v6]` or `[v6]:port`. */
function parseAddress(text: string, defaultPort: number): RedisAddress {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+))(?::(\d{1,5}))?$/.exec(text.trim());
  if (!m) throw new Error(`invalid Redis address '${text}': ${EXPECTED}`);
  const port = m[3] !== undefined ? Number(m[3]) : defaultPort;
  if (port < 1 || port > 65535) throw new Error(`invalid Redis port in '${text}': ${EXPECTED}`);
  return { host: m[1] ?? m[2]!, port };
}

function decode(part: string | undefined): string | undefined {
  if (part === undefined || part === '') return undefined;
  try {
    return decodeURIComponent(part);
  } catch {
    throw new Error(`invalid Redis URL: the user or password is not URL-encoded (${EXPECTED})`);
  }
}

/** Parse a Redis URL (one server or Sentinel) into connection settings and a printable form. */
export function parseRedisTarget(url: string, settings: RedisTargetSettings = {}): RedisTarget {
  const raw = /^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? url : `redis://${url}`;
  const m = /^([a-z][a-z0-9+.-]*):\/\/(?:([^@/]*)@)?([^/?#]*)(\/[^?#]*)?(?:\?[^#]*)?(?:#.*)?$/i.exec(raw);
  if (!m) throw new Error(`invalid Redis URL: ${EXPECTED}`);
  const scheme = m[1]!.toLowerCase();
  const sentinel = scheme === 'redis+sentinel' || scheme === 'rediss+sentinel';
  if (!sentinel && scheme !== 'redis' && scheme !== 'rediss') throw new Error(`invalid Redis URL scheme '${scheme}': ${EXPECTED}`);
  const tls = scheme.startsWith('rediss') || settings.tls === true;
  const [user, urlPassword] = m[2] === undefined ? [] : m[2].split(/:(.*)/s, 2);
  const username = decode(user);
  const password = settings.password || decode(urlPassword) || undefined;
  const hosts = m[3]!;
  const scheme2 = (tls ? 'rediss' : 'redis') + (sentinel ? '+sentinel' : '');
  const userShown = username ? `${encodeURIComponent(username)}@` : '';
  if (!sentinel) {
    if (hosts.includes(',')) throw new Error(`invalid Redis URL: several hosts need redis+sentinel:// (${EXPECTED})`);
    const a = parseAddress(hosts || '127.0.0.1', DEFAULT_PORT);
    return { mode: 'server', ...a, sentinels: [], name: '', username, password, tls, shown: `${scheme2}://${userShown}${showHost(a)}` };
  }
  const sentinels = hosts.split(',').filter((h) => h.trim() !== '').map((h) => parseAddress(h, DEFAULT_SENTINEL_PORT));
  if (sentinels.length === 0) throw new Error(`invalid Redis URL: no sentinel address (${EXPECTED})`);
  const name = decode((m[4] ?? '').replace(/^\/+|\/+$/g, ''));
  if (!name) throw new Error(`invalid Redis URL: the master name is missing after the sentinel addresses (${EXPECTED})`);
  return {
    mode: 'sentinel',
    host: sentinels[0]!.host,
    port: sentinels[0]!.port,
    sentinels,
    name,
    username,
    password,
    sentinelPassword: settings.sentinelPassword || undefined,
    tls,
    shown: `${scheme2}://${userShown}${sentinels.map(showHost).join(',')}/${encodeURIComponent(name)}`,
  };
}

/** The target of an already parsed target or a URL. */
export function redisTarget(t: RedisTarget | string, settings?: RedisTargetSettings): RedisTarget {
  return typeof t === 'string' ? parseRedisTarget(t, settings) : t;
}

/**
 * ioredis options that reach `db` of the target: the address (or the sentinels and master name),
 * credentials and TLS. Timeouts and retry policies are the caller's.
 */
export function redisConnectionOptions(t: RedisTarget, db = 0): RedisOptions {
  const tls = t.tls ? { ...(t.ca ? { ca: t.ca } : {}), ...(t.mode === 'server' && !/^[\d.:]+$/.test(t.host) ? { servername: t.host } : {}) } : undefined;
  const common: RedisOptions = { username: t.username, password: t.password, db, tls };
  if (t.mode === 'server') return { ...common, host: t.host, port: t.port };
  return {
    ...common,
    sentinels: t.sentinels.map((s) => ({ ...s })),
    name: t.name,
    sentinelPassword: t.sentinelPassword,
    enableTLSForSentinelMode: t.tls,
    ...(t.tls ? { sentinelTLS: tls } : {}),
    sentinelRetryStrategy: (times: number) => Math.min(times * 100, 1_000),
    // A former primary that came back as a replica refuses writes: reconnect (to the primary the
    // sentinels name now) and send the command again.
    reconnectOnError: (err: Error) => (/^READONLY\b/.test(err.message) ? 2 : false),
  };
}

/** The address alone, `host:port` or the sentinels and master name, for messages that name no user. */
export function redisAddressText(t: RedisTarget): string {
  return t.mode === 'sentinel' ? `${t.sentinels.map(showHost).join(',')}/${t.name}` : showHost(t);
}

/** What to check when the target cannot be reached, for error messages. */
export function redisReachHint(t: RedisTarget): string {
  if (t.mode === 'sentinel') {
    return `that the sentinels at ${t.sentinels.map(showHost).join(', ')} are reachable and monitor a primary named '${t.name}'`;
  }
  return `that redis-server is running and reachable at ${showHost(t)}`;
}
