import { OPERATOR_NAMES } from './types.js';

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
  private running = 0;
  /** Large passes waiting, in the order they will run (see run()). */
  private readonly waiting: { rank: number; overtaken: number; start: () => void }[] = [];
  private lastLargeAt = -Infinity;

  constructor(
    readonly threshold: number = DEFAULT_LARGE_PASS_THRESHOLD,
    private readonly now: () => number = Date.now,
    private readonly concurrency = 1,
  ) {}

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

  /**
   * Run `pass` now, or, when it is expected to be large, after the large passes running and those
   * waiting whose turn comes first (`turn`: see GateTurn).
   */
  run<T>(lastSelected: number | undefined, pass: () => Promise<T>, turn?: GateTurn): Promise<T> {
    if (!this.isLarge(lastSelected)) return pass();
    return new Promise<T>((resolve, reject) => {
      const start = (): void => {
        this.running++;
        new Promise<T>((ran) => ran(pass()))
          .then(resolve, reject)
          .finally(() => {
            this.running--;
            this.waiting.shift()?.start();
          });
      };
      if (this.running < this.concurrency) return start();
      const rank = RANKS[turn ?? 'between'];
      // Ahead of the passes whose turn comes later, unless they have been overtaken enough already.
      let at = this.waiting.length;
      while (at > 0 && this.waiting[at - 1]!.rank > rank && this.waiting[at - 1]!.overtaken < MAX_OVERTAKEN) at--;
      for (let i = at; i < this.waiting.length; i++) this.waiting[i]!.overtaken++;
      this.waiting.splice(at, 0, { rank, overtaken: 0, start });
    });
  }

  /** Large passes running or waiting. */
  get pending(): number {
    return this.running + this.waiting.length;
  }
}

/**
 * When a large pass waiting at the gate runs: `first` before the others (the passes that finish what
 * the others started), `last` after them (those nothing waits on), `between` in order of arrival.
 */
export type GateTurn = 'first' | 'between' | 'last';

const RANKS: Record<GateTurn, number> = { first: 0, between: 1, last: 2 };

/**
 * How often a waiting pass lets later arrivals go first: once for each other operator of a process
 * (each has one pass at a time), and none waits for ever on a busy system.
 */
export const MAX_OVERTAKEN = OPERATOR_NAMES.length - 1;
