/**
 * Every process setting in one table: environment variable, command-line flag, default,
 * description and parser. `loadConfig(env, flags)` reads them (a flag wins over its variable) and
 * fails fast with a `ConfigError` — one line naming the variable or flag, the bad value and what is
 * expected. `configMarkdown()` renders the table for docs/configuration.md (`npx tsx src/config.ts --markdown`).
 *
 * Secrets (S3 keys) are never echoed in an error; passwords and tokens are read from files whose
 * paths are the settings.
 */
import { hostname } from 'node:os';
import { pathToFileURL } from 'node:url';
import type { LevelWithSilent } from 'pino';
import { parseRedisTarget } from './clients/redis-target.js';
import { BOS_LOG_LEVELS, PINO_LOG_LEVELS, processLevel } from './log.js';
import { OPERATOR_NAMES, type OperatorName } from './operators/types.js';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export interface Config {
  bosUrl: string;
  hsmUrl: string;
  pcsUrl: string;
  bssUrl: string;
  cfsUrl: string;
  imsUrl: string;
  tapmsUrl: string;
  s3Protocol: 'http' | 'https';
  s3Gateway: string;
  s3AccessKey: string;
  s3SecretKey: string;
  tokenFile: string;
  redisUrl: string;
  redisPasswordFile: string;
  redisSentinelPasswordFile: string;
  redisTls: boolean;
  redisWaitReplicas: number;
  redisWaitTimeout: number;
  host: string;
  port: number;
  apiDeadline: number;
  ui: boolean;
  authIssuer: string;
  authJwksUrl: string;
  authAudience: string;
  authRolesClaim: string;
  authTenantClaim: string;
  authXnameClaim: string;
  authAdminRole: string;
  authMonitorRole: string;
  authNodeRole: string;
  metricsPort: number;
  logLevel: LevelWithSilent;
  operatorLogLevel: LevelWithSilent;
  only: OperatorName[];
  livenessDeltaMax: number;
  largePassThreshold: number;
  leaderElection: boolean;
  leaseName: string;
  leaseNamespace: string;
  leaseIdentity: string;
  leaseDurationSeconds: number;
  renewDeadlineSeconds: number;
  retryPeriodSeconds: number;
}

type Env = Readonly<Record<string, string | undefined>>;

export interface Setting<K extends keyof Config = keyof Config> {
  key: K;
  env: string;
  /** Command-line flag (commander attribute name is `key`). */
  flag: string;
  /** The default, or a function of the environment (shown as `defaultText`). */
  default: Config[K] | ((env: Env) => Config[K]);
  defaultText?: string;
  description: string;
  /** What a valid value looks like, for error messages. */
  expected: string;
  parse(raw: string): Config[K];
  /** Never shown in errors. */
  secret?: boolean;
}

// ------------------------------------------------------------------ parsers

function fail(): never {
  throw new ConfigError('');
}

function url(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return fail();
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') fail();
  return raw.replace(/\/+$/, '');
}

function redisUrl(raw: string): string {
  if (raw === '') return '';
  if (!/^rediss?(\+sentinel)?:\/\//i.test(raw)) fail();
  try {
    parseRedisTarget(raw);
  } catch {
    return fail();
  }
  return raw;
}

function port(raw: string): number {
  if (!/^\d{1,5}$/.test(raw)) fail();
  const n = Number(raw);
  if (n > 65535) fail();
  return n;
}

function count(raw: string): number {
  if (!/^\d+$/.test(raw.trim())) fail();
  return Number(raw.trim());
}

function bool(raw: string): boolean {
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  return fail();
}

function seconds(raw: string): number {
  if (!/^\d+(\.\d+)?$/.test(raw)) fail();
  const n = Number(raw);
  if (!(n > 0)) fail();
  return n;
}

const LEVELS_EXPECTED = `one of ${PINO_LOG_LEVELS.join(', ')} (or ${BOS_LOG_LEVELS.join(', ')})`;

function level(raw: string): LevelWithSilent {
  return processLevel(raw) ?? fail();
}

function operators(raw: string): OperatorName[] {
  const list = raw
    .split(',')
    .map((s) => s.trim().replace(/_/g, '-'))
    .filter(Boolean);
  if (list.length === 0 || list.includes('all')) return [...OPERATOR_NAMES];
  if (list.some((n) => !(OPERATOR_NAMES as readonly string[]).includes(n))) fail();
  return OPERATOR_NAMES.filter((n) => list.includes(n));
}

function name(raw: string): string {
  // A Kubernetes object name (DNS subdomain).
  if (!/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(raw)) fail();
  return raw;
}

function nonEmpty(raw: string): string {
  if (raw.trim() === '') fail();
  return raw;
}

const any = (raw: string) => raw;

function optionalUrl(raw: string): string {
  return raw === '' ? '' : url(raw);
}

function claimPath(raw: string): string {
  if (!/^[A-Za-z0-9_:/-]+(\.[A-Za-z0-9_:/-]+)*$/.test(raw)) fail();
  return raw;
}

// ------------------------------------------------------------------ the table

const URL_EXPECTED = 'an http:// or https:// URL';

function setting<K extends keyof Config>(s: Setting<K>): Setting<K> {
  return s;
}

export const SETTINGS: readonly Setting[] = [
  setting({ key: 'bosUrl', env: 'BOS_URL', flag: '--bos-url', default: 'http://cray-bos/v2', description: 'BOS v2 API base URL the operators call', expected: URL_EXPECTED, parse: url }),
  setting({ key: 'hsmUrl', env: 'BOS_HSM_URL', flag: '--hsm-url', default: 'http://cray-smd/hsm/v2', description: 'Hardware State Manager base URL', expected: URL_EXPECTED, parse: url }),
  setting({ key: 'pcsUrl', env: 'BOS_PCS_URL', flag: '--pcs-url', default: 'http://cray-power-control', description: 'Power Control Service base URL', expected: URL_EXPECTED, parse: url }),
  setting({ key: 'bssUrl', env: 'BOS_BSS_URL', flag: '--bss-url', default: 'http://cray-bss/boot/v1', description: 'Boot Script Service base URL', expected: URL_EXPECTED, parse: url }),
  setting({ key: 'cfsUrl', env: 'BOS_CFS_URL', flag: '--cfs-url', default: 'http://cray-cfs-api/v3', description: 'Configuration Framework Service base URL', expected: URL_EXPECTED, parse: url }),
  setting({ key: 'imsUrl', env: 'BOS_IMS_URL', flag: '--ims-url', default: 'http://cray-ims/v3', description: 'Image Management Service base URL', expected: URL_EXPECTED, parse: url }),
  setting({ key: 'tapmsUrl', env: 'BOS_TAPMS_URL', flag: '--tapms-url', default: 'http://cray-tapms/v1alpha3', description: 'Tenant service (TAPMS) base URL', expected: URL_EXPECTED, parse: url }),
  setting({
    key: 's3Protocol',
    env: 'S3_PROTOCOL',
    flag: '--s3-protocol',
    default: 'https',
    description: 'S3 endpoint scheme',
    expected: 'http or https',
    parse: (raw) => (raw === 'http' || raw === 'https' ? raw : fail()),
  }),
  setting({ key: 's3Gateway', env: 'S3_GATEWAY', flag: '--s3-gateway', default: '', defaultText: '(none: S3 not used)', description: 'S3 endpoint host[:port] (the chart uses `rgw-vip`)', expected: 'a host name or host:port', parse: (raw) => (raw === '' || /^[A-Za-z0-9.-]+(:\d{1,5})?$/.test(raw) ? raw : fail()) }),
  setting({ key: 's3AccessKey', env: 'S3_ACCESS_KEY', flag: '--s3-access-key', default: '', defaultText: '(none)', description: 'S3 access key id (from a Secret)', expected: 'a string', parse: any, secret: true }),
  setting({ key: 's3SecretKey', env: 'S3_SECRET_KEY', flag: '--s3-secret-key', default: '', defaultText: '(none)', description: 'S3 secret key (from a Secret; never logged)', expected: 'a string', parse: any, secret: true }),
  setting({ key: 'tokenFile', env: 'BOS_TOKEN_FILE', flag: '--token-file', default: '', defaultText: '(none: no Authorization header)', description: 'file holding a bearer token sent to every service (re-read when it changes)', expected: 'a file path', parse: any }),
  setting({
    key: 'redisUrl',
    env: 'BOS_REDIS_URL',
    flag: '--redis',
    default: '',
    defaultText: '(none: in-memory store)',
    description: 'Redis URL of the BOS database: one server, e.g. `redis://cray-bos-db:6379`, or the primary Redis Sentinels name, e.g. `redis+sentinel://cray-bos-db-sentinel:26379/cray-bos-db`',
    expected: 'a redis://, rediss://, redis+sentinel://host:port[,host:port...]/<master name> or rediss+sentinel:// URL',
    parse: redisUrl,
  }),
  setting({ key: 'redisPasswordFile', env: 'BOS_REDIS_PASSWORD_FILE', flag: '--redis-password-file', default: '', defaultText: '(none)', description: 'file holding the Redis password', expected: 'a file path', parse: any }),
  setting({ key: 'redisSentinelPasswordFile', env: 'BOS_REDIS_SENTINEL_PASSWORD_FILE', flag: '--redis-sentinel-password-file', default: '', defaultText: '(none)', description: 'file holding the Redis Sentinels’ own password, when they require one', expected: 'a file path', parse: any }),
  setting({ key: 'redisTls', env: 'BOS_REDIS_TLS', flag: '--redis-tls', default: false, description: 'connect to Redis over TLS', expected: 'true or false', parse: bool }),
  setting({
    key: 'redisWaitReplicas',
    env: 'BOS_REDIS_WAIT_REPLICAS',
    flag: '--redis-wait-replicas',
    default: 0,
    description: 'replicas that must have a write before BOS acknowledges it (Redis WAIT), so a write survives the loss of the primary; 0 = acknowledge once the primary has it',
    expected: 'a whole number, 0 or more',
    parse: count,
  }),
  setting({ key: 'redisWaitTimeout', env: 'BOS_REDIS_WAIT_TIMEOUT', flag: '--redis-wait-timeout', default: 1, description: 'seconds a write waits for those replicas before it is answered 503', expected: 'a positive number of seconds', parse: seconds }),
  setting({ key: 'host', env: 'BOS_HOST', flag: '--host', default: '127.0.0.1', description: 'address the API and the operators’ metrics/probe server bind (`0.0.0.0` in a pod)', expected: 'an IP address or host name', parse: nonEmpty }),
  setting({ key: 'port', env: 'BOS_PORT', flag: '--port', default: 8080, description: 'API port: serves `/v2/...`, the probes (`/v2/healthz`, `/readyz`) and the API metrics at `/metrics` (no port of their own)', expected: 'a whole number from 0 to 65535', parse: port }),
  setting({
    key: 'apiDeadline',
    env: 'BOS_API_DEADLINE',
    flag: '--api-deadline',
    default: 30,
    description: 'seconds an API request may wait in all for the services it calls (IMS, S3, the tenant service); their retries start only in its first 4 s',
    expected: 'a positive number of seconds',
    parse: seconds,
  }),
  setting({ key: 'ui', env: 'BOS_UI', flag: '--ui', default: false, description: 'serve the read-only web view of sessions and nodes at `/ui/` (docs/ui.md)', expected: 'true or false', parse: bool }),
  setting({ key: 'authIssuer', env: 'BOS_AUTH_ISSUER', flag: '--auth-issuer', default: '', defaultText: '(none: tokens not checked)', description: 'verify bearer tokens issued by this OpenID issuer (its keys found by OpenID discovery); docs/security.md', expected: URL_EXPECTED, parse: optionalUrl }),
  setting({ key: 'authJwksUrl', env: 'BOS_AUTH_JWKS_URL', flag: '--auth-jwks-url', default: '', defaultText: '(none)', description: 'verify bearer tokens against the keys published here (instead of, or besides, discovery)', expected: URL_EXPECTED, parse: optionalUrl }),
  setting({ key: 'authAudience', env: 'BOS_AUTH_AUDIENCE', flag: '--auth-audience', default: '', defaultText: '(none)', description: 'the audience (aud) tokens must be issued for; required with token verification', expected: 'a string', parse: any }),
  setting({ key: 'authRolesClaim', env: 'BOS_AUTH_ROLES_CLAIM', flag: '--auth-roles-claim', default: 'realm_access.roles', description: 'dotted path of the token claim holding its roles', expected: 'a dotted claim path', parse: claimPath }),
  setting({ key: 'authTenantClaim', env: 'BOS_AUTH_TENANT_CLAIM', flag: '--auth-tenant-claim', default: 'tenant', description: 'dotted path of the claim naming the tenant(s) a token acts for', expected: 'a dotted claim path', parse: claimPath }),
  setting({ key: 'authXnameClaim', env: 'BOS_AUTH_XNAME_CLAIM', flag: '--auth-xname-claim', default: 'xname', description: 'dotted path of the claim naming the node of a node token', expected: 'a dotted claim path', parse: claimPath }),
  setting({ key: 'authAdminRole', env: 'BOS_AUTH_ADMIN_ROLE', flag: '--auth-admin-role', default: 'admin', description: 'role that may do everything', expected: 'a role name', parse: nonEmpty }),
  setting({ key: 'authMonitorRole', env: 'BOS_AUTH_MONITOR_ROLE', flag: '--auth-monitor-role', default: 'monitor', description: 'role that may only read', expected: 'a role name', parse: nonEmpty }),
  setting({ key: 'authNodeRole', env: 'BOS_AUTH_NODE_ROLE', flag: '--auth-node-role', default: 'system-compute', description: 'role of node tokens, which may only report their own node’s state', expected: 'a role name', parse: nonEmpty }),
  setting({ key: 'metricsPort', env: 'BOS_METRICS_PORT', flag: '--metrics-port', default: 9090, description: 'operators port for `/metrics`, `/healthz`, `/readyz`', expected: 'a whole number from 0 to 65535', parse: port }),
  setting({ key: 'logLevel', env: 'BOS_LOG_LEVEL', flag: '--log-level', default: 'info', description: 'API log level', expected: LEVELS_EXPECTED, parse: level }),
  setting({ key: 'operatorLogLevel', env: 'BOS_OPERATOR_LOG_LEVEL', flag: '--operator-log-level', default: 'info', description: 'initial operators log level (the `logging_level` option overrides it at run time)', expected: LEVELS_EXPECTED, parse: level }),
  setting({
    key: 'only',
    env: 'BOS_OPERATORS',
    flag: '--only',
    default: [...OPERATOR_NAMES],
    defaultText: 'all',
    description: 'which operators this process runs (comma list)',
    expected: `"all" or a comma list of ${OPERATOR_NAMES.join(', ')}`,
    parse: operators,
  }),
  setting({
    key: 'largePassThreshold',
    env: 'BOS_LARGE_PASS_THRESHOLD',
    flag: '--large-pass-threshold',
    default: 20_000,
    description: 'passes expected to select at least this many components run one at a time in the operators process, bounding its memory (0 = no limit)',
    expected: 'a whole number, 0 or more',
    parse: count,
  }),
  setting({ key: 'livenessDeltaMax', env: 'LIVENESS_DELTA_MAX', flag: '--liveness-delta-max', default: 20, description: 'seconds without a finished pass or heartbeat before `/healthz` fails', expected: 'a positive number of seconds', parse: seconds }),
  setting({
    key: 'leaderElection',
    env: 'BOS_LEADER_ELECTION',
    flag: '--leader-elect',
    default: (env) => Boolean(env.KUBERNETES_SERVICE_HOST),
    defaultText: 'on inside a cluster, off outside',
    description: 'operators act only while holding the Lease (run several replicas, one active)',
    expected: 'true or false',
    parse: bool,
  }),
  setting({ key: 'leaseName', env: 'BOS_LEASE_NAME', flag: '--lease-name', default: 'cray-bos-operators', description: 'name of the coordination.k8s.io Lease', expected: 'a Kubernetes object name (lower case, digits, - and .)', parse: name }),
  setting({
    key: 'leaseNamespace',
    env: 'BOS_LEASE_NAMESPACE',
    flag: '--lease-namespace',
    default: (env) => env.POD_NAMESPACE || 'services',
    defaultText: '`$POD_NAMESPACE`, else `services`',
    description: 'namespace of the Lease',
    expected: 'a Kubernetes namespace name',
    parse: name,
  }),
  setting({
    key: 'leaseIdentity',
    env: 'BOS_LEASE_IDENTITY',
    flag: '--lease-identity',
    default: (env) => env.POD_NAME || hostname(),
    defaultText: '`$POD_NAME`, else the host name',
    description: 'this replica’s identity in the Lease (unique per replica)',
    expected: 'a non-empty string',
    parse: nonEmpty,
  }),
  setting({ key: 'leaseDurationSeconds', env: 'BOS_LEASE_DURATION', flag: '--lease-duration', default: 15, description: 'seconds a Lease stays valid after its last renewal', expected: 'a positive number of seconds', parse: seconds }),
  setting({ key: 'renewDeadlineSeconds', env: 'BOS_LEASE_RENEW_DEADLINE', flag: '--lease-renew-deadline', default: 10, description: 'seconds a leader keeps acting without a successful renewal (must be below the lease duration)', expected: 'a positive number of seconds', parse: seconds }),
  setting({ key: 'retryPeriodSeconds', env: 'BOS_LEASE_RETRY_PERIOD', flag: '--lease-retry-period', default: 2, description: 'seconds between attempts to acquire or renew the Lease (must be below the renew deadline)', expected: 'a positive number of seconds', parse: seconds }),
];

/** Every environment variable the settings read, plus the ones used for defaults. */
export const CONFIG_ENV_VARS: readonly string[] = [...SETTINGS.map((s) => s.env), 'POD_NAME', 'POD_NAMESPACE', 'KUBERNETES_SERVICE_HOST'];

// ------------------------------------------------------------------ loading

/** Flag values by setting key (commander's attribute names); strings are parsed, other values are checked. */
export type ConfigFlags = Partial<Record<keyof Config, unknown>>;

function show(s: Setting, raw: string): string {
  return s.secret ? '(value hidden)' : JSON.stringify(raw);
}

function rawOf(v: unknown): string {
  if (Array.isArray(v)) return v.map(String).join(',');
  return String(v);
}

function parseOne(s: Setting, raw: string, source: string): Config[keyof Config] {
  try {
    return s.parse(raw);
  } catch (err) {
    if (err instanceof ConfigError) {
      throw new ConfigError(`${source}=${show(s, raw)} is not valid: expected ${s.expected}`);
    }
    throw err;
  }
}

/**
 * The settings from `flags` (highest), `env`, then defaults. Throws ConfigError with one line naming
 * the variable or flag, the value and what is expected.
 */
export function loadConfig(env: Env = process.env, flags: ConfigFlags = {}): Config {
  const out: Record<string, unknown> = {};
  for (const s of SETTINGS) {
    const f = flags[s.key];
    const e = env[s.env];
    if (f !== undefined && f !== null) out[s.key] = parseOne(s, rawOf(f), s.flag);
    else if (e !== undefined && e !== '') out[s.key] = parseOne(s, e, s.env);
    else out[s.key] = typeof s.default === 'function' ? (s.default as (env: Env) => unknown)(env) : structuredClone(s.default);
  }
  const c = out as unknown as Config;
  const where = (k: keyof Config) => {
    const s = SETTINGS.find((x) => x.key === k)!;
    return flags[k] !== undefined ? s.flag : s.env;
  };
  if (!(c.renewDeadlineSeconds < c.leaseDurationSeconds)) {
    throw new ConfigError(
      `${where('renewDeadlineSeconds')}=${c.renewDeadlineSeconds} is not valid: expected less than ${where('leaseDurationSeconds')}=${c.leaseDurationSeconds}, so a leader stops acting before its Lease can be taken`,
    );
  }
  if (!(c.retryPeriodSeconds < c.renewDeadlineSeconds)) {
    throw new ConfigError(
      `${where('retryPeriodSeconds')}=${c.retryPeriodSeconds} is not valid: expected less than ${where('renewDeadlineSeconds')}=${c.renewDeadlineSeconds}`,
    );
  }
  if (c.redisPasswordFile && !c.redisUrl) {
    throw new ConfigError(`${where('redisPasswordFile')} is set but ${where('redisUrl')} is not: expected a Redis URL to use the password with`);
  }
  if (c.redisSentinelPasswordFile && !/\+sentinel:/i.test(c.redisUrl)) {
    throw new ConfigError(`${where('redisSentinelPasswordFile')} is set but ${where('redisUrl')} is not a redis+sentinel:// URL: expected sentinels to use the password with`);
  }
  if ((c.authIssuer || c.authJwksUrl) && !c.authAudience) {
    throw new ConfigError(`${where(c.authIssuer ? 'authIssuer' : 'authJwksUrl')} is set but ${where('authAudience')} is not: expected the audience (aud) BOS's tokens are issued for`);
  }
  if (c.s3Gateway && (!c.s3AccessKey || !c.s3SecretKey)) {
    throw new ConfigError(`${where('s3Gateway')}=${JSON.stringify(c.s3Gateway)} is set but S3_ACCESS_KEY or S3_SECRET_KEY is empty: expected both keys`);
  }
  return c;
}

/** The S3 endpoint of a config (`<protocol>://<gateway>`), or undefined when S3 is not configured. */
export function s3Endpoint(c: Config): string | undefined {
  return c.s3Gateway ? `${c.s3Protocol}://${c.s3Gateway}` : undefined;
}

// ------------------------------------------------------------------ documentation

function defaultText(s: Setting): string {
  if (s.defaultText) return s.defaultText;
  const d = s.default as unknown;
  if (Array.isArray(d)) return d.join(',');
  return `\`${String(d)}\``;
}

/** The settings table as Markdown (docs/configuration.md holds exactly this). */
export function configMarkdown(): string {
  const esc = (t: string) => t.replace(/\|/g, '\\|');
  const rows = SETTINGS.map((s) => `| \`${s.env}\` | \`${s.flag}\` | ${esc(defaultText(s))} | ${esc(s.description)}; ${esc(s.expected)} |`);
  return ['| Environment variable | Flag | Default | Meaning; valid values |', '|---|---|---|---|', ...rows].join('\n') + '\n';
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href && process.argv.includes('--markdown')) {
  process.stdout.write(configMarkdown());
}
