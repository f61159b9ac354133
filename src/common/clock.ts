/**
 * The injectable clock. Every rule that depends on time takes a Clock, so tests drive time instead of
 * sleeping. Timestamps on the wire are naive UTC, second precision: `YYYY-MM-DDTHH:MM:SS`.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Wait `ms` of this clock's time. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const t = setTimeout(done, Math.max(0, ms));
      function done() {
        signal?.removeEventListener('abort', done);
        clearTimeout(t);
        resolve();
      }
      signal?.addEventListener('abort', done, { once: true });
    }),
};

/**
 * A clock whose time moves only when told (`advance`), or runs `speed` times faster than real time
 * when `speed` is given. Sleepers wake when the clock passes their deadline.
 */
export class FakeClock implements Clock {
  private t: number;
  private sleepers: { until: number; resolve: () => void }[] = [];
  private timer?: NodeJS.Timeout;

  constructor(start = Date.UTC(2026, 0, 1, 0, 0, 0), opts: { speed?: number; tickMs?: number } = {}) {
    this.t = start;
    if (opts.speed && opts.speed > 0) {
      const tick = opts.tickMs ?? 10;
      this.timer = setInterval(() => this.advance(tick * opts.speed!), tick);
      this.timer.unref();
    }
  }

  now(): number {
    return this.t;
  }

  /** Move time forward and wake every sleeper whose deadline has passed. */
  advance(ms: number): void {
    this.t += ms;
    const due = this.sleepers.filter((s) => s.until <= this.t).sort((a, b) => a.until - b.until);
    this.sleepers = this.sleepers.filter((s) => s.until > this.t);
    for (const s of due) s.resolve();
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (ms <= 0 || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const onAbort = () => {
        this.sleepers = this.sleepers.filter((s) => s !== entry);
        resolve();
      };
      const entry = {
        until: this.t + ms,
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      this.sleepers.push(entry);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}

/** Naive UTC timestamp, second precision, no zone: `2025-03-04T17:05:09`. */
export function formatTimestamp(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19);
}

/** The current timestamp of a clock in wire format. */
export function timestamp(clock: Clock): string {
  return formatTimestamp(clock.now());
}

/**
 * Parse an ISO-ish timestamp, dropping any zone information and treating it as naive UTC.
 * Returns milliseconds since the epoch, or NaN when it cannot be read.
 */
export function parseTimestamp(value: string | null | undefined): number {
  if (!value || typeof value !== 'string') return NaN;
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6})\d*)?)?)?/.exec(value.trim());
  if (!m) return NaN;
  const [, y, mo, d, h = '0', mi = '0', s = '0', frac = ''] = m;
  const parts = [Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)] as const;
  const date = new Date(Date.UTC(2000, parts[1], parts[2], parts[3], parts[4], parts[5]));
  date.setUTCFullYear(parts[0]); // Date.UTC maps years 0-99 to 1900-1999
  // Out-of-range fields (month 13, 30 February, 24:00) would roll over silently: not a timestamp.
  const back = [date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate(), date.getUTCHours(), date.getUTCMinutes(), date.getUTCSeconds()];
  if (back.some((v, i) => v !== parts[i])) return NaN;
  const ms = frac ? Number(frac.padEnd(6, '0')) / 1000 : 0;
  return date.getTime() + ms;
}
