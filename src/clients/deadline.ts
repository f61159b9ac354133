/**
 * Deadlines of the calls an API request makes to other services (IMS, S3, HSM, the tenant service):
 * the API gives each request a `CallDeadline` (`callDeadline()`), and the clients it calls for the
 * request are views bound to it (`within()`, `bounded()`), so every call they make, however deep,
 * is bounded by it (docs/operations.md):
 *
 *   - the request as a whole ends its calls at its deadline (30 s by default);
 *   - no retry starts later than a few seconds after the request began, so a service that refuses
 *     connections is answered in seconds, not after minutes of back-off;
 *   - a read waits at most until the deadline less a margin for the answer;
 *   - a service that failed once in the request (no connection, no answer, 5xx) is not asked again
 *     by it: later calls fail at once with the same error.
 *
 * The deadline is handed over explicitly rather than found through AsyncLocalStorage: on Node 20 that
 * puts a hook on every promise of the process, which every state report pays for (bench/RESULTS.md).
 * Calls made outside a request (the operators' passes) keep their own retry policy; they end when
 * the process stops (the clients' stop signal).
 */
import { setMaxListeners } from 'node:events';
import type { ServiceName } from './types.js';

export interface CallDeadline {
  /** Aborted at the request's deadline. */
  readonly signal: AbortSignal;
  /** When the request's calls must end (ms since the epoch). */
  readonly deadlineAt: number;
  /** No retry starts after this (ms since the epoch). */
  readonly retryUntil: number;
  /** Services that failed in this request, with their error. */
  readonly failed: Map<ServiceName, Error>;
}

export interface CallDeadlineSettings {
  /** Seconds the request's calls may take in all (default 30). */
  deadlineSeconds?: number;
  /** Seconds after the start in which retries may begin (default 4, at most the deadline less 1). */
  retryWindowSeconds?: number;
}

export const DEFAULT_DEADLINE_SECONDS = 30;
const DEFAULT_RETRY_WINDOW_SECONDS = 4;

/** The deadline of the calls of a request that begins `now` (ms since the epoch). */
export function callDeadline(settings: CallDeadlineSettings = {}, now = Date.now()): CallDeadline {
  const deadlineMs = (settings.deadlineSeconds ?? DEFAULT_DEADLINE_SECONDS) * 1000;
  const windowMs = Math.min((settings.retryWindowSeconds ?? DEFAULT_RETRY_WINDOW_SECONDS) * 1000, Math.max(0, deadlineMs - 1000));
  return new RequestDeadline(now + deadlineMs, now + windowMs);
}

/** A client that can give a view of itself bounded by a request's deadline. */
export interface Boundable<T> {
  /** This client with every call bounded by `deadline`; it shares the connections. */
  within?(deadline: CallDeadline): T;
}

/** `client` bounded by `deadline` when it can be (a client of src/clients); as it is otherwise (a test's fake). */
export function bounded<T extends Boundable<T>>(client: T, deadline: CallDeadline): T;
export function bounded<T extends Boundable<T>>(client: T | undefined, deadline: CallDeadline): T | undefined;
export function bounded<T extends Boundable<T>>(client: T | undefined, deadline: CallDeadline): T | undefined {
  return client?.within ? client.within(deadline) : client;
}

/**
 * One request's deadline. Its signal is made when a call first asks for it, timed to the same
 * deadline: most requests (a node's state report) call no other service, and a timer per request
 * is a cost at 100,000 of them.
 */
class RequestDeadline implements CallDeadline {
  readonly failed = new Map<ServiceName, Error>();
  private timer: AbortSignal | undefined;
  constructor(
    readonly deadlineAt: number,
    readonly retryUntil: number,
  ) {}

  get signal(): AbortSignal {
    return (this.timer ??= AbortSignal.timeout(Math.max(0, this.deadlineAt - Date.now())));
  }
}

/** A signal aborted when any of `signals` is (undefined ones are left out). */
export function anySignal(...signals: (AbortSignal | undefined)[]): AbortSignal | undefined {
  const present = signals.filter((s): s is AbortSignal => s !== undefined);
  if (present.length <= 1) return present[0];
  return AbortSignal.any(present);
}

/**
 * The stop of a process's clients: aborting it ends every call in flight and every retry wait. Every
 * call listens to it while it runs, so the listener count is not capped (Node warns above 10).
 */
export function stopController(): AbortController {
  const stop = new AbortController();
  setMaxListeners(0, stop.signal);
  return stop;
}
