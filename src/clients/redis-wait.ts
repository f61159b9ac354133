/**
 * The wait for replicas after a write (Redis WAIT), shared by the store and the boot-artifact
 * records. It waits for every replica connected to the primary, not only the minimum asked for:
 * Sentinel promotes the replica it believes most up to date from offsets it polls, so a write held
 * by one replica of two can still be lost if the other is promoted (docs/store.md).
 */
import type { Redis } from 'ioredis';

export interface ReplicaWaitResult {
  /** Replicas that confirmed the write. */
  got: number;
  /** Replicas waited for: every connected one, at least the minimum. */
  asked: number;
}

/** The connected replicas an `INFO replication` answer names (0 when it names none). */
function connectedReplicas(info: string): number {
  const m = /^connected_slaves:(\d+)/m.exec(info);
  return m ? Number(m[1]) : 0;
}

/**
 * After a write through `r`: wait up to `timeoutMs` until every replica connected to the primary
 * (and at least `min`) has every write made through `r`. The caller decides what too few means.
 */
export async function waitForReplicas(r: Redis, min: number, timeoutMs: number): Promise<ReplicaWaitResult> {
  const asked = Math.max(min, connectedReplicas(await r.info('replication')));
  const got = Number(await r.wait(asked, timeoutMs));
  return { got, asked };
}
