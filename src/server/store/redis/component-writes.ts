/**
 * Every write of components in the Redis store goes through one queue per store, and each batch of
 * queued changes is one optimistic transaction (docs/store.md):
 *
 *   WATCH the ids the changes read → read them (the listing cache where Redis has reported no
 *   change since, else MGET) → run the changes in the order they were asked for → MULTI, MSET/DEL,
 *   EXEC.
 *
 * EXEC fails when anyone (another API replica, an upstream BOS sharing the database) wrote a watched
 * id after the WATCH: the batch is read and run again, a bounded number of times, so no write is
 * lost and no merge is made from an old value. Changes queued while a batch is in flight go
 * together in the next one, so many small writes (the nodes' state reports) cost one transaction.
 *
 * While tracking runs, the transaction uses the tracked connection: what it writes stays cached as
 * current (NOLOOP), and its WATCH comes before the invalidation barrier, so a value cached as
 * current is current when the WATCH began. Otherwise a connection of its own reads every value.
 */
import type { Redis } from 'ioredis';
import type { Component } from '../../../common/types.js';
import { piecesLength, storedPieces, writePieces } from '../../record-json.js';
import { runChanges, type ChangeJob, type ChangesRun } from '../component-change.js';
import { StoreConflictError, UPDATE_ATTEMPTS, type ComponentChange } from '../store.js';
import { mgetOn, noop, type Connections } from './connections.js';
import type { ListingCache } from './listing-cache.js';
import type { Tracking } from './tracking.js';

/** Records per MSET; larger writes are split into several MSETs inside the MULTI/EXEC. */
const MSET_CHUNK = 5_000;
/** Ids per batch: changes queued beyond it wait for the next transaction (a larger change goes alone). */
const BATCH_IDS = 20_000;

interface Job extends ChangeJob {
  /** A write of whole records: reads nothing, so it watches nothing. */
  blind: boolean;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class ComponentWriter {
  private queue: Job[] = [];
  private draining = false;
  /** The transaction connection while tracking does not run. */
  private plain: Promise<Redis> | null = null;

  constructor(
    private readonly conn: Connections,
    private readonly db: number,
    private readonly cache: ListingCache,
    /** The running tracking, or null (writes never start it: listings do). */
    private readonly tracking: () => Tracking | null,
  ) {}

  /** Queue a change; resolves with its result once written (or rejects with what it threw). */
  submit<R>(ids: readonly string[], change: ComponentChange<R>, blind = false): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ ids, change, blind, resolve: resolve as (v: unknown) => void, reject });
      if (!this.draining) {
        this.draining = true;
        // Changes asked for in the same turn of the event loop (several requests' bodies parsed
        // together) go in one batch.
        setImmediate(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) await this.commit(this.take());
    } finally {
      this.draining = false;
    }
  }

  private take(): Job[] {
    let n = 0;
    let ids = 0;
    while (n < this.queue.length && (n === 0 || ids + this.queue[n]!.ids.length <= BATCH_IDS)) ids += this.queue[n++]!.ids.length;
    return this.queue.splice(0, n);
  }

  /** Write one batch, trying again while others change what it read; settles every job of it. */
  private async commit(batch: Job[]): Promise<void> {
    const read = new Set<string>();
    for (const job of batch) if (!job.blind) for (const id of job.ids) read.add(id);
    const readIds = [...read];
    for (let attempt = 1; ; attempt++) {
      const t = this.tracking();
      let run: ChangesRun | null;
      const tracked = t?.active ? t : null;
      try {
        run = tracked ? await this.attemptTracked(tracked, batch, readIds) : await this.attemptPlain(batch, readIds);
      } catch (e) {
        if (tracked && !tracked.active && attempt < UPDATE_ATTEMPTS) continue; // tracking lost midway: again without it
        // Leave no WATCH behind on the connection (a later batch's EXEC would fail for it).
        if (tracked) tracked.conn.unwatch().catch(noop);
        else this.dropPlain();
        const err = this.conn.translate(this.db, e);
        for (const job of batch) job.reject(err);
        return;
      }
      if (run === null) {
        if (attempt >= UPDATE_ATTEMPTS) {
          const err = new StoreConflictError(readIds.length === 1 ? `Component '${readIds[0]}'` : `Some of the ${readIds.length} components`, attempt);
          for (const job of batch) job.reject(err);
          return;
        }
        // Someone wrote what this batch read: a short random pause, so two writers do not meet again.
        await sleep(Math.random() * Math.min(2 ** attempt, 50));
        continue;
      }
      batch.forEach((job, i) => {
        const o = run.outcomes[i]!;
        if (o.ok) job.resolve(o.value);
        else job.reject(o.error);
      });
      return;
    }
  }

  /** One try through the tracked connection; null when EXEC found a watched id written meanwhile. */
  private async attemptTracked(t: Tracking, batch: readonly Job[], readIds: readonly string[]): Promise<ChangesRun | null> {
    const r = t.conn;
    const current = new Map<string, Component | undefined>();
    if (readIds.length > 0) {
      await r.watch(readIds as string[]);
      // Every report of a write before the WATCH applied: an entry still current is current now.
      await t.barrier();
      const epoch = this.cache.epoch;
      const missing: string[] = [];
      for (const id of readIds) {
        const e = this.cache.entries.get(id);
        if (e !== undefined && e.epoch === epoch) current.set(id, e.rec);
        else missing.push(id);
      }
      if (missing.length > 0) {
        const { values, trusted } = await t.read(missing);
        for (let i = 0; i < missing.length; i++) {
          const id = missing[i]!;
          const raw = values[i];
          if (raw == null) {
            this.cache.drop(id);
            current.set(id, undefined);
            continue;
          }
          const e = this.cache.entry(id, raw, 0, this.db);
          if (trusted[i]) e.epoch = epoch;
          current.set(id, e.rec);
        }
      }
    }
    const run = runChanges(batch, (id) => current.get(id));
    if (run.writes.size === 0) {
      if (readIds.length > 0) await r.unwatch();
      return run;
    }
    const w = encode(run.writes);
    const { result, trusted } = await t.write(w.ids, (rr) => exec(rr, w, readIds.length > 0));
    if (result === null) return null;
    await this.conn.replicated(r, this.db);
    this.cache.wrote(w.records, w.textOf, trusted.slice(0, w.records.length));
    for (const id of w.deleted) this.cache.drop(id);
    return run;
  }

  /** One try through a connection of its own, reading every value; null when EXEC found a watched id written meanwhile. */
  private async attemptPlain(batch: readonly Job[], readIds: readonly string[]): Promise<ChangesRun | null> {
    const r = await this.plainConnection();
    const current = new Map<string, Component | undefined>();
    if (readIds.length > 0) {
      await r.watch(readIds as string[]);
      const values = await mgetOn(r, readIds);
      for (let i = 0; i < readIds.length; i++) {
        const id = readIds[i]!;
        const raw = values[i];
        if (raw == null) this.cache.drop(id);
        current.set(id, raw == null ? undefined : this.cache.entry(id, raw, 0, this.db).rec);
      }
    }
    const run = runChanges(batch, (id) => current.get(id));
    if (run.writes.size === 0) {
      if (readIds.length > 0) await r.unwatch();
      return run;
    }
    const w = encode(run.writes);
    if ((await exec(r, w, readIds.length > 0)) === null) return null;
    await this.conn.replicated(r, this.db);
    this.cache.wrote(w.records, w.textOf, undefined);
    for (const id of w.deleted) this.cache.drop(id);
    return run;
  }

  private plainConnection(): Promise<Redis> {
    if (!this.plain) {
      const p = this.conn.dedicated(this.db);
      this.plain = p;
      p.then(
        (r) => r.once('close', () => this.plain === p && this.dropPlain()),
        () => this.plain === p && this.dropPlain(),
      );
    }
    return this.plain;
  }

  private dropPlain(): void {
    const p = this.plain;
    this.plain = null;
    p?.then((r) => r.disconnect(), () => undefined);
  }
}

/** What a batch writes, encoded: the records' JSON as slices of one buffer, and the ids to delete. */
interface Encoded {
  /** Written ids, then deleted ids (the keys of the write, for tracking). */
  ids: string[];
  records: Component[];
  /** MSET arguments: id, value, id, value, ... */
  flat: (string | Buffer)[];
  textOf(i: number): string;
  deleted: string[];
}

/**
 * The records' JSON written piece by piece into one buffer: they are the store's own records (handed
 * over), so their JSON comes from the remembered texts of their unchanged parts (record-json.ts).
 */
function encode(writes: ReadonlyMap<string, Component | null>): Encoded {
  const records: Component[] = [];
  const deleted: string[] = [];
  for (const [id, rec] of writes) {
    if (rec === null) deleted.push(id);
    else records.push(rec);
  }
  const pieces: string[][] = new Array(records.length);
  let size = 0;
  for (let i = 0; i < records.length; i++) size += piecesLength((pieces[i] = storedPieces(records[i]!)));
  const values = Buffer.allocUnsafe(size);
  const ends = new Array<number>(records.length);
  const flat: (string | Buffer)[] = new Array(records.length * 2);
  for (let i = 0, at = 0; i < records.length; i++) {
    const end = at + writePieces(values, at, pieces[i]!);
    flat[2 * i] = records[i]!.id;
    flat[2 * i + 1] = values.subarray(at, end);
    ends[i] = end;
    at = end;
  }
  return {
    ids: [...records.map((r) => r.id), ...deleted],
    records,
    flat,
    textOf: (i) => values.toString('utf8', i === 0 ? 0 : ends[i - 1], ends[i]),
    deleted,
  };
}

/**
 * MULTI, the MSETs and DEL, EXEC; null when EXEC was refused because a watched key changed. Without
 * a WATCH (`watched` false) and with one MSET, a plain MSET suffices.
 */
async function exec(r: Redis, w: Encoded, watched: boolean): Promise<'ok' | null> {
  const { flat, deleted } = w;
  if (!watched && deleted.length === 0 && flat.length <= MSET_CHUNK * 2) {
    await r.mset(flat);
    return 'ok';
  }
  const tx = r.multi();
  for (let i = 0; i < flat.length; i += MSET_CHUNK * 2) tx.mset(flat.slice(i, i + MSET_CHUNK * 2));
  if (deleted.length > 0) tx.del(...deleted);
  const results = await tx.exec();
  if (results === null) return null;
  const failed = results.find(([err]) => err);
  if (failed) throw failed[0];
  return 'ok';
}
