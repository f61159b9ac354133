/**
 * Leader election on a `coordination.k8s.io/v1` Lease, with the semantics of client-go's
 * leaderelection package:
 *
 * - a candidate takes the lease when it does not exist, has no holder, or has expired
 *   (`renewTime + leaseDurationSeconds < now`);
 * - the leader renews it every `retryPeriod`; every write carries the `resourceVersion` it read, so a
 *   409 conflict means someone else wrote first and the elector simply re-reads on its next round;
 * - a leader that has not renewed successfully for `renewDeadline` stops acting, and because
 *   `renewDeadline < leaseDuration` it does so before any other candidate may take the lease;
 * - `leaseTransitions` counts changes of holder, `holderIdentity`, `acquireTime` and `renewTime` are set
 *   as client-go sets them; `stop()` releases a held lease (empty holder) so a standby takes over at once.
 *
 * Leadership as seen by `isLeader()` is computed from the clock (`now < last successful renew +
 * renewDeadline`), so a late timer or a blocked event loop can never stretch a leadership term.
 * The operators' runner asks `gate().isLeader()` before each pass, or awaits `waitForLeadership()`.
 */
import { EventEmitter } from 'node:events';
import {
  CoordinationV1Api,
  KubeConfig,
  Observable,
  V1MicroTime,
  type ConfigurationOptions,
  type ObservableMiddleware,
  type RequestContext,
  type ResponseContext,
  type V1Lease,
} from '@kubernetes/client-node';
import { systemClock, type Clock } from '../common/clock.js';
import { messageOf } from '../common/errors.js';

/** The subset of a pino logger the elector uses. */
export interface LeaderLogger {
  info(obj: Record<string, unknown>, msg: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
  debug?(obj: Record<string, unknown>, msg: string): void;
}

/** A write lost an optimistic-concurrency race (HTTP 409): someone else changed or created the lease. */
export class LeaseConflict extends Error {
  constructor(what: string) {
    super(`lease ${what}: conflict (another writer changed it first)`);
    this.name = 'LeaseConflict';
  }
}

/** Invalid elector settings. */
export class LeaderElectionConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LeaderElectionConfigError';
  }
}

/**
 * The three Lease calls the elector makes. `kubeLeaseApi` adapts @kubernetes/client-node; tests may
 * pass any implementation. `read` returns null when the lease does not exist; `create`/`replace`
 * throw `LeaseConflict` on HTTP 409.
 */
export interface LeaseApi {
  read(namespace: string, name: string, signal: AbortSignal): Promise<V1Lease | null>;
  create(namespace: string, lease: V1Lease, signal: AbortSignal): Promise<V1Lease>;
  replace(namespace: string, name: string, lease: V1Lease, signal: AbortSignal): Promise<V1Lease>;
}

function statusCode(err: unknown): number | undefined {
  if (err && typeof err === 'object' && 'code' in err && typeof (err as { code: unknown }).code === 'number') {
    return (err as { code: number }).code;
  }
  return undefined;
}

/** Adapt a client-node CoordinationV1Api (requests abort with the given signal). */
function kubeLeaseApi(api: CoordinationV1Api): LeaseApi {
  // Per-request options: a middleware that attaches the abort signal to the fetch.
  const withSignal = (signal: AbortSignal): ConfigurationOptions<ObservableMiddleware> => ({
    middleware: [
      {
        pre: (ctx: RequestContext) => {
          ctx.setSignal(signal);
          return new Observable(Promise.resolve(ctx));
        },
        post: (res: ResponseContext) => new Observable(Promise.resolve(res)),
      },
    ],
    middlewareMergeStrategy: 'append',
  });
  return {
    async read(namespace, name, signal) {
      try {
        return await api.readNamespacedLease({ name, namespace }, withSignal(signal));
      } catch (err) {
        if (statusCode(err) === 404) return null;
        throw err;
      }
    },
    async create(namespace, lease, signal) {
      try {
        return await api.createNamespacedLease({ namespace, body: lease }, withSignal(signal));
      } catch (err) {
        if (statusCode(err) === 409) throw new LeaseConflict(`${namespace}/${lease.metadata?.name ?? ''} create`);
        throw err;
      }
    },
    async replace(namespace, name, lease, signal) {
      try {
        return await api.replaceNamespacedLease({ name, namespace, body: lease }, withSignal(signal));
      } catch (err) {
        if (statusCode(err) === 409) throw new LeaseConflict(`${namespace}/${name} update`);
        throw err;
      }
    },
  };
}

function isLeaseApi(api: CoordinationV1Api | LeaseApi): api is LeaseApi {
  return typeof (api as LeaseApi).read === 'function' && typeof (api as LeaseApi).replace === 'function';
}

/** Whether the operators may act now; `ALWAYS_LEADER` when leader election is off. */
export interface LeadershipGate {
  isLeader(): boolean;
  /** Resolves once this process leads (at once if it already does, or when `signal` aborts). */
  waitForLeadership(signal?: AbortSignal): Promise<void>;
}

export const ALWAYS_LEADER: LeadershipGate = {
  isLeader: () => true,
  waitForLeadership: async () => undefined,
};

export interface LeaderElectorOptions {
  namespace: string;
  leaseName: string;
  /** Unique per process (the pod name). */
  identity: string;
  /** How long a lease stays valid after its last renewal; default 15 (written to the Lease rounded up to whole seconds). */
  leaseDurationSeconds?: number;
  /** How long a leader keeps acting without a successful renewal; default 10; must be < leaseDuration. */
  renewDeadlineSeconds?: number;
  /** Time between attempts to acquire or renew; default 2; must be < renewDeadline. */
  retryPeriodSeconds?: number;
  /** Where the Lease API is; ignored when `api` is given. Default: in-cluster / $KUBECONFIG. */
  kubeConfig?: KubeConfig;
  api?: CoordinationV1Api | LeaseApi;
  clock?: Clock;
  logger?: LeaderLogger;
  onStartedLeading?: () => void;
  onStoppedLeading?: () => void;
  /** Called when the observed holder changes (empty string: nobody holds it). */
  onNewLeader?: (identity: string) => void;
}

export interface LeaderElectorEvents {
  startedLeading: [];
  stoppedLeading: [];
  newLeader: [identity: string];
}

function timeMs(v: unknown): number {
  if (v instanceof Date) return v.getTime();
  if (typeof v === 'string' && v) return Date.parse(v);
  return NaN;
}

function positive(name: string, v: number): number {
  if (!Number.isFinite(v) || v <= 0) throw new LeaderElectionConfigError(`${name} must be a positive number of seconds, got ${String(v)}`);
  return v;
}

/**
 * One candidate for the lease. `start()` begins competing; `stop()` stops and releases the lease if
 * held. Events `startedLeading` / `stoppedLeading` / `newLeader` (also as option callbacks).
 */
export class LeaderElector extends EventEmitter<LeaderElectorEvents> implements LeadershipGate {
  readonly namespace: string;
  readonly leaseName: string;
  readonly identity: string;
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
  private readonly api: LeaseApi;
  private readonly clock: Clock;
  private readonly logger?: LeaderLogger;

  private leading = false;
  /** Clock time written as `renewTime` by the last successful acquire/renew of this elector. */
  private renewedAt = Number.NEGATIVE_INFINITY;
  private observedHolder: string | undefined;
  private running = false;
  private loop?: Promise<void>;
  private abort = new AbortController();
  private termAbort?: AbortController;
  private waiters = new Set<() => void>();

  constructor(opts: LeaderElectorOptions) {
    super();
    if (!opts.namespace) throw new LeaderElectionConfigError('leader election needs a namespace');
    if (!opts.leaseName) throw new LeaderElectionConfigError('leader election needs a lease name');
    if (!opts.identity) throw new LeaderElectionConfigError('leader election needs an identity (unique per process, e.g. the pod name)');
    this.namespace = opts.namespace;
    this.leaseName = opts.leaseName;
    this.identity = opts.identity;
    const lease = positive('leaseDurationSeconds', opts.leaseDurationSeconds ?? 15);
    const renew = positive('renewDeadlineSeconds', opts.renewDeadlineSeconds ?? 10);
    const retry = positive('retryPeriodSeconds', opts.retryPeriodSeconds ?? 2);
    if (!(renew < lease)) {
      throw new LeaderElectionConfigError(
        `renewDeadlineSeconds (${renew}) must be less than leaseDurationSeconds (${lease}), so a leader stops acting before its lease can be taken`,
      );
    }
    if (!(retry < renew)) {
      throw new LeaderElectionConfigError(`retryPeriodSeconds (${retry}) must be less than renewDeadlineSeconds (${renew})`);
    }
    this.leaseDurationMs = lease * 1000;
    this.renewDeadlineMs = renew * 1000;
    this.retryPeriodMs = retry * 1000;
    this.clock = opts.clock ?? systemClock;
    this.logger = opts.logger;
    if (opts.api) {
      this.api = isLeaseApi(opts.api) ? opts.api : kubeLeaseApi(opts.api);
    } else {
      const kc = opts.kubeConfig ?? defaultKubeConfig();
      this.api = kubeLeaseApi(kc.makeApiClient(CoordinationV1Api));
    }
    if (opts.onStartedLeading) this.on('startedLeading', opts.onStartedLeading);
    if (opts.onStoppedLeading) this.on('stoppedLeading', opts.onStoppedLeading);
    if (opts.onNewLeader) this.on('newLeader', opts.onNewLeader);
  }

  /** True while this elector holds the lease and its last renewal is younger than renewDeadline. */
  isLeader(): boolean {
    return this.leading && this.running && this.clock.now() < this.renewedAt + this.renewDeadlineMs;
  }

  /** The holder last seen on the lease ('' when free, undefined before the first read). */
  get holder(): string | undefined {
    return this.observedHolder;
  }

  /** This elector as the gate the operators' runner consults. */
  gate(): LeadershipGate {
    return { isLeader: () => this.isLeader(), waitForLeadership: (signal) => this.waitForLeadership(signal) };
  }

  waitForLeadership(signal?: AbortSignal): Promise<void> {
    if (this.isLeader() || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.waiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      this.waiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /** A signal that aborts when the current leadership term ends (already aborted when not leading). */
  leadershipSignal(): AbortSignal {
    if (!this.isLeader() || !this.termAbort) return AbortSignal.abort();
    return this.termAbort.signal;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.abort = new AbortController();
    this.loop = this.run();
  }

  /** Stop competing; if this elector holds the lease, stop acting and then release it. */
  async stop(): Promise<void> {
    if (!this.running) return;
    const held = this.leading;
    this.setLeading(false);
    this.running = false;
    this.abort.abort();
    await this.loop;
    if (held) await this.release();
    for (const w of [...this.waiters]) w();
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      const started = this.clock.now();
      await this.tryAcquireOrRenew(signal);
      this.checkDeadline();
      if (signal.aborted) break;
      const elapsed = this.clock.now() - started;
      await sleepUnless(this.clock, Math.max(0, this.retryPeriodMs - elapsed), signal);
      this.checkDeadline();
    }
  }

  /** Give up leadership once the renew deadline has passed. */
  private checkDeadline(): void {
    if (this.leading && this.clock.now() >= this.renewedAt + this.renewDeadlineMs) {
      this.logger?.warn(
        { lease: `${this.namespace}/${this.leaseName}`, identity: this.identity, renewDeadlineSeconds: this.renewDeadlineMs / 1000 },
        'could not renew the leader lease within the renew deadline; stopping leading',
      );
      this.setLeading(false);
    }
  }

  private setLeading(leading: boolean): void {
    if (leading === this.leading) return;
    this.leading = leading;
    if (leading) {
      this.termAbort = new AbortController();
      this.logger?.info({ lease: `${this.namespace}/${this.leaseName}`, identity: this.identity }, 'became leader');
      this.emit('startedLeading');
      for (const w of [...this.waiters]) w();
    } else {
      this.termAbort?.abort();
      this.termAbort = undefined;
      this.emit('stoppedLeading');
    }
  }

  private observe(holder: string): void {
    if (holder !== this.observedHolder) {
      this.observedHolder = holder;
      this.emit('newLeader', holder);
    }
  }

  /**
   * One round: read the lease; create it, take it (free or expired) or renew it (ours). Every
   * request of the round is abandoned at the renew deadline when leading (so the loop wakes up in
   * time to stop acting), or after renewDeadline when competing.
   */
  private async tryAcquireOrRenew(outer: AbortSignal): Promise<boolean> {
    const limit = this.leading ? this.renewedAt + this.renewDeadlineMs - this.clock.now() : this.renewDeadlineMs;
    if (limit <= 0) return false;
    const ctl = new AbortController();
    const onOuter = () => ctl.abort();
    outer.addEventListener('abort', onOuter, { once: true });
    const timer = new AbortController();
    const timeout = this.clock.sleep(limit, timer.signal).then(() => {
      if (!timer.signal.aborted) ctl.abort();
    });
    try {
      return await raceAbort(this.attempt(ctl.signal), ctl.signal);
    } catch (err) {
      if (!ctl.signal.aborted && !(err instanceof LeaseConflict)) {
        this.logger?.warn(
          { lease: `${this.namespace}/${this.leaseName}`, identity: this.identity, err: messageOf(err) },
          'leader lease request failed',
        );
      } else if (err instanceof LeaseConflict) {
        this.logger?.debug?.({ lease: `${this.namespace}/${this.leaseName}`, identity: this.identity }, err.message);
      }
      return false;
    } finally {
      timer.abort();
      await timeout;
      outer.removeEventListener('abort', onOuter);
      ctl.abort();
    }
  }

  private async attempt(signal: AbortSignal): Promise<boolean> {
    const ns = this.namespace;
    const name = this.leaseName;
    const current = await this.api.read(ns, name, signal);
    if (signal.aborted) return false;
    const now = this.clock.now();
    if (!current) {
      const created = await this.api.create(ns, this.leaseObject(undefined, now), signal);
      return this.succeeded(created, now, signal);
    }
    const spec = current.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    this.observe(holder);
    if (holder && holder !== this.identity) {
      const durMs = (spec.leaseDurationSeconds ?? this.leaseDurationMs / 1000) * 1000;
      const renewed = timeMs(spec.renewTime ?? spec.acquireTime);
      const expired = !Number.isFinite(renewed) || renewed + durMs < now;
      if (!expired) {
        if (this.leading) this.setLeading(false);
        return false;
      }
    }
    if (holder !== this.identity && this.leading) this.setLeading(false);
    if (signal.aborted) return false;
    const updated = await this.api.replace(ns, name, this.leaseObject(current, now), signal);
    return this.succeeded(updated, now, signal);
  }

  private succeeded(lease: V1Lease, writtenAt: number, signal: AbortSignal): boolean {
    if (signal.aborted) return false;
    this.renewedAt = writtenAt;
    this.observe(lease.spec?.holderIdentity ?? this.identity);
    if (this.clock.now() < writtenAt + this.renewDeadlineMs) this.setLeading(true);
    return true;
  }

  /** The lease as this elector writes it when taking or renewing it at clock time `now`. */
  private leaseObject(current: V1Lease | undefined, now: number): V1Lease {
    const spec = current?.spec ?? {};
    const ours = spec.holderIdentity === this.identity;
    const at = new V1MicroTime(now);
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: current
        ? { ...current.metadata, name: this.leaseName, namespace: this.namespace }
        : { name: this.leaseName, namespace: this.namespace },
      spec: {
        holderIdentity: this.identity,
        leaseDurationSeconds: Math.ceil(this.leaseDurationMs / 1000),
        acquireTime: ours && Number.isFinite(timeMs(spec.acquireTime)) ? new V1MicroTime(timeMs(spec.acquireTime)) : at,
        renewTime: at,
        leaseTransitions: current ? (spec.leaseTransitions ?? 0) + (ours ? 0 : 1) : 0,
      },
    };
  }

  /** Clear the holder so a standby can take the lease at once (client-go's ReleaseOnCancel). */
  private async release(): Promise<void> {
    const ctl = new AbortController();
    const timer = new AbortController();
    // Bounded well below the time a pod is given to stop: a release that cannot reach the API is
    // given up (the standby takes the lease when it expires).
    const timeout = this.clock.sleep(Math.min(this.renewDeadlineMs, RELEASE_TIMEOUT_MS), timer.signal).then(() => ctl.abort());
    try {
      await raceAbort(
        (async () => {
          const current = await this.api.read(this.namespace, this.leaseName, ctl.signal);
          if (!current || current.spec?.holderIdentity !== this.identity) return;
          const now = new V1MicroTime(this.clock.now());
          await this.api.replace(
            this.namespace,
            this.leaseName,
            {
              ...current,
              spec: { ...current.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: now, acquireTime: now },
            },
            ctl.signal,
          );
          this.logger?.info({ lease: `${this.namespace}/${this.leaseName}`, identity: this.identity }, 'released the leader lease');
        })(),
        ctl.signal,
      );
    } catch (err) {
      this.logger?.warn(
        { lease: `${this.namespace}/${this.leaseName}`, identity: this.identity, err: messageOf(err) },
        'could not release the leader lease; the standby takes over when it expires',
      );
    } finally {
      timer.abort();
      await timeout;
    }
  }
}

/** The longest a stopping leader tries to release its lease. */
const RELEASE_TIMEOUT_MS = 3_000;

/** Sleep on the clock until `ms` passed or `outer` aborts, leaving no listener behind on `outer`. */
async function sleepUnless(clock: Clock, ms: number, outer: AbortSignal): Promise<void> {
  if (outer.aborted) return;
  const ctl = new AbortController();
  const onAbort = () => ctl.abort();
  outer.addEventListener('abort', onAbort, { once: true });
  try {
    await clock.sleep(ms, ctl.signal);
  } finally {
    outer.removeEventListener('abort', onAbort);
  }
}

/** Resolve with `p`, or reject as soon as `signal` aborts (the request itself may still be in flight). */
function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    p.catch(() => undefined);
    return Promise.reject(new Error('aborted'));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new Error('aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** In-cluster service account when running in a pod, else $KUBECONFIG / ~/.kube/config. */
function defaultKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  return kc;
}

