/**
 * The wait for replicas after a write (Redis WAIT), shared by the store and the boot-artifact
 * records. It waits for every replica connected to the primary, not only the minimum asked for:
 * Sentinel promotes the replica it believes most up to date from offsets it polls, so a write held
 * by one replica of two can still be lost if the other is promoted (docs/store.md).
 */
import type { Redis } from 'ioredis';

export interface ReplicaWaitResult {
  /** Replicas that confirmed the write (0 when the connection was lost since the write). */
  got: number;
  /** Replicas waited for: every connected one, at least the minimum. */
  asked: number;
  /** The connection closed (and reconnected) between the write and the wait: nothing is confirmed. */
  reconnected?: boolean;
}

const closes = new WeakMap<Redis, number>();

/**
 * How many times `r` has closed since it was first asked. WAIT counts only the writes of the
 * connection it is sent on: a connection that reconnected between a write and its WAIT would confirm
 * nothing of that write, so a write takes the epoch before it and hands it to waitForReplicas.
 */
export function connectionEpoch(r: Redis): number {
  let n = closes.get(r);
  if (n === undefined) {
    closes.set(r, (n = 0));
    r.on('close', () => closes.set(r, (closes.get(r) ?? 0) + 1));
  }
  return n;
}

/** The connected replicas an `INFO replication` answer names (0 when it names none). */
function connectedReplicas(info: string): number {
  const m = /^connected_slaves:(\d+)/m.exec(info);
  return m ? Number(m[1]) : 0;
}

/**
 * After a write through `r` begun at connection epoch `epoch`: wait up to `timeoutMs` until every
 * replica connected to the primary (and at least `min`) has every write made through `r`. The caller
 * decides what too few means.
 */
export async function waitForReplicas(r: Redis, epoch: number, min: number, timeoutMs: number): Promise<ReplicaWaitResult> {
  const asked = Math.max(min, connectedReplicas(await r.info('replication')));
  const got = Number(await r.wait(asked, timeoutMs));
  if (connectionEpoch(r) !== epoch) return { got: 0, asked, reconnected: true };
  return { got, asked };
}
