/**
 * Boot-artifact records keyed by BSS referral token (docs/services.md, "Boot-artifact records"):
 * power-on writes them, the BOS server reads them when a node reports its token. Production: Redis DB 4
 * through ioredis. Embedded mode: the same records inside the API's own Store.
 */
import { Redis } from 'ioredis';
import { redisAddressText, redisConnectionOptions, redisTarget, type RedisTarget } from './redis-target.js';
import type { BootArtifactsRecord } from '../common/types.js';
import type { Store } from '../server/store/store.js';
import { report, type RequestHook } from './http.js';
import { ServiceError, type BootArtifactsRecords } from './types.js';
import { connectionEpoch, waitForReplicas } from './redis-wait.js';

const BOOT_ARTIFACTS_DB = 4;
export const DEFAULT_REDIS_URL = 'redis://cray-bos-db:6379';

/** The record as upstream stores it: exactly these four keys, in this order. */
export function serializeRecord(r: BootArtifactsRecord): string {
  return JSON.stringify({
    kernel: r.kernel ?? '',
    kernel_parameters: r.kernel_parameters ?? '',
    initrd: r.initrd ?? '',
    timestamp: r.timestamp ?? '',
  });
}

function parseRecord(text: string): BootArtifactsRecord {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new ServiceError('redis', 'GET', `db${BOOT_ARTIFACTS_DB}`, undefined, 'A boot-artifacts record in Redis DB 4 is not valid JSON');
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) {
    throw new ServiceError('redis', 'GET', `db${BOOT_ARTIFACTS_DB}`, undefined, 'A boot-artifacts record in Redis DB 4 is not a JSON object');
  }
  const o = v as Record<string, unknown>;
  const s = (k: string) => (typeof o[k] === 'string' ? (o[k] as string) : '');
  return { kernel: s('kernel'), kernel_parameters: s('kernel_parameters'), initrd: s('initrd'), timestamp: s('timestamp') };
}

const STALE = /ECONNRESET|EPIPE|ETIMEDOUT|ECONNREFUSED|Connection is closed|Stream isn't writeable|connection.*(lost|closed)|max retries/i;

export class RedisBootArtifacts implements BootArtifactsRecords {
  private client?: Redis;
  private readonly target: RedisTarget;

  constructor(
    url: string | RedisTarget = DEFAULT_REDIS_URL,
    private readonly opts: {
      connectTimeoutMs?: number;
      commandTimeoutMs?: number;
      onRequest?: RequestHook;
      /** Replicas a record must reach before it counts as written (Redis WAIT). */
      wait?: { replicas: number; timeoutSeconds: number };
    } = {},
  ) {
    this.target = redisTarget(url);
  }

  private connect(): Redis {
    if (!this.client) {
      this.client = new Redis({
        ...redisConnectionOptions(this.target, BOOT_ARTIFACTS_DB),
        lazyConnect: false,
        connectTimeout: this.opts.connectTimeoutMs ?? 3000,
        commandTimeout: this.opts.commandTimeoutMs ?? 10_000,
        maxRetriesPerRequest: 1,
        // Reconnect a few times quickly, then let the command fail so the caller sees an error.
        retryStrategy: (times) => (times > 3 ? null : Math.min(times * 100, 500)),
      });
      // Errors surface through the commands; an unhandled 'error' event would crash the process.
      this.client.on('error', () => undefined);
    }
    return this.client;
  }

  /** Run a command (reported to onRequest as outcome `ok` or `error`). */
  private async run<T>(op: string, fn: (r: Redis) => Promise<T>): Promise<T> {
    const t0 = performance.now();
    let outcome = 'error';
    try {
      const v = await this.runOnce(op, fn);
      outcome = 'ok';
      return v;
    } finally {
      report(this.opts.onRequest, 'redis', op, outcome, (performance.now() - t0) / 1000);
    }
  }

  /** If the connection went stale, reconnect once and retry. */
  private async runOnce<T>(op: string, fn: (r: Redis) => Promise<T>): Promise<T> {
    try {
      return await fn(this.connect());
    } catch (first) {
      if (!STALE.test(String((first as Error)?.message ?? first)) && !STALE.test(String((first as { code?: string })?.code ?? ''))) {
        throw this.fail(op, first);
      }
      this.reset();
      try {
        return await fn(this.connect());
      } catch (second) {
        throw this.fail(op, second);
      }
    }
  }

  private reset(): void {
    const c = this.client;
    this.client = undefined;
    c?.disconnect();
  }

  private fail(op: string, err: unknown): ServiceError {
    if (err instanceof ServiceError) return err;
    const text = String((err as Error)?.message ?? err).replace(/\s*[\r\n]+\s*/g, ' ');
    return new ServiceError('redis', op, `db${BOOT_ARTIFACTS_DB}`, undefined, `Redis at ${redisAddressText(this.target)} (DB ${BOOT_ARTIFACTS_DB}) failed a ${op}: ${text}`);
  }

  async put(token: string, record: BootArtifactsRecord): Promise<void> {
    const wait = this.opts.wait;
    // The SET and its WAIT go through one connection: WAIT covers only that connection's writes.
    const got = await this.run('SET', async (r) => {
      const epoch = connectionEpoch(r);
      await r.set(token, serializeRecord(record));
      return wait && wait.replicas > 0 ? (await waitForReplicas(r, epoch, wait.replicas, wait.timeoutSeconds * 1000)).got : 0;
    });
    if (wait && got < wait.replicas) {
      throw new ServiceError('redis', 'WAIT', `db${BOOT_ARTIFACTS_DB}`, undefined,
        `Redis at ${redisAddressText(this.target)} (DB ${BOOT_ARTIFACTS_DB}) took the record, but only ${got} of ${wait.replicas} replica(s) confirmed it within ${wait.timeoutSeconds} s`);
    }
  }

  async get(token: string): Promise<BootArtifactsRecord | undefined> {
    const text = await this.run('GET', (r) => r.get(token));
    return text === null ? undefined : parseRecord(text);
  }

  async close(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    if (!c) return;
    try {
      await c.quit();
    } catch {
      c.disconnect();
    }
  }
}

/** The records inside an API Store (embedded mode: API, operators and simulator in one process). */
export function storeBootArtifacts(store: Pick<Store, 'bootArtifacts'>): BootArtifactsRecords {
  return {
    put: (token, record) => store.bootArtifacts.put(token, { ...record }),
    get: (token) => store.bootArtifacts.get(token),
  };
}

/** A standalone in-memory record set (tests, tools). */
export class MemoryBootArtifacts implements BootArtifactsRecords {
  readonly records = new Map<string, BootArtifactsRecord>();
  async put(token: string, record: BootArtifactsRecord): Promise<void> {
    this.records.set(token, { ...record });
  }
  async get(token: string): Promise<BootArtifactsRecord | undefined> {
    const r = this.records.get(token);
    return r ? { ...r } : undefined;
  }
}
