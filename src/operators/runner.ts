/**
 * The runner every operator shares (docs/operators.md, "The runner"). One pass: refresh options
 * (failure → defaults, logged), apply `logging_level`, then either the operator's own pass or the
 * filter/act cycle: select through the filters, split into batches of `max_component_batch_size`, mark
 * components at their retry limit failed, clear old errors, preset `last_action` (power-on), act, and
 * write back `error`, `last_action` and the attempt counter in one bulk PATCH per batch. A failing
 * action becomes the error of exactly the components of its batch; a failing pass is logged and counted
 * and the loop goes on. Between passes it sleeps the frequency option minus the pass time on the
 * injected clock; `wake()` starts the next pass early (coalesced; one pass at a time).
 */
import { systemClock, type Clock } from '../common/clock.js';
import { RETRY_LIMIT_ERROR } from '../common/constants.js';
import { OPTION_DEFAULTS, resolveOptions, type Options } from '../common/options.js';
import type { Component, ComponentPatch } from '../common/types.js';
import type { Services } from '../clients/types.js';
import { applyLoggingLevel, silentLogger, type Logger } from '../log.js';
import { createMetrics, type OperatorMetrics } from '../metrics.js';
import { errorService, errorText } from './errors.js';
import { selectedLarge, type PassGate } from './pass-gate.js';
import { selectPages } from './filters.js';
import { retryState } from './rules.js';
import type { FilterOperator, OperatorDefinition, PassContext, PassCounts } from './types.js';

export interface RunnerOptions {
  services: Services;
  clock?: Clock;
  /** Root logger; the runner logs through a child with `operator` set. */
  logger?: Logger;
  metrics?: OperatorMetrics;
  /** Seconds between passes instead of the frequency option (demos, tests). */
  frequencySeconds?: number;
  /**
   * Least time between the end of one pass and the start of the next, even when woken or when the
   * frequency option is 0, so an event storm or a zero frequency cannot spin a loop. Default 500 ms.
   */
  minIntervalMs?: number;
  /**
   * After a large pass (one that selected the large-pass threshold or more, 20,000 by default) that
   * took T, the next starts no sooner than this many times T later, even when woken (default 1: such
   * an operator is busy at most about half the time). At 100,000 nodes a status pass takes seconds;
   * back to back, the passes took the CPU the API needed for the nodes' reports and the boot took
   * longer (docs/operators.md, "Wake-ups on change events"). 0 turns it off.
   */
  passGapFactor?: number;
  /** Called with the options of every pass (the HTTP clients' read timeouts follow them). */
  onOptions?: (options: Options) => void;
  /**
   * Leader election: passes run only while this says the process leads (a standby waits). A leader
   * that loses the lease stops its pass before the next batch.
   */
  leadership?: LeadershipGate;
  /** Shared by the runners of one process: large passes run one at a time (see pass-gate.ts). */
  gate?: PassGate;
}

/** Whether this process may act now (see src/leader/lease.ts). */
export interface LeadershipGate {
  isLeader(): boolean;
  waitForLeadership(signal?: AbortSignal): Promise<void>;
}

/** A leader lost its lease during a pass. */
class LostLeadership extends Error {
  constructor() {
    super('lost leadership during the pass; the remaining batches are left to the new leader');
    this.name = 'LostLeadership';
  }
}

/** What one pass did. */
export interface PassReport extends Required<PassCounts> {
  operator: string;
  ok: boolean;
  /** Why the pass failed (one line). */
  error?: string;
  /** Whether the options came from BOS (false: the fetch failed and defaults were used). */
  optionsFetched: boolean;
  startedAt: number;
  endedAt: number;
}

export interface RunnerHealth {
  operator: string;
  /** The loop is running (started and not stopped). */
  running: boolean;
  inPass: boolean;
  /** Waiting to become leader. */
  standby: boolean;
  passes: number;
  failedPasses: number;
  /** Clock times (ms) of the last pass start/end; 0 before the first. */
  lastPassStartedAt: number;
  lastPassEndedAt: number;
  lastError?: string;
  /** The pause (ms) the loop aims for between passes, from the options of the last pass. */
  intervalMs: number;
}

export class Runner {
  readonly name: string;
  readonly log: Logger;
  private readonly services: Services;
  private readonly clock: Clock;
  private readonly metrics: OperatorMetrics;
  private readonly frequencyOverride?: number;
  private readonly minIntervalMs: number;
  private readonly passGapFactor: number;
  private readonly onOptions?: (options: Options) => void;
  private readonly leadership?: LeadershipGate;
  private readonly gate?: PassGate;
  /** Components the last finished pass selected (undefined before the first). */
  private lastSelected?: number;

  private current: Options = { ...OPTION_DEFAULTS };
  private chain: Promise<unknown> = Promise.resolve();
  private loop?: Promise<void>;
  private stopping = false;
  private wakeRequested = false;
  private sleepAbort?: AbortController;
  private inPass = false;
  private standby = false;
  private passes = 0;
  private failedPasses = 0;
  private lastStart = 0;
  private lastEnd = 0;
  private lastError?: string;

  constructor(
    readonly operator: OperatorDefinition,
    opts: RunnerOptions,
  ) {
    this.name = operator.name;
    this.services = opts.services;
    this.clock = opts.clock ?? systemClock;
    this.log = (opts.logger ?? silentLogger()).child({ operator: operator.name });
    this.metrics = opts.metrics ?? createMetrics();
    this.frequencyOverride = opts.frequencySeconds;
    this.minIntervalMs = opts.minIntervalMs ?? 500;
    this.passGapFactor = Math.max(0, opts.passGapFactor ?? 1);
    this.onOptions = opts.onOptions;
    this.leadership = opts.leadership;
    this.gate = opts.gate;
  }

  /** The options of the most recent pass (defaults before the first). */
  get options(): Options {
    return this.current;
  }

  /** Start the polling loop (idempotent). */
  start(): this {
    if (!this.loop) {
      this.stopping = false;
      this.loop = this.runLoop();
    }
    return this;
  }

  /** Run the next pass as soon as allowed. Wakes during a pass coalesce into one more pass. */
  wake(): void {
    this.wakeRequested = true;
    this.sleepAbort?.abort();
  }

  /** Let the current pass finish, then end the loop. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.sleepAbort?.abort();
    const loop = this.loop;
    this.loop = undefined;
    await loop;
    await this.chain.catch(() => undefined);
  }

  health(): RunnerHealth {
    return {
      operator: this.name,
      running: this.loop !== undefined && !this.stopping,
      inPass: this.inPass,
      standby: this.standby,
      passes: this.passes,
      failedPasses: this.failedPasses,
      lastPassStartedAt: this.lastStart,
      lastPassEndedAt: this.lastEnd,
      lastError: this.lastError,
      intervalMs: this.intervalMs(),
    };
  }

  private intervalMs(): number {
    const freq = this.frequencyOverride ?? this.current[this.operator.frequency ?? 'polling_frequency'];
    return Math.max(0, Number(freq) || 0) * 1000;
  }

  private async runLoop(): Promise<void> {
    while (!this.stopping) {
      if (this.leadership && !this.leadership.isLeader()) {
        if (!this.standby) {
          this.standby = true;
          this.log.info('standing by until this process leads');
        }
        this.sleepAbort = new AbortController();
        try {
          await this.leadership.waitForLeadership(this.sleepAbort.signal);
        } catch (err) {
          this.log.error({ err: errorText(err) }, 'waiting for leadership failed');
          await this.clock.sleep(this.minIntervalMs);
        }
        this.sleepAbort = undefined;
        continue;
      }
      if (this.standby) {
        this.standby = false;
        this.log.info('this process leads now; passes resume');
      }
      this.wakeRequested = false;
      const started = this.clock.now();
      const report = await (this.gate ? this.gate.run(this.lastSelected, () => this.runOnce(), this.operator.gateTurn) : this.runOnce());
      if (report.ok) {
        this.lastSelected = report.selected;
        this.gate?.note(report.selected);
      }
      const deadline = started + this.intervalMs();
      // Only a large pass that did its work earns a gap: one that waited on a slow or silent service
      // used no CPU, and a small system's passes take milliseconds anyway.
      const large = report.ok && selectedLarge(report.selected, this.gate?.threshold);
      const gapMs = large ? this.passGapFactor * Math.max(0, this.lastEnd - this.lastStart) : 0;
      for (;;) {
        if (this.stopping) return;
        const now = this.clock.now();
        const earliest = this.lastEnd + Math.max(this.minIntervalMs, gapMs);
        const target = this.wakeRequested ? earliest : Math.max(deadline, earliest);
        if (now >= target) break;
        this.sleepAbort = new AbortController();
        try {
          await this.clock.sleep(target - now, this.sleepAbort.signal);
        } catch (err) {
          this.log.error({ err: errorText(err) }, 'sleep between passes failed; waiting the minimum interval');
        }
        this.sleepAbort = undefined;
      }
    }
  }

  /** Run one pass now (after any pass in progress). Never throws; the report says what happened. */
  runOnce(): Promise<PassReport> {
    const next = this.chain.then(() => this.pass());
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async refreshOptions(): Promise<boolean> {
    let stored: Record<string, unknown> | undefined;
    let fetched = true;
    try {
      stored = await this.services.bos.getOptions();
    } catch (err) {
      fetched = false;
      this.log.warn({ err: errorText(err) }, `could not read options from BOS; using defaults this pass: ${errorText(err)}`);
    }
    this.current = resolveOptions(stored);
    try {
      // Only a level BOS actually holds changes the log level: with BOS unreachable the level set at
      // start (BOS_OPERATOR_LOG_LEVEL) or by an earlier pass stays.
      if (stored && typeof stored.logging_level === 'string') applyLoggingLevel(this.log, this.current.logging_level);
    } catch (err) {
      this.log.error({ err: errorText(err) }, 'could not apply logging_level');
    }
    this.metrics.setOptions(this.current);
    this.onOptions?.(this.current);
    return fetched;
  }

  private async pass(): Promise<PassReport> {
    this.inPass = true;
    const startedAt = this.clock.now();
    this.lastStart = startedAt;
    const t0 = performance.now();
    const report: PassReport = {
      operator: this.name,
      ok: true,
      optionsFetched: false,
      selected: 0,
      acted: 0,
      failedAtLimit: 0,
      errored: 0,
      startedAt,
      endedAt: startedAt,
    };
    try {
      report.optionsFetched = await this.refreshOptions();
      const ctx: PassContext = {
        name: this.name,
        services: this.services,
        options: this.current,
        clock: this.clock,
        log: this.log,
        metrics: this.metrics,
        batchSize: Math.max(0, Math.floor(this.current.max_component_batch_size)),
      };
      const counts = this.operator.kind === 'filter' ? await this.filterPass(ctx, this.operator) : await this.operator.pass(ctx);
      if (counts) {
        report.selected = counts.selected;
        report.acted = counts.acted;
        report.failedAtLimit = counts.failedAtLimit ?? 0;
        report.errored = counts.errored ?? 0;
      }
    } catch (err) {
      report.ok = false;
      report.error = errorText(err);
      // Stopping cuts the calls of a pass short: that is no failure to report.
      if (this.stopping) this.log.info({ err: report.error }, 'pass cut short: the operators are stopping');
      else this.log.error({ err: report.error, service: errorService(err) }, `pass failed: ${report.error}`);
    } finally {
      const seconds = (performance.now() - t0) / 1000;
      report.endedAt = this.clock.now();
      this.lastEnd = report.endedAt;
      this.inPass = false;
      this.passes++;
      if (!report.ok) {
        this.failedPasses++;
        this.lastError = report.error;
      } else {
        this.lastError = undefined;
      }
      const outcome = report.ok ? 'ok' : 'failed';
      this.metrics.passDuration.observe({ operator: this.name, outcome }, seconds);
      this.metrics.passes.inc({ operator: this.name, outcome });
      this.metrics.lastPassTimestamp.set({ operator: this.name }, report.endedAt / 1000);
      this.metrics.selected.inc({ operator: this.name }, report.selected);
      this.metrics.acted.inc({ operator: this.name }, report.acted);
      this.metrics.lastSelected.set({ operator: this.name }, report.selected);
      const level = report.selected > 0 || !report.ok ? 'info' : 'debug';
      this.log[level](
        {
          ok: report.ok,
          selected: report.selected,
          acted: report.acted,
          failed_at_retry_limit: report.failedAtLimit,
          errored: report.errored,
          seconds: Math.round(seconds * 1000) / 1000,
        },
        'pass finished',
      );
    }
    return report;
  }

  /**
   * Select and act page by page (see selectPages): the selection gathers into batches of
   * `max_component_batch_size`, each acted on as soon as it is full, so a batch may span pages and
   * the batches are the same as if everything had been selected first.
   */
  private async filterPass(ctx: PassContext, op: FilterOperator): Promise<PassCounts> {
    const counts: Required<PassCounts> = { selected: 0, acted: 0, failedAtLimit: 0, errored: 0 };
    let batches = 0;
    const act = async (batch: Component[]) => {
      if (this.leadership && !this.leadership.isLeader()) throw new LostLeadership();
      batches++;
      const r = await this.processBatch(ctx, op, batch);
      counts.acted += r.acted;
      counts.failedAtLimit += r.failedAtLimit;
      counts.errored += r.errored;
    };
    const size = ctx.batchSize;
    let pending: Component[] = [];
    for await (const page of selectPages(ctx, op.filters(ctx))) {
      counts.selected += page.length;
      for (const c of page) pending.push(c);
      while (size > 0 && pending.length >= size) {
        const batch = pending.slice(0, size);
        pending = pending.slice(size);
        await act(batch);
      }
    }
    if (pending.length > 0) await act(pending);
    if (counts.selected > 0) ctx.log.info({ selected: counts.selected, batches }, `selected ${counts.selected} component(s)`);
    return counts;
  }

  private async processBatch(ctx: PassContext, op: FilterOperator, batch: Component[]): Promise<Required<Omit<PassCounts, 'selected'>>> {
    let remaining = batch;
    let failedAtLimit = 0;
    if (op.retryField) {
      const field = op.retryField;
      const failed: Component[] = [];
      remaining = [];
      for (const c of batch) {
        if (retryState(c, field, ctx.options.default_retry_policy).reached) failed.push(c);
        else remaining.push(c);
      }
      if (failed.length > 0) {
        const patches: ComponentPatch[] = failed.map((c) => ({
          id: c.id,
          status: { status_override: 'failed' },
          ...(c.error ? {} : { error: RETRY_LIMIT_ERROR }),
        }));
        await this.patch(patches);
        failedAtLimit = failed.length;
        this.metrics.retryLimitFailed.inc({ operator: this.name }, failed.length);
        ctx.log.warn(
          { count: failed.length, ids: failed.slice(0, 20).map((c) => c.id) },
          `${failed.length} component(s) reached their retry limit and were marked failed`,
        );
      }
      if (remaining.length === 0) return { acted: 0, failedAtLimit, errored: 0 };
    }
    const errors = new Map<string, string>();
    const left = new Set<string>();
    const helpers = {
      update: (some: ReadonlyMap<string, string>) => this.baseUpdate(op, remaining.filter((c) => some.has(c.id)), some),
      leave: (ids: Iterable<string>) => {
        for (const id of ids) left.add(id);
      },
    };
    try {
      if (op.presetLastAction && op.action) {
        await this.patch(remaining.map((c) => ({ id: c.id, error: '', last_action: { action: op.action!, failed: false } })));
      }
      const outcome = await op.act(ctx, remaining, helpers);
      for (const [id, text] of outcome?.errors ?? []) errors.set(id, text);
    } catch (err) {
      const text = errorText(err);
      const service = errorService(err);
      const failed = remaining.filter((c) => !left.has(c.id));
      for (const c of failed) errors.set(c.id, text);
      this.metrics.actionFailures.inc({ operator: this.name, service });
      this.metrics.componentErrors.inc({ operator: this.name, service }, failed.length);
      ctx.log.error({ count: failed.length, service, err: text }, `action failed for ${failed.length} component(s): ${text}`);
    }
    const acted = left.size > 0 ? remaining.filter((c) => !left.has(c.id)) : remaining;
    await this.baseUpdate(op, acted, errors);
    const errored = acted.filter((c) => errors.get(c.id)).length;
    return { acted: acted.length, failedAtLimit, errored };
  }

  /** The base update: error (none unless `errors` names one), last_action (action operators) and attempts + 1 (retry operators). */
  private async baseUpdate(op: FilterOperator, components: readonly Component[], errors: ReadonlyMap<string, string>): Promise<void> {
    if (components.length === 0) return;
    const patches: ComponentPatch[] = components.map((c) => {
      const p: ComponentPatch = { id: c.id, error: errors.get(c.id) ?? '' };
      if (op.action) p.last_action = { action: op.action, failed: false };
      if (op.retryField) p.event_stats = { [op.retryField]: retryState(c, op.retryField, 0).attempts + 1 };
      return p;
    });
    await this.patch(patches);
  }

  private async patch(patches: ComponentPatch[]): Promise<void> {
    await patchComponents(this.services, patches);
  }
}

/**
 * Bulk PATCH of component entries (nothing sent when empty). Refuses an entry that writes
 * `desired_state` without `session`: desired state always travels with the session that set it.
 * The updated records come back only with `records: true`, records holding only their id with
 * `records: 'ids'` (otherwise the API's answer is not parsed and the result is empty).
 */
export async function patchComponents(
  services: Services,
  patches: ComponentPatch[],
  opts: { skipBadIds?: boolean; chunkSize?: number; records?: boolean | 'ids' } = {},
): Promise<Component[]> {
  if (patches.length === 0) return [];
  for (const p of patches) {
    if (p.desired_state !== undefined && p.session === undefined) {
      throw new Error(`refusing to write desired_state of component ${p.id} without its session`);
    }
  }
  const { records, ...rest } = opts;
  if (records === 'ids') return services.bos.patchComponents(patches as Partial<Component>[], { ...rest, idsOnly: true });
  return services.bos.patchComponents(patches as Partial<Component>[], records ? rest : { ...rest, discardAnswer: true });
}
