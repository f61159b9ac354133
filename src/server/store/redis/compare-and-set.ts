/**
 * Atomic read-change-write of one JSON value (a template, a session, the options): read it, compute
 * the new value (which may take a while: a template's images are checked with IMS), then write it
 * only if the value is still the one read, compared by Redis itself in one script. Another writer
 * in between makes the script answer with the value now stored, and the change runs again on it
 * (docs/store.md).
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { StoreConflictError, UPDATE_ATTEMPTS } from '../store.js';
import type { Connections } from './connections.js';

/**
 * KEYS[1]: the key. ARGV: '1' and the expected value, or '0' (expected absent); then '1' and the new
 * value, or '0' (delete). Answers {1} when written, else {0, value now stored} ({0} when absent).
 */
const SCRIPT = `
local cur = redis.call('GET', KEYS[1])
if (ARGV[1] == '1' and cur == ARGV[2]) or (ARGV[1] == '0' and not cur) then
  if ARGV[3] == '1' then redis.call('SET', KEYS[1], ARGV[4]) else redis.call('DEL', KEYS[1]) end
  return {1}
end
return {0, cur}
`;
const SCRIPT_SHA = createHash('sha1').update(SCRIPT).digest('hex');

type CasReply = { written: true } | { written: false; current: string | null };

/** Set `key` to `next` (null: delete) if it holds `expected` (null: absent). */
async function compareAndSet(r: Redis, key: string, expected: string | null, next: string | null): Promise<CasReply> {
  const args = [key, expected === null ? '0' : '1', expected ?? '', next === null ? '0' : '1', next ?? ''];
  let reply: unknown;
  try {
    reply = await r.evalsha(SCRIPT_SHA, 1, ...args);
  } catch (e) {
    if (!(e instanceof Error) || !/NOSCRIPT/.test(e.message)) throw e;
    reply = await r.eval(SCRIPT, 1, ...args);
  }
  const [written, current] = reply as [number, string | undefined];
  return written === 1 ? { written: true } : { written: false, current: current ?? null };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Change the JSON value at `key` of `db` atomically. `change` gets the stored text (null when absent)
 * and gives the text to store, or undefined to leave it; resolves to the text stored afterwards.
 * `what` names the record in the message of a StoreConflictError.
 */
export async function updateValue(
  conn: Connections,
  db: number,
  key: string,
  what: string,
  change: (current: string | null) => Promise<string | undefined> | string | undefined,
): Promise<string | null> {
  let current = await conn.run(db, (r) => r.get(key));
  for (let attempt = 1; attempt <= UPDATE_ATTEMPTS; attempt++) {
    const next = await change(current);
    if (next === undefined) return current;
    const reply = await conn.write(db, (r) => compareAndSet(r, key, current, next));
    if (reply.written) return next;
    current = reply.current;
    await sleep(Math.random() * Math.min(2 ** attempt, 50));
  }
  throw new StoreConflictError(what, UPDATE_ATTEMPTS);
}
