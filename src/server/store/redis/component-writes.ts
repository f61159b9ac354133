/**
 * Every write of components in the Redis store goes through one queue per store, and each group of
 * queued changes (at most UPDATE_GROUP components) is one optimistic transaction (docs/store.md):
 *
 *   WATCH the ids the changes read → read them (the listing cache where Redis has reported no
 *   change since, else MGET) → run the changes in the order they were asked for → MULTI, MSET/DEL,
 *   EXEC.
 *
 * EXEC fails when anyone (another API replica, an upstream BOS sharing the database) wrote a watched
 * id after the WATCH: the group is read and run again, a bounded number of times, so no write is
 * lost and no change is made from an old value. Changes queued while a group is in flight go
 * together in the next one, so many small writes (the nodes' state reports) cost one transaction; a
 * longer update is split into groups. Groups stay small because Redis checks every key a WATCH adds
 * against the keys the connection already watches (its cost grows with the square of their number).
 *
 * While tracking runs, the transaction uses the tracked connection: what it writes stays cached as
 * current (NOLOOP), and its WATCH comes before the invalidation barrier, so a value cached as
 * current is current when the WATCH began. Otherwise a connection of its own reads every value.
 */
import type { Redis } from 'ioredis';
import type { Component } from '../../../common/types.js';
import { piecesLength, storedPieces, writePieces } from '../../record-json.js';
import { connectionEpoch } from '../../../clients/redis-wait.js';
import { runChanges, type ChangeJob, type ChangesRun } from '../component-change.js';
import { StoreConflictError, UPDATE_ATTEMPTS, UPDATE_GROUP, type ComponentChange } from '../store.js';
import { mgetOn, noop, type Connections } from './connections.js';
import type { ListingCache } from './listing-cache.js';
import type { Tracking } from './tracking.js';

/** Records per MSET; larger writes are split into several MSETs inside the MULTI/EXEC. */
const MSET_CHUNK = 5_000;

/** One update asked for: its ids are written group by group. */
interface Job {
  ids: readonly string[];
  change: ComponentChange;
  /** A write of whole records: reads nothing, so it watches nothing. */
  blind: boolean;
  /** Ids before this one are in a group already. */
  next: number;
  /** Ids written so far. */
  done: number;
  written: (Component | null | undefined)[];
  failed: boolean;
  resolve(written: (Component | null | undefined)[]): void;
  reject(error: unknown): void;
}

/** The part of a job in one group: ids[from, to). */
interface Part extends ChangeJob {
  job: Job;
  from: number;
}

/** A group's changes run: what to write, and the parts it ran (those whose change did not throw). */
interface Ran {
  run: ChangesRun;
  parts: Part[];
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

  /** Queue an update; resolves with what was written per id (or rejects with what a change threw). */
  submit(ids: readonly string[], change: ComponentChange, blind = false): Promise<(Component | null | undefined)[]> {
    if (ids.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      this.queue.push({ ids, change, blind, next: 0, done: 0, written: new Array(ids.length), failed: false, resolve, reject });
      if (!this.draining) {
        this.draining = true;
        // Updates asked for in the same turn of the event loop (several requests' bodies parsed
        // together) go in one group.
        setImmediate(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    try {
      for (let group = this.take(); group.length > 0; group = this.take()) await this.commit(group);
    } finally {
      this.draining = false;
    }
  }

  /** The next group: parts of the queued jobs in order, UPDATE_GROUP ids at most. */
  private take(): Part[] {
    const parts: Part[] = [];
    let room = UPDATE_GROUP;
    for (const job of this.queue) {
      if (room === 0) break;
      if (job.failed || job.next >= job.ids.length) continue;
      // A job that fits in a group of its own is not split across two.
      if (job.ids.length - job.next > room && job.ids.length <= UPDATE_GROUP && parts.length > 0) break;
      const from = job.next;
      const to = Math.min(job.ids.length, from + room);
      parts.push({ job, from, ids: job.ids.slice(from, to), change: job.change });
      job.next = to;
      room -= to - from;
    }
    this.queue = this.queue.filter((job) => !job.failed && job.next < job.ids.length);
    return parts;
  }

  /** Write one group, trying again while others change what it read; settles the parts of it. */
  private async commit(parts: Part[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const live = parts.filter((p) => !p.job.failed);
      if (live.length === 0) return;
      const read = new Set<string>();
      for (const p of live) if (!p.job.blind) for (const id of p.ids) read.add(id);
      const readIds = [...read];
      const t = this.tracking();
      const tracked = t?.active ? t : null;
      let done: Ran | null;
      try {
        done = tracked ? await this.attemptTracked(tracked, live, readIds) : await this.attemptPlain(live, readIds);
      } catch (e) {
        if (tracked && !tracked.active && attempt < UPDATE_ATTEMPTS) continue; // tracking lost midway: again without it
        // Leave no WATCH behind on the connection (a later group's EXEC would fail for it).
        if (tracked) tracked.conn.unwatch().catch(noop);
        else this.dropPlain();
        const err = this.conn.translate(this.db, e);
        for (const p of live) this.fail(p.job, err);
        return;
      }
      if (done === null) {
        if (attempt >= UPDATE_ATTEMPTS) {
          const err = new StoreConflictError(readIds.length === 1 ? `Component '${readIds[0]}'` : `Some of the ${readIds.length} components`, attempt);
          for (const p of live) this.fail(p.job, err);
          return;
        }
        // Someone wrote what this group read: a short random pause, so two writers do not meet again.
        await sleep(Math.random() * Math.min(2 ** attempt, 50));
        continue;
      }
      const { run } = done;
      done.parts.forEach((p, i) => {
        const o = run.outcomes[i]!;
        if (!o.ok) return;
        const job = p.job;
        for (let k = 0; k < o.written.length; k++) job.written[p.from + k] = o.written[k];
        job.done += p.ids.length;
        if (job.done === job.ids.length) job.resolve(job.written);
      });
      return;
    }
  }

  private fail(job: Job, error: unknown): void {
    if (job.failed) return;
    job.failed = true;
    job.reject(error);
  }

  /**
   * Run the parts' changes on `current`. A part whose change throws fails its job, and the others run
   * again without it (they may have seen what it wrote).
   */
  private run(parts: readonly Part[], current: ReadonlyMap<string, Component | undefined>): Ran {
    let live = parts.filter((p) => !p.job.failed);
    for (;;) {
      const run = runChanges(live, (id) => current.get(id));
      const bad = run.outcomes.findIndex((o) => !o.ok);
      if (bad < 0) return { run, parts: live };
      const o = run.outcomes[bad]!;
      this.fail(live[bad]!.job, o.ok ? undefined : o.error);
      live = live.filter((p) => !p.job.failed);
    }
  }

  /** One try through the tracked connection; null when EXEC found a watched id written meanwhile. */
  private async attemptTracked(t: Tracking, parts: readonly Part[], readIds: readonly string[]): Promise<Ran | null> {
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
          if (trusted[i]) this.cache.trust(e, epoch);
          current.set(id, e.rec);
        }
      }
    }
    return this.decideAndWrite(r, parts, current, readIds.length > 0, async (w) => {
      const { result, trusted } = await t.write(w.ids, (rr) => exec(rr, w, readIds.length > 0));
      return result === null ? null : trusted.slice(0, w.records.length);
    });
  }

  /** One try through a connection of its own, reading every value; null when EXEC found a watched id written meanwhile. */
  private async attemptPlain(parts: readonly Part[], readIds: readonly string[]): Promise<Ran | null> {
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
    return this.decideAndWrite(r, parts, current, readIds.length > 0, async (w) => ((await exec(r, w, readIds.length > 0)) === null ? null : undefined));
  }

  /**
   * Decide the writes from what was read, send them through `send` (null: a watched id was written
   * meanwhile, try again; else which written values Redis tracks, if known), wait for the replicas
   * and bring the cache up to date.
   */
  private async decideAndWrite(
    r: Redis,
    parts: readonly Part[],
    current: Map<string, Component | undefined>,
    watched: boolean,
    send: (w: Encoded) => Promise<readonly boolean[] | undefined | null>,
  ): Promise<Ran | null> {
    const ran = this.run(parts, current);
    if (ran.run.writes.size === 0) {
      if (watched) await r.unwatch();
      return ran;
    }
    const w = encode(ran.run.writes);
    const epoch = connectionEpoch(r);
    const trusted = await send(w);
    if (trusted === null) return null;
    await this.conn.replicated(r, this.db, epoch);
    this.cache.wrote(w.records, w.textOf, trusted);
    for (const id of w.deleted) this.cache.drop(id);
    return ran;
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

/** What a group writes, encoded: the records' JSON as slices of one buffer, and the ids to delete. */
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
  // The commands are sent one by one in this turn of the event loop, so nothing else can come between
  // them on the connection; an ioredis MULTI pipeline would first copy every value into one buffer.
  // Corked, they leave in one write to the socket instead of one each (none while reconnecting).
  const stream = r.stream as Redis['stream'] | undefined;
  stream?.cork();
  const queued: Promise<unknown>[] = [r.call('MULTI')];
  for (let i = 0; i < flat.length; i += MSET_CHUNK * 2) queued.push(r.mset(flat.slice(i, i + MSET_CHUNK * 2)));
  if (deleted.length > 0) queued.push(r.del(...deleted));
  const done = r.call('EXEC') as Promise<unknown[] | null>;
  stream?.uncork();
  // A command refused while queueing fails EXEC too (EXECABORT), which is what is reported.
  await Promise.all(queued.map((p) => p.catch(noop)));
  const results = await done;
  if (results === null) return null;
  const failed = results.find((x) => x instanceof Error);
  if (failed) throw failed;
  return 'ok';
}
