/**
 * `bos serve`: the BOS v2 API alone, on the in-memory store or on Redis.
 *
 *   bos serve --port 8080                                   # memory store, 127.0.0.1:8080
 *   bos serve --port 8080 --host 0.0.0.0 --redis redis://cray-bos-db:6379 --redis-password-file /run/secrets/redis
 *
 * Settings come from the project's settings table (src/config.ts: BOS_PORT, BOS_HOST, BOS_REDIS_URL,
 * BOS_REDIS_PASSWORD_FILE, BOS_REDIS_TLS, BOS_TAPMS_URL, BOS_IMS_URL, BOS_LOG_LEVEL, S3_*; a flag wins
 * over its variable), plus BOS_PREFIXES / --prefix for the URL prefixes served.
 */
import { type Command, InvalidArgumentError } from 'commander';
import { pino } from 'pino';
import type { HsmClient, ImsClient, S3Client, TenantClient } from '../clients/types.js';
import { stopController } from '../clients/deadline.js';
import { OPTION_DEFAULTS, type Options } from '../common/options.js';
import { loadConfig, s3Endpoint, SETTINGS, type Config, type ConfigFlags } from '../config.js';
import { TokenVerifier } from '../server/auth/verifier.js';
import { RedisChangeBus, type ChangeBus } from '../events/bus.js';
import { startServer } from '../server/app.js';
import { DependencyWatch, type Dependency } from '../server/dependencies.js';
import { MemoryStore } from '../server/store/memory.js';
import { ApiMetrics, observedStore } from '../server/metrics.js';
import { Registry, withProcessMetrics } from '../metrics.js';
import type { Store } from '../server/store/store.js';
import { redisConnection } from './redis.js';
import { messageOf } from '../common/errors.js';

export type ServeOptions = Config & { prefix: string[] };

/** A TCP port 0–65535 (0 = any free port), for commander flags. */
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
  return [...(previous ?? []), p];
}

/**
 * The store the API runs on. On Redis, every write also publishes a change event on Redis pub/sub,
 * so `bos operators` processes subscribed to the same Redis react at once instead of at their next poll.
 */
async function openStore(o: ServeOptions, metrics: ApiMetrics): Promise<{ store: Store; bus?: ChangeBus }> {
  if (!o.redisUrl) return observedStore(new MemoryStore(), undefined, metrics);
  const redis = redisConnection(o);
  const { RedisStore } = await import('../server/store/redis/index.js');
  return observedStore(await RedisStore.connect(redis), new RedisChangeBus(redis.target), metrics);
}

interface ApiClients {
  tenants?: TenantClient;
  hsm?: HsmClient;
  ims?: ImsClient;
  s3?: S3Client;
  /** The services they reach, for the dependency watch. */
  dependencies: Dependency[];
}

/**
 * The clients of the services the API calls: IMS with the read timeout and retry count of the options
 * the last request read (`options()`); `signal` ends their calls when the API stops.
 */
async function openClients(o: ServeOptions, signal: AbortSignal, options: () => Options): Promise<ApiClients> {
  const { HttpTenantClient } = await import('../clients/tenants.js');
  const { HttpImsClient, imsRetries } = await import('../clients/ims.js');
  const { HttpHsmClient } = await import('../clients/hsm.js');
  const out: ApiClients = {
    tenants: new HttpTenantClient(o.tapmsUrl, { signal }),
    hsm: new HttpHsmClient(o.hsmUrl, { signal, readTimeoutSeconds: () => options().hsm_read_timeout }),
    ims: new HttpImsClient(o.imsUrl, {
      signal,
      readTimeoutSeconds: () => options().ims_read_timeout,
      retry: () => ({ retries: imsRetries(options().ims_errors_fatal) }),
    }),
    dependencies: [
      { name: 'ims', url: o.imsUrl, affects: 'the image checks of session templates and sessions fail, or warn with ims_errors_fatal false,' },
      { name: 'tapms', url: o.tapmsUrl, affects: 'requests with a Cray-Tenant-Name header fail' },
      { name: 'hsm', url: o.hsmUrl, affects: 'session previews fail' },
    ],
  };
  const endpoint = s3Endpoint(o);
  if (endpoint) {
    const { AwsS3ObjectClient } = await import('../clients/s3.js');
    out.s3 = new AwsS3ObjectClient({ endpoint, accessKey: o.s3AccessKey, secretKey: o.s3SecretKey, signal });
    out.dependencies.push({ name: 's3', url: endpoint, affects: 'boot and reboot sessions cannot read their image manifests and are refused' });
  }
  return out;
}

/** Run the API until SIGINT/SIGTERM. */
export async function serve(o: ServeOptions): Promise<void> {
  const logger = pino({ level: o.logLevel });
  const metrics = new ApiMetrics(withProcessMetrics(new Registry()));
  const { store, bus } = await openStore(o, metrics);
  const stopCalls = stopController();
  let options: Options = { ...OPTION_DEFAULTS };
  const { dependencies: deps, ...clients } = await openClients(o, stopCalls.signal, () => options);
  const dependencies = new DependencyWatch(deps, logger);
  await dependencies.start();
  const auth = verifierOf(o);
  if (auth) logger.info(`bearer tokens are verified (keys from ${auth.keySource}, audience ${o.authAudience})`);
  else if (!loopback(o.host)) {
    logger.warn(`listening on ${o.host} without token verification: anyone who reaches the port may read and change everything. Set BOS_AUTH_ISSUER (or BOS_AUTH_JWKS_URL) and BOS_AUTH_AUDIENCE unless a gateway checks callers (docs/security.md)`);
  }
  const srv = await startServer({
    store,
    ...clients,
    auth,
    metrics,
    dependencies,
    deadlineSeconds: o.apiDeadline,
    onOptions: (latest) => (options = latest),
    logger,
    port: o.port,
    host: o.host,
    prefixes: o.prefix,
    ui: o.ui,
  });
  const prefixes = o.prefix.some((p) => p) ? `, prefixes: ${o.prefix.map((p) => p || '/').join(' ')}` : '';
  logger.info(`BOS API listening on ${srv.url} (store: ${store.kind}${prefixes}${clients.s3 ? '' : ', no S3: boot/reboot validation reports the manifest error'})`);
  if (o.ui) logger.info(`web view at ${srv.url}${o.prefix[0] ?? ''}/ui/`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  logger.info('shutting down');
  stopCalls.abort(new Error('the API is stopping'));
  dependencies.stop();
  await srv.close();
  await bus?.close();
  await store.close();
}

interface ServeFlags extends ConfigFlags {
  redis?: string;
  prefix?: string[];
}

/** Flags over environment variables over defaults. Throws one clear line on a bad value. */
export function resolveServeOptions(flags: ServeFlags, env: NodeJS.ProcessEnv = process.env): ServeOptions {
  const { redis, prefix, ...rest } = flags;
  const config = loadConfig(env, { ...rest, redisUrl: redis });
  let prefixes = prefix;
  if (!prefixes && env.BOS_PREFIXES !== undefined) {
    try {
      prefixes = env.BOS_PREFIXES.split(',').reduce<string[]>((acc, p) => parsePrefix(p, acc), []);
    } catch (err) {
      throw new Error(`BOS_PREFIXES=${JSON.stringify(env.BOS_PREFIXES)} is not valid: ${messageOf(err)}`);
    }
  }
  if (config.redisTls && !config.redisUrl) throw new Error('--redis-tls (BOS_REDIS_TLS) needs --redis <url> (BOS_REDIS_URL)');
  return { ...config, prefix: prefixes ?? [''] };
}

/** The token verifier of these settings, or undefined when tokens are not checked. */
export function verifierOf(o: Config): TokenVerifier | undefined {
  if (!o.authIssuer && !o.authJwksUrl) return undefined;
  return new TokenVerifier({
    issuer: o.authIssuer || undefined,
    jwksUrl: o.authJwksUrl || undefined,
    audience: o.authAudience,
    claims: { roles: o.authRolesClaim, tenant: o.authTenantClaim, xname: o.authXnameClaim },
    roles: { admin: o.authAdminRole, monitor: o.authMonitorRole, node: o.authNodeRole },
  });
}

/** Whether `host` binds loopback only. */
function loopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

export function register(program: Command): void {
  const cmd = program
    .command('serve')
    .description('run the BOS v2 API alone (in-memory store, or Redis with --redis)')
    .option('--port <port>', 'TCP port to listen on, 0 = any free port (env BOS_PORT; default 8080)')
    .option('--host <host>', 'address to bind (env BOS_HOST; default 127.0.0.1)')
    .option('--redis <url>', 'Redis URL, e.g. redis://cray-bos-db:6379, or redis+sentinel://host:26379[,host:26379...]/<master name> (env BOS_REDIS_URL); default: in-memory store')
    .option('--redis-password-file <file>', 'file holding the Redis password (env BOS_REDIS_PASSWORD_FILE)')
    .option('--redis-sentinel-password-file <file>', 'file holding the Redis Sentinels’ password (env BOS_REDIS_SENTINEL_PASSWORD_FILE)')
    .option('--redis-tls', 'connect to Redis over TLS (env BOS_REDIS_TLS=true)')
    .option('--redis-wait-replicas <n>', 'replicas a write must reach before it is acknowledged (Redis WAIT; env BOS_REDIS_WAIT_REPLICAS; default 0)')
    .option('--redis-wait-timeout <seconds>', 'how long a write waits for them before answering 503 (env BOS_REDIS_WAIT_TIMEOUT; default 1)')
    .option('--prefix <path>', 'URL prefix to serve the API under, repeatable, e.g. --prefix "" --prefix /apis/bos (env BOS_PREFIXES, comma list; default: the root)', parsePrefix)
    .option('--tapms-url <url>', 'tenant service base URL (env BOS_TAPMS_URL; default http://cray-tapms/v1alpha3)')
    .option('--ims-url <url>', 'image service base URL (env BOS_IMS_URL; default http://cray-ims/v3)')
    .option('--hsm-url <url>', 'Hardware State Manager base URL, for session previews (env BOS_HSM_URL; default http://cray-smd/hsm/v2)')
    .option('--api-deadline <seconds>', 'seconds a request may wait in all for IMS, S3, HSM and the tenant service (env BOS_API_DEADLINE; default 30)')
    .option('--log-level <level>', 'log level (env BOS_LOG_LEVEL; default info)')
    .option('--ui', 'serve the read-only web view of sessions and nodes at /ui/ (env BOS_UI=true)')
    .action(async (flags: ServeFlags) => {
      await serve(resolveServeOptions(flags));
    });
  for (const s of SETTINGS) if (s.key.startsWith('auth')) cmd.option(`${s.flag} <value>`, `${s.description} (env ${s.env})`);
}
