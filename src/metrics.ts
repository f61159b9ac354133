/**
 * Prometheus metrics of the operators and of every downstream call. One `OperatorMetrics` per
 * registry: a process creates the registry once and passes it in (nothing here is a hidden global).
 * Every metric is documented in docs/operators.md, section "Metrics".
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { OPTION_NAMES, type Options } from './common/options.js';
import { tryParseDuration } from './common/duration.js';

export { Registry } from 'prom-client';

/** Buckets (seconds) for pass durations: from a quick no-op pass to a large system's slow pass. */
const PASS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
/** Buckets (seconds) for single HTTP requests. */
const REQUEST_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** Duration options exposed in seconds under `<name>_seconds`. */
const DURATION_OPTIONS = ['cleanup_completed_session_ttl', 'component_actual_state_ttl'] as const;

export class OperatorMetrics {
  readonly registry: Registry;
  readonly passDuration: Histogram<'operator' | 'outcome'>;
  readonly passes: Counter<'operator' | 'outcome'>;
  readonly lastPassTimestamp: Gauge<'operator'>;
  readonly selected: Counter<'operator'>;
  readonly acted: Counter<'operator'>;
  readonly lastSelected: Gauge<'operator'>;
  readonly actionFailures: Counter<'operator' | 'service'>;
  readonly componentErrors: Counter<'operator' | 'service'>;
  readonly retryLimitFailed: Counter<'operator'>;
  readonly requestDuration: Histogram<'service' | 'method' | 'outcome'>;
  readonly components: Gauge<'status' | 'phase' | 'enabled'>;
  readonly sessions: Gauge<'status'>;
  readonly rolloutNodes: Gauge<'session' | 'state'>;
  readonly sessionStart: Gauge<'session' | 'tenant'>;
  readonly leader: Gauge<'lease'>;
  readonly sessionsCompleted: Counter<'outcome'>;
  readonly option: Gauge<'option'>;
  private leadership: { lease: string; isLeader: () => boolean } | undefined;

  constructor(registry: Registry = new Registry()) {
    this.registry = registry;
    const registers = [registry];
    this.passDuration = new Histogram({
      name: 'bos_operator_pass_duration_seconds',
      help: 'Duration of one operator pass (options refresh, selection and every batch), by operator and outcome (ok or failed)',
      labelNames: ['operator', 'outcome'],
      buckets: PASS_BUCKETS,
      registers,
    });
    this.passes = new Counter({
      name: 'bos_operator_passes_total',
      help: 'Operator passes run, by operator and outcome (ok, or failed when a filter, a BOS call or the pass itself threw)',
      labelNames: ['operator', 'outcome'],
      registers,
    });
    this.lastPassTimestamp = new Gauge({
      name: 'bos_operator_last_pass_timestamp_seconds',
      help: 'Unix time at which the operator last finished a pass (successful or not)',
      labelNames: ['operator'],
      registers,
    });
    this.selected = new Counter({
      name: 'bos_operator_components_selected_total',
      help: 'Components an operator selected (after its filters) summed over passes',
      labelNames: ['operator'],
      registers,
    });
    this.acted = new Counter({
      name: 'bos_operator_components_acted_total',
      help: 'Components an operator acted on (selected minus those failed at the retry limit), summed over passes',
      labelNames: ['operator'],
      registers,
    });
    this.lastSelected = new Gauge({
      name: 'bos_operator_components_selected',
      help: 'Components selected by the last pass of an operator',
      labelNames: ['operator'],
      registers,
    });
    this.actionFailures = new Counter({
      name: 'bos_operator_action_failures_total',
      help: 'Failed operator actions (one per failed batch or failed session), by operator and the service that failed',
      labelNames: ['operator', 'service'],
      registers,
    });
    this.componentErrors = new Counter({
      name: 'bos_operator_component_errors_total',
      help: 'Components given an error by an operator, by operator and the service that failed',
      labelNames: ['operator', 'service'],
      registers,
    });
    this.retryLimitFailed = new Counter({
      name: 'bos_operator_retry_limit_failed_total',
      help: 'Components marked failed because they reached their retry limit, by operator',
      labelNames: ['operator'],
      registers,
    });
    this.requestDuration = new Histogram({
      name: 'bos_downstream_request_duration_seconds',
      help: 'Duration of requests to downstream services (bos, hsm, pcs, bss, cfs, ims, s3, tapms, redis), by method and outcome (HTTP status or error kind)',
      labelNames: ['service', 'method', 'outcome'],
      buckets: REQUEST_BUCKETS,
      registers,
    });
    this.components = new Gauge({
      name: 'bos_components',
      help: 'BOS components by status, phase and enabled, as the status operator sees them: enabled ones every pass (after its updates), disabled ones from a full count at most a minute old',
      labelNames: ['status', 'phase', 'enabled'],
      registers,
    });
    this.sessions = new Gauge({
      name: 'bos_sessions',
      help: 'Sessions by status (pending from session setup, running from session completion, complete from session cleanup)',
      labelNames: ['status'],
      registers,
    });
    this.rolloutNodes = new Gauge({
      name: 'bos_rollout_nodes',
      help: 'Nodes of each running rolling session by state (waiting, in_flight, done, failed), as the rollout operator saw them in its last pass',
      labelNames: ['session', 'state'],
      registers,
    });
    this.sessionStart = new Gauge({
      name: 'bos_session_start_timestamp_seconds',
      help: 'Unix time at which each running session started, as session completion saw it in its last pass (for alerts on sessions that run too long)',
      labelNames: ['session', 'tenant'],
      registers,
    });
    const leadership = () => this.leadership;
    this.leader = new Gauge({
      name: 'bos_operators_leader',
      help: '1 while this operators process holds its Lease (and so acts), 0 while it stands by; always 1 without leader election',
      labelNames: ['lease'],
      registers,
      collect() {
        const l = leadership();
        if (l) this.set({ lease: l.lease }, l.isLeader() ? 1 : 0);
      },
    });
    this.sessionsCompleted = new Counter({
      name: 'bos_sessions_completed_total',
      help: 'Sessions the operators marked complete, by outcome (succeeded, or failed when session setup failed)',
      labelNames: ['outcome'],
      registers,
    });
    this.option = new Gauge({
      name: 'bos_option',
      help: 'Option values in force for the operators (booleans as 0/1, durations as seconds under <name>_seconds)',
      labelNames: ['option'],
      registers,
    });
  }

  /** The `onRequest` hook of the HTTP clients: `createServices({ onRequest: metrics.onRequest })`. */
  readonly onRequest = (service: string, method: string, outcome: string, seconds: number): void => {
    this.requestDuration.observe({ service, method: method.toUpperCase(), outcome }, seconds);
  };

  /** Record the options in force. */
  setOptions(options: Options): void {
    for (const name of OPTION_NAMES) {
      const v = options[name];
      if (typeof v === 'number') this.option.set({ option: name }, v);
      else if (typeof v === 'boolean') this.option.set({ option: name }, v ? 1 : 0);
    }
    for (const name of DURATION_OPTIONS) {
      const s = tryParseDuration(options[name]);
      if (s !== undefined) this.option.set({ option: `${name}_seconds` }, s);
    }
  }

  /** Report whether this process leads, read at each scrape. `lease` is '' without leader election. */
  watchLeadership(lease: string, isLeader: () => boolean): void {
    this.leadership = { lease, isLeader };
  }

  /** Replace the component counts (keys from `componentKey`). */
  setComponentCounts(counts: Map<string, number>): void {
    this.components.reset();
    for (const [key, n] of counts) {
      const [status, phase, enabled] = key.split('\u0000') as [string, string, string];
      this.components.set({ status, phase, enabled }, n);
    }
  }
}

/** Key for setComponentCounts. */
export function componentKey(status: string, phase: string, enabled: boolean): string {
  return `${status}\u0000${phase}\u0000${enabled ? 'true' : 'false'}`;
}

/** Metrics on a registry (a new one when none is given). Call once per registry. */
export function createMetrics(registry?: Registry): OperatorMetrics {
  return new OperatorMetrics(registry);
}

/**
 * The process metrics every BOS process exposes (CPU, memory, event-loop lag, file descriptors:
 * prom-client's defaults). Once per registry: `bos up` shares one registry between API and operators.
 */
export function withProcessMetrics(registry: Registry): Registry {
  if (!registry.getSingleMetric('process_cpu_user_seconds_total')) collectDefaultMetrics({ register: registry });
  return registry;
}
