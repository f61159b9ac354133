import type { Clock } from '../common/clock.js';

/** A handler receives the machine time the event was due at. */
export type EventHandler = (at: number) => void;

export interface ScheduledEvent {
  readonly at: number;
  readonly seq: number;
  cancelled: boolean;
  readonly fn: EventHandler;
}

/**
 * A discrete-event scheduler over a Clock. Events are kept in a binary heap ordered by (time,
 * insertion order). `runDue()` runs every event due at the clock's current time, including events
 * that earlier events schedule for times already passed — so advancing a FakeClock by an hour and
 * calling `runDue()` plays out the whole hour in order. `start()` runs a driver loop that sleeps on
 * the clock until the next event (woken early when an earlier event is added); there are no
 * wall-clock timers besides what the clock itself uses.
 *
 * Inside a handler, `after(ms)` counts from the handler's due time, so chains of delays stay exact
 * even when the clock jumped far past them.
 */
export class Scheduler {
  private heap: ScheduledEvent[] = [];
  private seq = 0;
  private current: number | undefined;
  private running = false;
  private closed = false;
  private sleeping?: { until: number; ctl: AbortController };
  private idleWake?: () => void;
  private loopDone?: Promise<void>;

  constructor(readonly clock: Clock) {}

  /** The time `after()` counts from: the due time of the running handler, else the clock. */
  base(): number {
    return this.current ?? this.clock.now();
  }

  at(time: number, fn: EventHandler): ScheduledEvent {
    const ev: ScheduledEvent = { at: time, seq: this.seq++, cancelled: false, fn };
    this.push(ev);
    // Woken once: abort() makes a DOMException (with its stack) every time it is called, and a PCS
    // transition of thousands of nodes schedules thousands of events before the loop wakes.
    if (this.sleeping && time < this.sleeping.until && !this.sleeping.ctl.signal.aborted) this.sleeping.ctl.abort();
    if (this.idleWake) {
      const w = this.idleWake;
      this.idleWake = undefined;
      w();
    }
    return ev;
  }

  after(ms: number, fn: EventHandler): ScheduledEvent {
    return this.at(this.base() + Math.max(0, ms), fn);
  }

  cancel(ev: ScheduledEvent | undefined): void {
    if (ev) ev.cancelled = true;
  }

  /** Number of live events waiting. */
  get size(): number {
    return this.heap.reduce((n, e) => n + (e.cancelled ? 0 : 1), 0);
  }

  /** Due time of the next live event, or undefined. */
  nextDue(): number | undefined {
    this.dropCancelled();
    return this.heap[0]?.at;
  }

  /** Run every event due at or before the clock's current time. Returns how many ran. */
  runDue(): number {
    if (this.running) return 0;
    this.running = true;
    let n = 0;
    try {
      const now = this.clock.now();
      for (;;) {
        this.dropCancelled();
        const top = this.heap[0];
        if (!top || top.at > now) break;
        this.pop();
        this.current = top.at;
        try {
          top.fn(top.at);
        } finally {
          this.current = undefined;
        }
        n++;
      }
    } finally {
      this.running = false;
    }
    return n;
  }

  /** Start the driver loop (idempotent). */
  start(): void {
    if (this.loopDone || this.closed) return;
    this.loopDone = this.loop();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.sleeping?.ctl.abort();
    this.idleWake?.();
    await this.loopDone;
  }

  private async loop(): Promise<void> {
    while (!this.closed) {
      this.runDue();
      const next = this.nextDue();
      if (next === undefined) {
        await new Promise<void>((resolve) => (this.idleWake = resolve));
        continue;
      }
      const ctl = new AbortController();
      this.sleeping = { until: next, ctl };
      // Capped so a far-away event never overflows a platform timer; the loop simply sleeps again.
      await this.clock.sleep(Math.min(next - this.clock.now(), 86_400_000), ctl.signal);
      this.sleeping = undefined;
    }
  }

  private dropCancelled(): void {
    while (this.heap[0]?.cancelled) this.pop();
  }

  private less(a: ScheduledEvent, b: ScheduledEvent): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  private push(ev: ScheduledEvent): void {
    const h = this.heap;
    h.push(ev);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  private pop(): ScheduledEvent | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}
