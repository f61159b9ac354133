/**
 * Duration strings used by options and filters: digits followed by one unit, s/m/h/d/w, either case
 * (`4h`, `7d`, `30m`, `90s`, `2w`). A bare `0` means zero. Anything else is rejected.
 */
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

export class DurationError extends Error {
  constructor(value: unknown) {
    super(
      `invalid duration ${JSON.stringify(value)}: expected a whole number followed by one unit s, m, h, d or w (for example 30m, 4h, 7d), or 0`,
    );
    this.name = 'DurationError';
  }
}

/** Parse a duration to seconds; throws DurationError on anything that is not a duration. */
export function parseDuration(value: string): number {
  if (typeof value !== 'string') throw new DurationError(value);
  if (value === '0') return 0;
  const m = /^(\d+)([smhdwSMHDW])$/.exec(value);
  if (!m) throw new DurationError(value);
  const n = Number(m[1]);
  if (!Number.isSafeInteger(n)) throw new DurationError(value);
  return n * UNIT_SECONDS[m[2]!.toLowerCase()]!;
}

/** Like parseDuration but returns undefined instead of throwing. */
export function tryParseDuration(value: unknown): number | undefined {
  try {
    return parseDuration(value as string);
  } catch {
    return undefined;
  }
}

/**
 * Render seconds the way Python renders a timedelta: `H:MM:SS[.ffffff]`, with `D day(s), ` before it
 * when at least a day, and negative values as `-1 day, 23:59:59`.
 */
export function formatTimedelta(totalSeconds: number): string {
  let micro = Math.round(totalSeconds * 1e6);
  const dayMicro = 86400 * 1e6;
  let days = Math.floor(micro / dayMicro);
  micro -= days * dayMicro;
  const secs = Math.floor(micro / 1e6);
  const frac = micro - secs * 1e6;
  const h = Math.floor(secs / 3600);
  const m = Math.floor((secs % 3600) / 60);
  const s = secs % 60;
  let out = `${h}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`;
  if (frac > 0) out += '.' + String(frac).padStart(6, '0');
  if (days !== 0) out = `${days} day${Math.abs(days) === 1 ? '' : 's'}, ` + out;
  return out;
}

/** Seconds as `1:02:03` (whole seconds, hours unbounded, never negative): elapsed times and ETAs. */
export function formatSeconds(s: number): string {
  const t = Math.max(0, Math.floor(s));
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  return `${h}:${String(m).padStart(2, '0')}:${String(t % 60).padStart(2, '0')}`;
}
