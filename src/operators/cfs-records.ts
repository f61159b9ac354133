/**
 * The CFS records of one status pass as they are read, page by page: a batch can be decided as soon
 * as every one of its components' records has arrived (or CFS has no more), instead of after the
 * whole listing. Against a CFS of 100,000 components in pages of 1,000, the first batch is decided
 * after the few pages holding its components, and reading the rest goes on beside the pass.
 */
import type { CfsComponent } from '../clients/types.js';

/** What a batch waits for: `here` once it would not wait; `ready` settles then (rejects if CFS failed). */
export interface CfsWait {
  here: boolean;
  ready: Promise<void>;
}

interface Waiter {
  missing: number;
  wait: CfsWait;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class CfsRecords {
  private readonly byId = new Map<string, CfsComponent>();
  private complete = false;
  private failure: { err: unknown } | undefined;
  private closed = false;
  /** For each id some batch waits for, the waiters (a pass's ids are distinct: usually one). */
  private readonly waiting = new Map<string, Waiter[]>();
  private readonly open = new Set<Waiter>();

  constructor(pages: AsyncIterable<readonly CfsComponent[]>) {
    void this.read(pages);
  }

  /** The record of `id`, once its wait is over (undefined: CFS has none). */
  get(id: string): CfsComponent | undefined {
    return this.byId.get(id);
  }

  /** Wait until every one of `ids` has its record here, or CFS has no more records. */
  whenHas(ids: readonly string[]): CfsWait {
    if (this.failure) return settled(Promise.reject(this.failure.err));
    if (this.complete) return settled(Promise.resolve());
    let resolve!: () => void;
    let reject!: (err: unknown) => void;
    const wait: CfsWait = { here: false, ready: new Promise<void>((res, rej) => ((resolve = res), (reject = rej))) };
    wait.ready.catch(() => undefined); // awaited when the batch is decided
    const waiter: Waiter = { missing: 0, wait, resolve, reject };
    for (const id of new Set(ids)) {
      if (this.byId.has(id)) continue;
      waiter.missing++;
      const list = this.waiting.get(id);
      if (list) list.push(waiter);
      else this.waiting.set(id, [waiter]);
    }
    if (waiter.missing === 0) return settled(Promise.resolve());
    this.open.add(waiter);
    return wait;
  }

  /** Stop reading (the pass is over): no more pages are asked for. */
  close(): void {
    this.closed = true;
  }

  private async read(pages: AsyncIterable<readonly CfsComponent[]>): Promise<void> {
    try {
      for await (const page of pages) {
        for (const r of page) {
          if (!r || typeof r.id !== 'string') continue;
          this.byId.set(r.id, r);
          const list = this.waiting.get(r.id);
          if (!list) continue;
          this.waiting.delete(r.id);
          for (const w of list) if (--w.missing === 0) this.release(w);
        }
        if (this.closed) return;
      }
      this.complete = true;
      for (const w of this.open) this.release(w);
    } catch (err) {
      this.failure = { err };
      for (const w of this.open) {
        w.wait.here = true;
        w.reject(err);
      }
      this.open.clear();
    }
    this.waiting.clear();
  }

  private release(w: Waiter): void {
    this.open.delete(w);
    w.wait.here = true;
    w.resolve();
  }
}

function settled(ready: Promise<void>): CfsWait {
  ready.catch(() => undefined);
  return { here: true, ready };
}
