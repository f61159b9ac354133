/**
 * A process's Redis settings (src/config.ts) as the Redis store, the change events and the
 * boot-artifact records take them: the URL with the passwords read from their files, TLS, and how
 * many replicas a write waits for.
 */
import { readFileSync } from 'node:fs';
import { parseRedisTarget, type RedisTarget } from '../clients/redis-target.js';
import type { Config } from '../config.js';

export type RedisSettings = Pick<Config, 'redisUrl' | 'redisPasswordFile' | 'redisSentinelPasswordFile' | 'redisTls' | 'redisWaitReplicas' | 'redisWaitTimeout'>;

/** What the Redis store, the change bus and the boot-artifact records connect with. */
export interface RedisConnection {
  url: string;
  password?: string;
  sentinelPassword?: string;
  tls: boolean;
  waitReplicas: number;
  waitTimeoutSeconds: number;
  /** The parsed target (URL, passwords, TLS). */
  target: RedisTarget;
}

/** Read a password file (first line, trimmed); one clear line on failure, never its content. */
export function readPasswordFile(path: string, what = 'Redis password', readFile = (p: string) => readFileSync(p, 'utf8')): string {
  try {
    return readFile(path).split(/\r?\n/)[0]!.trim();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(`cannot read the ${what} file ${path}${code ? ` (${code})` : ''}: check the path and its permissions`);
  }
}

/** The Redis connection of these settings; `fallbackUrl` when no URL is set (the operators' default for the records). */
export function redisConnection(c: Partial<RedisSettings> & { redisUrl?: string }, fallbackUrl = '', readFile?: (p: string) => string): RedisConnection {
  const url = c.redisUrl || fallbackUrl;
  const password = c.redisPasswordFile ? readPasswordFile(c.redisPasswordFile, 'Redis password', readFile) : undefined;
  const sentinelPassword = c.redisSentinelPasswordFile ? readPasswordFile(c.redisSentinelPasswordFile, 'Redis Sentinel password', readFile) : undefined;
  const tls = c.redisTls === true;
  return {
    url,
    password,
    sentinelPassword,
    tls,
    waitReplicas: c.redisWaitReplicas ?? 0,
    waitTimeoutSeconds: c.redisWaitTimeout ?? 1,
    target: parseRedisTarget(url, { password, sentinelPassword, tls }),
  };
}
