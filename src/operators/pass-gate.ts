import pLimit, { type LimitFunction } from 'p-limit';

/** Default `largePassThreshold`: a pass expected to select at least this many components is large. */
export const DEFAULT_LARGE_PASS_THRESHOLD = 20_000;

/** Whether a pass that selected `selected` components was large (a threshold of 0 or less: none is). */
export function selectedLarge(selected: number, threshold: number = DEFAULT_LARGE_PASS_THRESHOLD): boolean {
  return threshold > 0 && selected >= threshold;
}

/** How long after a pass selected `threshold` components or more every pass counts as large. */
const LARGE_SYSTEM_MEMORY_MS = 120_000;

/**
 * Keeps the operators of one process from holding several large selections at once. A pass is
 * expected to be large when the operator's previous pass selected at least `threshold` components,
 * when it has not run yet, or when any pass of the process did in the last two minutes (on a large
 * system an operator that found nothing a moment ago can find 100,000 components the next: a boot
 * moves them all from one phase to the next). Large passes run one at a time, small ones whenever
 * they like. At 100,000 components the status, power-on and configuration passes of a boot each
 * hold their whole selection (about 190 MB of JSON, parsed) for the pass: run together, they took
 * the process to 2 GiB. On a system of a few thousand components nothing is held back.
 */
export class PassGate {
  private readonly large: LimitFunction;
  private lastLargeAt = -Infinity;

  constructor(
    readonly threshold: number = DEFAULT_LARGE_PASS_THRESHOLD,
    private readonly now: () => number = Date.now,
    concurrency = 1,
  ) {
    this.large = pLimit(concurrency);
  }

  /** Record what a finished pass selected. */
  note(selected: number): void {
    if (selectedLarge(selected, this.threshold)) this.lastLargeAt = this.now();
  }

  /** Whether a pass whose operator last selected `lastSelected` components (undefined: never ran) waits its turn. */
  isLarge(lastSelected: number | undefined): boolean {
    if (this.threshold <= 0) return false;
    if (lastSelected === undefined || lastSelected >= this.threshold) return true;
    return this.now() - this.lastLargeAt < LARGE_SYSTEM_MEMORY_MS;
  }

  /** Run `pass` now, or after the large passes before it when it is expected to be large. */
  run<T>(lastSelected: number | undefined, pass: () => Promise<T>): Promise<T> {
    return this.isLarge(lastSelected) ? this.large(pass) : pass();
  }

  /** Large passes running or waiting. */
  get pending(): number {
    return this.large.activeCount + this.large.pendingCount;
  }
}
