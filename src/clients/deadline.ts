/**
 * Deadlines of the calls an API request makes to other services (IMS, S3, the tenant service): the
 * API runs each request's handler inside `withCallDeadline()`, and every client call made meanwhile,
 * however deep, is bounded by it (docs/operations.md):
 *
 *   - the request as a whole ends its calls at its deadline (30 s by default);
 *   - no retry starts later than a few seconds after the request began, so a service that refuses
 *     connections is answered in seconds, not after minutes of back-off;
 *   - a read waits at most until the deadline less a margin for the answer;
 *   - a service that failed once in the request (no connection, no answer, 5xx) is not asked again
 *     by it: later calls fail at once with the same error.
 *
 * Calls made outside a request (the operators' passes) keep their own retry policy; they end when the
 * process stops (the clients' stop signal).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
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

const scope = new AsyncLocalStorage<CallDeadline>();

/** Run `fn` with its downstream calls bounded as one request's. */
export function withCallDeadline<T>(settings: CallDeadlineSettings, fn: () => Promise<T>): Promise<T> {
  const deadlineMs = (settings.deadlineSeconds ?? DEFAULT_DEADLINE_SECONDS) * 1000;
  const windowMs = Math.min((settings.retryWindowSeconds ?? DEFAULT_RETRY_WINDOW_SECONDS) * 1000, Math.max(0, deadlineMs - 1000));
  const now = Date.now();
  return scope.run(new RequestDeadline(now + deadlineMs, now + windowMs), fn);
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

/** The deadline of the API request this code runs for, if any. */
export function currentCallDeadline(): CallDeadline | undefined {
  return scope.getStore();
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
