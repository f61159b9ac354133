/** The services the simulator answers for; failure rates and latency are set per service. */
export const SIM_SERVICES = ['hsm', 'pcs', 'bss', 'cfs', 'ims', 's3', 'tapms'] as const;
export type SimService = (typeof SIM_SERVICES)[number];

/**
 * Run-wide behaviour of the machine room. Delays are machine time (the room's Clock) in
 * milliseconds. Node lists name xnames; unknown xnames are ignored.
 */
export interface SimKnobs {
  /** PCS `On` → node powered (HSM `On`). */
  powerOnDelayMs: number;
  /** PCS `Soft-Off` (graceful) → node off; nodes in `ignoreSoftOff` never go off this way. */
  powerOffDelayMs: number;
  /** PCS `Force-Off` → node off. */
  forceOffDelayMs: number;
  /** Powered → booted (HSM `Ready`) and reporting; nodes in `neverBoot` stay `On` forever. */
  bootDelayMs: number;
  /** CFS `pending` → `configured`/`failed` once the node is booted and its CFS component enabled. */
  cfsConfigureDelayMs: number;
  /**
   * Period of the on-node state reporter once it has reported successfully; default
   * 0.75 × 4 h. A `bos_update_frequency=<duration>` kernel parameter overrides it per boot.
   */
  reportPeriodMs: number;
  /** Cap of the reporter's retry wait `min(cap, 2 s × attempt)`. */
  reportRetryCapMs: number;
  /** Probability in [0,1] that a call to a service answers 500. */
  failureRate: Partial<Record<SimService, number>>;
  /** Extra latency in real milliseconds added to every answer of a service (HTTP edge, not machine time). */
  latencyMs: Partial<Record<SimService, number>>;
  /** Power state the nodes start in; `on` nodes start booted (Ready) with the default image in BSS. */
  initialPower: 'on' | 'off';
  /** Page size CFS uses when the caller gives no `limit`. */
  cfsPageSize: number;
  /** CFS configurations whose application fails. */
  failingConfigurations: string[];
  /** Nodes that ignore a graceful power-off (Soft-Off); Force-Off still works. */
  ignoreSoftOff: string[];
  /** Nodes that power on but never finish booting. */
  neverBoot: string[];
  /** Nodes whose CFS configuration always fails, whatever the configuration. */
  cfsFailNodes: string[];
  /** Nodes HSM lists as locked (PCS refuses to transition them). */
  locked: string[];
  /** Nodes HSM lists with `Enabled: false`. */
  disabled: string[];
  /** The booted node re-enables its CFS component (what cfs-state-reporter does on boot). */
  cfsEnableOnBoot: boolean;
  /**
   * Most reporter PATCH requests in flight at once (across all nodes). Real nodes report on their
   * own, unbounded; the cap only keeps one simulator process from opening a socket per node.
   */
  reporterConcurrency: number;
  /** Bearer token the reporter sends to BOS, if any. */
  reporterToken?: string;
}

const DEFAULT_KNOBS: Readonly<SimKnobs> = Object.freeze({
  powerOnDelayMs: 5_000,
  powerOffDelayMs: 20_000,
  forceOffDelayMs: 2_000,
  bootDelayMs: 120_000,
  cfsConfigureDelayMs: 60_000,
  reportPeriodMs: 0.75 * 4 * 3600_000,
  reportRetryCapMs: 30_000,
  failureRate: {},
  latencyMs: {},
  initialPower: 'off',
  cfsPageSize: 1000,
  failingConfigurations: [],
  ignoreSoftOff: [],
  neverBoot: [],
  cfsFailNodes: [],
  locked: [],
  disabled: [],
  cfsEnableOnBoot: true,
  reporterConcurrency: 512,
});

/** Every machine delay zero: transitions, boots and configuration complete as soon as time is looked at. */
export const INSTANT_KNOBS: Readonly<Partial<SimKnobs>> = Object.freeze({
  powerOnDelayMs: 0,
  powerOffDelayMs: 0,
  forceOffDelayMs: 0,
  bootDelayMs: 0,
  cfsConfigureDelayMs: 0,
});

export function resolveKnobs(knobs: Partial<SimKnobs> = {}): SimKnobs {
  const k: SimKnobs = { ...DEFAULT_KNOBS, ...stripUndefined(knobs) } as SimKnobs;
  k.failureRate = { ...(knobs.failureRate ?? {}) };
  k.latencyMs = { ...(knobs.latencyMs ?? {}) };
  for (const name of ['failingConfigurations', 'ignoreSoftOff', 'neverBoot', 'cfsFailNodes', 'locked', 'disabled'] as const) {
    k[name] = [...(knobs[name] ?? [])];
  }
  for (const [svc, rate] of Object.entries(k.failureRate)) {
    if (typeof rate !== 'number' || !(rate >= 0 && rate <= 1)) {
      throw new Error(`failure rate for ${svc} must be a number between 0 and 1, got ${String(rate)}`);
    }
  }
  for (const name of ['powerOnDelayMs', 'powerOffDelayMs', 'forceOffDelayMs', 'bootDelayMs', 'cfsConfigureDelayMs', 'reportPeriodMs', 'reportRetryCapMs'] as const) {
    if (!(Number.isFinite(k[name]) && k[name] >= 0)) throw new Error(`${name} must be a non-negative number of milliseconds, got ${String(k[name])}`);
  }
  if (!(Number.isInteger(k.cfsPageSize) && k.cfsPageSize > 0)) throw new Error(`cfsPageSize must be a positive integer, got ${String(k.cfsPageSize)}`);
  if (!(Number.isInteger(k.reporterConcurrency) && k.reporterConcurrency > 0)) {
    throw new Error(`reporterConcurrency must be a positive integer, got ${String(k.reporterConcurrency)}`);
  }
  return k;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
