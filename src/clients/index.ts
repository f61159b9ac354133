/**
 * Build every downstream client from one configuration: `createServices(config)` → `Services`.
 * Read timeouts and IMS's retry count follow the live options (`config.options()` is asked at every
 * request), so refreshing options at the start of a pass is enough.
 */
import pLimit from 'p-limit';
import type { Options } from '../common/options.js';
import { DEFAULT_REDIS_URL, RedisBootArtifacts } from './boot-artifacts.js';
import type { RedisTarget } from './redis-target.js';
import { HttpBosClient } from './bos.js';
import { HttpBssClient } from './bss.js';
import { HttpCfsClient } from './cfs.js';
import { HttpHsmClient } from './hsm.js';
import { DEFAULT_RETRY, TokenFile, type RequestHook, type RetryPolicy, type TokenSource } from './http.js';
import { HttpImsClient, imsRetries } from './ims.js';
import { HttpPcsClient } from './pcs.js';
import { AwsS3ObjectClient, type S3Config } from './s3.js';
import { HttpTenantClient } from './tenants.js';
import type { BootArtifactsRecords, Services } from './types.js';

export * from './types.js';
export {
  describeError,
  
  
  
  
  
  
  
  
  
} from './http.js';
export {  ImageNotFound } from './ims.js';
export {
  
  
  
  InvalidManifest,
  ManifestNotFound,
  ManifestTooBig,
  
  TooManyArtifacts,
  
  
  readBootParameters,
  readManifest,
  summarizeManifest,
  
  
  
  
} from './s3.js';
export { RedisBootArtifacts, MemoryBootArtifacts, storeBootArtifacts } from './boot-artifacts.js';

export interface ServiceUrls {
  bosUrl: string;
  hsmUrl: string;
  pcsUrl: string;
  bssUrl: string;
  cfsUrl: string;
  imsUrl: string;
  tenantsUrl: string;
  s3: S3Config;
}

export interface ServicesConfig extends ServiceUrls {
  /** Redis holding the boot-artifact records (DB 4; default `redis://cray-bos-db:6379`): a URL or a parsed target. Ignored when `bootArtifacts` is given. */
  redisUrl?: string | RedisTarget;
  /** Replicas a record must reach before it counts as written (Redis WAIT), and for how long to wait. */
  redisWait?: { replicas: number; timeoutSeconds: number };
  /** Records to use instead of Redis (embedded mode: `storeBootArtifacts(store)`). */
  bootArtifacts?: BootArtifactsRecords;
  /** File holding a bearer token sent to every HTTP service (re-read when it changes). */
  tokenFile?: string;
  /** Or any token source. */
  token?: TokenSource;
  /** The live options: read timeouts and IMS retries follow them. */
  options: () => Options;
  onRequest?: RequestHook;
  /** Retry policy of every HTTP client (tests use tiny backoffs). IMS's retry count still follows the options. */
  retry?: Partial<RetryPolicy>;
  connectTimeoutSeconds?: number;
  /** Aborting it ends every call in flight and every retry wait at once (the process is stopping). */
  signal?: AbortSignal;
  /**
   * At most this many HTTP requests in flight across every client (default: no bound). One serialises
   * the operators' work, as a baseline for what their concurrency gains (bench/boot.bench.ts --serial).
   */
  requestsAtOnce?: number;
}

/** Everything createServices built, plus a way to release connections. */
export type ClosableServices = Services & { close(): Promise<void> };

/** Every service under an API-gateway-shaped root, as the simulator lays them out. */
export function gatewayUrls(base: string): ServiceUrls {
  const b = base.replace(/\/+$/, '');
  return {
    bosUrl: `${b}/apis/bos/v2`,
    hsmUrl: `${b}/apis/smd/hsm/v2`,
    pcsUrl: `${b}/apis/power-control/v1`,
    bssUrl: `${b}/apis/bss/boot/v1`,
    cfsUrl: `${b}/apis/cfs/v3`,
    imsUrl: `${b}/apis/ims/v3`,
    tenantsUrl: `${b}/apis/tapms/v1alpha3`,
    s3: { endpoint: b, anonymous: true },
  };
}

export function createServices(config: ServicesConfig): ClosableServices {
  const token = config.token ?? (config.tokenFile ? new TokenFile(config.tokenFile) : undefined);
  const retry = { ...DEFAULT_RETRY, ...config.retry };
  const limit = config.requestsAtOnce ? pLimit(config.requestsAtOnce) : undefined;
  const common = { token, onRequest: config.onRequest, retry, connectTimeoutSeconds: config.connectTimeoutSeconds, signal: config.signal, limit };
  const opt = config.options;

  const bos = new HttpBosClient(config.bosUrl, common);
  const hsm = new HttpHsmClient(config.hsmUrl, { ...common, readTimeoutSeconds: () => opt().hsm_read_timeout });
  const pcs = new HttpPcsClient(config.pcsUrl, { ...common, readTimeoutSeconds: () => opt().pcs_read_timeout });
  const bss = new HttpBssClient(config.bssUrl, { ...common, readTimeoutSeconds: () => opt().bss_read_timeout });
  const cfs = new HttpCfsClient(config.cfsUrl, { ...common, readTimeoutSeconds: () => opt().cfs_read_timeout });
  const ims = new HttpImsClient(config.imsUrl, {
    ...common,
    readTimeoutSeconds: () => opt().ims_read_timeout,
    retry: () => ({ ...retry, retries: imsRetries(opt().ims_errors_fatal) }),
  });
  const tenants = new HttpTenantClient(config.tenantsUrl, common);
  const s3 = new AwsS3ObjectClient({ ...config.s3, onRequest: config.s3.onRequest ?? config.onRequest, signal: config.signal });
  let redis: RedisBootArtifacts | undefined;
  let bootArtifacts: BootArtifactsRecords;
  if (config.bootArtifacts) bootArtifacts = config.bootArtifacts;
  else bootArtifacts = redis = new RedisBootArtifacts(config.redisUrl ?? DEFAULT_REDIS_URL, { onRequest: config.onRequest, wait: config.redisWait });

  return {
    bos,
    hsm,
    pcs,
    bss,
    cfs,
    ims,
    s3,
    tenants,
    bootArtifacts,
    async close() {
      for (const c of [bos, hsm, pcs, bss, cfs, ims, tenants, s3]) c.close();
      await redis?.close();
    },
  };
}
