import pLimit, { type LimitFunction } from 'p-limit';

/** Default `largePassThreshold`: a pass expected to select at least this many components is large. */
export const DEFAULT_LARGE_PASS_THRESHOLD = 20_000;

/**
 * Keeps the operators of one process from holding several large selections at once. A pass is
 * expected to be large when the operator's previous pass selected at least `threshold` components
 * (or when it has not run yet); large passes run one at a time, small ones whenever they like. At
 * 100,000 components the status, power-on and configuration passes of a boot each hold their whole
 * selection (about 190 MB of JSON, parsed) for the pass: run together, they took the process to
 * 2 GiB. Passes over a few thousand components are not held back.
 */
export class PassGate {
  private readonly large: LimitFunction;

  constructor(
    readonly threshold: number = DEFAULT_LARGE_PASS_THRESHOLD,
    concurrency = 1,
  ) {
    this.large = pLimit(concurrency);
  }

  /** Whether a pass whose operator last selected `lastSelected` components (undefined: never ran) waits its turn. */
  isLarge(lastSelected: number | undefined): boolean {
    return this.threshold > 0 && (lastSelected === undefined || lastSelected >= this.threshold);
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
