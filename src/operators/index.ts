/**
 * The operators, embeddable: `startOperators({ services })` starts all eleven polling loops (or `only`
 * some) on one shared clock, logger and metrics registry, and returns the runners with `wakeAll()`
 * (for change events) and `stop()` (finish current passes, then end).
 */
import { systemClock, type Clock } from '../common/clock.js';
import { OPTION_DEFAULTS, type Options } from '../common/options.js';
import type { Services } from '../clients/types.js';
import { createLogger, type Logger } from '../log.js';
import { createMetrics, type OperatorMetrics, type Registry } from '../metrics.js';
import { actualStateCleanup } from './actual-state-cleanup.js';
import { configuration } from './configuration.js';
import { discovery } from './discovery.js';
import { powerOffForceful } from './power-off-forceful.js';
import { powerOffGraceful } from './power-off-graceful.js';
import { powerOn } from './power-on.js';
import { rollout } from './rollout.js';
import { DEFAULT_LARGE_PASS_THRESHOLD, PassGate } from './pass-gate.js';
import { Runner, type LeadershipGate, type RunnerHealth } from './runner.js';
import { sessionCleanup } from './session-cleanup.js';
import { sessionCompletion } from './session-completion.js';
import { sessionSetup } from './session-setup.js';
import { status } from './status.js';
import { OPERATOR_NAMES, type OperatorDefinition, type OperatorName } from './types.js';

export * from './types.js';

/** Every operator by name. */
const OPERATORS: Readonly<Record<OperatorName, OperatorDefinition>> = Object.freeze({
  discovery,
  'session-setup': sessionSetup,
  rollout,
  'power-on': powerOn,
  'power-off-graceful': powerOffGraceful,
  'power-off-forceful': powerOffForceful,
  configuration,
  status,
  'actual-state-cleanup': actualStateCleanup,
  'session-completion': sessionCompletion,
  'session-cleanup': sessionCleanup,
});

export interface StartOperatorsOptions {
  services: Services;
  clock?: Clock;
  /** Names of the operators to run (default: all). Unknown names throw. */
  only?: readonly string[];
  /** Registry for the metrics (a new one when neither this nor `metrics` is given). */
  registry?: Registry;
  /** Metrics already created on a registry (for example shared with the HTTP clients' onRequest hook). */
  metrics?: OperatorMetrics;
  logger?: Logger;
  /**
   * Seconds between passes instead of the `polling_frequency` / `discovery_frequency` options: one
   * number for every operator, or per operator.
   */
  pollingOverride?: number | Partial<Record<OperatorName, number>>;
  /** Least pause between passes of one operator, even when woken (default 500 ms). */
  minIntervalMs?: number;
  /**
   * Passes expected to select at least this many components run one at a time in this process, to
   * bound its memory (default 20,000; 0 = no limit). See pass-gate.ts.
   */
  largePassThreshold?: number;
  /** Start the loops now (default true). With false, drive passes with `runner.runOnce()`. */
  autoStart?: boolean;
  /** Leader election: act only while this process leads (default: always). */
  leadership?: LeadershipGate;
}

export interface RunningOperators {
  operators: Map<OperatorName, Runner>;
  metrics: OperatorMetrics;
  /** The options of the most recent pass of any operator (what the HTTP clients should follow). */
  options(): Options;
  /** Start every loop (only needed with autoStart: false). */
  start(): void;
  /** Run every operator's next pass as soon as allowed (change events call this). */
  wakeAll(): void;
  /** Let current passes finish, then end every loop. */
  stop(): Promise<void>;
  health(): RunnerHealth[];
}

/** Parse `a,b` / a list of operator names; unknown names throw with the valid list. */
export function selectOperators(only?: readonly string[] | string): OperatorName[] {
  if (only === undefined) return [...OPERATOR_NAMES];
  const list = (typeof only === 'string' ? only.split(',') : only).map((s) => s.trim()).filter((s) => s.length > 0);
  if (list.length === 0) return [...OPERATOR_NAMES];
  const unknown = list.filter((n) => !(OPERATOR_NAMES as readonly string[]).includes(n));
  if (unknown.length > 0) {
    throw new Error(`unknown operator(s): ${unknown.join(', ')}; valid: ${OPERATOR_NAMES.join(', ')}`);
  }
  return OPERATOR_NAMES.filter((n) => list.includes(n));
}

export function startOperators(opts: StartOperatorsOptions): RunningOperators {
  const names = selectOperators(opts.only);
  const clock = opts.clock ?? systemClock;
  const logger = opts.logger ?? createLogger();
  const metrics = opts.metrics ?? createMetrics(opts.registry);
  let latest: Options = { ...OPTION_DEFAULTS };
  const operators = new Map<OperatorName, Runner>();
  const gate = new PassGate(opts.largePassThreshold ?? DEFAULT_LARGE_PASS_THRESHOLD, () => clock.now());
  for (const name of names) {
    const override = typeof opts.pollingOverride === 'number' ? opts.pollingOverride : opts.pollingOverride?.[name];
    operators.set(
      name,
      new Runner(OPERATORS[name], {
        services: opts.services,
        clock,
        logger,
        metrics,
        frequencySeconds: override,
        minIntervalMs: opts.minIntervalMs,
        leadership: opts.leadership,
        gate,
        onOptions: (o) => {
          latest = o;
        },
      }),
    );
  }
  const start = () => {
    for (const r of operators.values()) r.start();
  };
  if (opts.autoStart !== false) start();
  logger.info({ operators: names }, `started ${names.length} operator(s)`);
  return {
    operators,
    metrics,
    options: () => latest,
    start,
    wakeAll() {
      for (const r of operators.values()) r.wake();
    },
    async stop() {
      await Promise.all([...operators.values()].map((r) => r.stop()));
    },
    health: () => [...operators.values()].map((r) => r.health()),
  };
}
