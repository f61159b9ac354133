/**
 * `bos serve`: the BOS v2 API alone, on the in-memory store or on Redis.
 *
 *   bos serve --port 8080                                   # memory store, 127.0.0.1:8080
 *   bos serve --port 8080 --host 0.0.0.0 --redis redis://cray-bos-db:6379 --redis-password-file /run/secrets/redis
 *
 * Every flag has an environment variable (flags win): BOS_PORT, BOS_HOST, BOS_REDIS_URL,
 * BOS_REDIS_PASSWORD_FILE, BOS_REDIS_TLS, BOS_PREFIXES, BOS_TAPMS_URL, BOS_IMS_URL, BOS_LOG_LEVEL.
 * S3 (boot-artifact checks) is used when S3_GATEWAY is set (with S3_PROTOCOL, S3_ACCESS_KEY,
 * S3_SECRET_KEY).
 */
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { pino } from 'pino';
import type { ImsClient, S3Client, TenantClient } from '../clients/types.js';
import { startServer } from '../server/app.js';
import { MemoryStore } from '../server/store/memory.js';
import type { Store } from '../server/store/store.js';

export interface ServeOptions {
  port: number;
  host: string;
  redis?: string;
  redisPasswordFile?: string;
  redisTls?: boolean;
  prefix: string[];
  tapmsUrl?: string;
  imsUrl?: string;
  logLevel: string;
}

/** A TCP port 0–65535 (0 = any free port). */
export function parsePort(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isInteger(n) || n < 0 || n > 65535) {
    throw new InvalidArgumentError(`"${value}" is not a port number: use a whole number from 0 to 65535`);
  }
  return n;
}

function parsePrefix(value: string, previous: string[] | undefined): string[] {
  const p = value.trim().replace(/\/+$/, '');
  if (p !== '' && !/^\/[A-Za-z0-9._~\-/]*$/.test(p)) {
    throw new InvalidArgumentError(`"${value}" is not a URL path prefix: use e.g. /apis/bos (or "" for the root)`);
  }
  const list = previous ?? [];
  return [...list, p];
}

const DEFAULT_PREFIXES = [''];
const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

function parseLevel(value: string): string {
  const l = value.toLowerCase();
  if (!LEVELS.includes(l)) throw new InvalidArgumentError(`"${value}" is not a log level: use one of ${LEVELS.join(', ')}`);
  return l;
}

function envBool(v: string | undefined): boolean | undefined {
  if (v === undefined || v === '') return undefined;
  return /^(1|true|yes|on)$/i.test(v);
}

/** Read the Redis password file (first line, trimmed); one clear line on failure, never its content. */
export function readPasswordFile(path: string): string {
  try {
    return readFileSync(path, 'utf8').split(/\r?\n/)[0]!.trim();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(`cannot read the Redis password file ${path}${code ? ` (${code})` : ''}: check the path and its permissions`);
  }
}

async function openStore(o: ServeOptions): Promise<Store> {
  if (!o.redis) return new MemoryStore();
  const password = o.redisPasswordFile ? readPasswordFile(o.redisPasswordFile) : undefined;
  const { RedisStore } = await import('../server/store/redis.js');
  return RedisStore.connect({ url: o.redis, password, tls: o.redisTls });
}

async function openClients(o: ServeOptions): Promise<{ tenants?: TenantClient; ims?: ImsClient; s3?: S3Client }> {
  const out: { tenants?: TenantClient; ims?: ImsClient; s3?: S3Client } = {};
  if (o.tapmsUrl) {
    const { HttpTenantClient } = await import('../clients/tenants.js');
    out.tenants = new HttpTenantClient(o.tapmsUrl);
  }
  if (o.imsUrl) {
    const { HttpImsClient } = await import('../clients/ims.js');
    out.ims = new HttpImsClient(o.imsUrl);
  }
  if (process.env.S3_GATEWAY) {
    const { AwsS3ObjectClient } = await import('../clients/s3.js');
    out.s3 = new AwsS3ObjectClient({});
  }
  return out;
}

/** Run the API until SIGINT/SIGTERM. */
export async function serve(o: ServeOptions): Promise<void> {
  const logger = pino({ level: o.logLevel });
  const store = await openStore(o);
  const clients = await openClients(o);
  const srv = await startServer({ store, ...clients, logger, port: o.port, host: o.host, prefixes: o.prefix });
  logger.info(`BOS API listening on ${srv.url} (store: ${store.kind}${o.prefix.some((p) => p) ? `, prefixes: ${o.prefix.map((p) => p || '/').join(' ')}` : ''})`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  logger.info('shutting down');
  await srv.close();
  await store.close();
}

/** Parse an environment variable with a flag's parser, naming the variable on failure. */
function fromEnv<T>(name: string, parse: (v: string) => T): T | undefined {
  const v = process.env[name];
  if (v === undefined || v === '') return undefined;
  try {
    return parse(v);
  } catch (err) {
    throw new Error(`${name}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

interface ServeFlags {
  port?: number;
  host?: string;
  redis?: string;
  redisPasswordFile?: string;
  redisTls?: boolean;
  prefix?: string[];
  tapmsUrl?: string;
  imsUrl?: string;
  logLevel?: string;
}

/** Flags over environment variables over defaults. Throws one clear line on a bad value. */
export function resolveServeOptions(f: ServeFlags): ServeOptions {
  const env = process.env;
  const o: ServeOptions = {
    port: f.port ?? fromEnv('BOS_PORT', parsePort) ?? 8080,
    host: f.host ?? (env.BOS_HOST || '127.0.0.1'),
    redis: f.redis ?? (env.BOS_REDIS_URL || undefined),
    redisPasswordFile: f.redisPasswordFile ?? (env.BOS_REDIS_PASSWORD_FILE || undefined),
    redisTls: f.redisTls ?? envBool(env.BOS_REDIS_TLS) ?? false,
    prefix: f.prefix ?? fromEnv('BOS_PREFIXES', (v) => v.split(',').reduce<string[]>((acc, p) => parsePrefix(p, acc), [])) ?? DEFAULT_PREFIXES,
    tapmsUrl: f.tapmsUrl ?? (env.BOS_TAPMS_URL || undefined),
    imsUrl: f.imsUrl ?? (env.BOS_IMS_URL || undefined),
    logLevel: f.logLevel ?? fromEnv('BOS_LOG_LEVEL', parseLevel) ?? 'info',
  };
  if (o.redisPasswordFile && !o.redis) throw new Error('--redis-password-file (BOS_REDIS_PASSWORD_FILE) needs --redis <url> (BOS_REDIS_URL)');
  if (o.redisTls && !o.redis) throw new Error('--redis-tls (BOS_REDIS_TLS) needs --redis <url> (BOS_REDIS_URL)');
  return o;
}

export function register(program: Command): void {
  program
    .command('serve')
    .description('run the BOS v2 API alone (in-memory store, or Redis with --redis)')
    .option('--port <port>', 'TCP port to listen on, 0 = any free port (env BOS_PORT; default 8080)', parsePort)
    .option('--host <host>', 'address to bind (env BOS_HOST; default 127.0.0.1)')
    .option('--redis <url>', 'Redis URL, e.g. redis://cray-bos-db:6379 (env BOS_REDIS_URL); default: in-memory store')
    .option('--redis-password-file <file>', 'file holding the Redis password (env BOS_REDIS_PASSWORD_FILE)')
    .option('--redis-tls', 'connect to Redis over TLS (env BOS_REDIS_TLS=true)')
    .option('--prefix <path>', 'URL prefix to serve the API under, repeatable, e.g. --prefix "" --prefix /apis/bos (env BOS_PREFIXES, comma list; default: the root)', parsePrefix)
    .option('--tapms-url <url>', 'tenant service base URL, e.g. http://cray-tapms/v1alpha3 (env BOS_TAPMS_URL); default: no tenants')
    .option('--ims-url <url>', 'image service base URL, e.g. http://cray-ims/v3 (env BOS_IMS_URL)')
    .option('--log-level <level>', `log level: ${LEVELS.join(', ')} (env BOS_LOG_LEVEL; default info)`, parseLevel)
    .action(async (flags: ServeFlags) => {
      await serve(resolveServeOptions(flags));
    });
}
