/**
 * The rules of rolling sessions (docs/rollouts.md): which node of a session is waiting, in flight,
 * done or failed, how many more nodes a pass may start, and when the rollout stops. Pure: the rollout
 * operator and the API's extended status both read them.
 */
import type { Component, RolloutSettings } from './types.js';



/** Whether a session rolls out: one of max_in_flight, max_failed or canary is set (and it is not staged). */
export function isRolling(s: RolloutSettings & { stage?: boolean | null }): boolean {
  return s.stage !== true && (s.max_in_flight !== undefined || s.max_failed !== undefined || (s.canary ?? 0) > 0);
}

export type NodeRolloutState = 'in_flight' | 'done' | 'failed';

/**
 * Where a node the session manages stands: failed (status failed), in flight (enabled: BOS is still
 * acting on it; a node just started is on hold until the status operator first looks at it), failed
 * again when on hold and disabled (BOS gave up on it: a service knew nothing of it), else done.
 */
export function nodeRolloutState(c: Pick<Component, 'enabled' | 'status'>): NodeRolloutState {
  const override = c.status?.status_override;
  if (override === 'failed') return 'failed';
  if (c.enabled === true) return 'in_flight';
  return override === 'on_hold' ? 'failed' : 'done';
}

export interface RolloutCounts {
  /** Staged for the session, not started yet. */
  waiting: number;
  in_flight: number;
  done: number;
  failed: number;
}

export interface RolloutStep {
  /** How many waiting nodes to start now. */
  start: number;
  /** Why no further node starts until a resume, when the rollout has stopped. */
  stopped: string | null;
}

/**
 * The next step of a rollout (docs/rollouts.md, "The rules"). While fewer than `canary` nodes are
 * done, at most `canary` nodes are in flight or done and any failure stops the rollout; after that,
 * more than `max_failed` failures stop it, and at most `max_in_flight` nodes are in flight.
 */
export function rolloutStep(settings: RolloutSettings, counts: RolloutCounts): RolloutStep {
  const failed = Math.max(0, counts.failed - (settings.failures_forgiven ?? 0));
  const canary = settings.canary ?? 0;
  let room = settings.max_in_flight === undefined ? Infinity : Math.max(0, settings.max_in_flight - counts.in_flight);
  if (canary > 0 && counts.done < canary) {
    if (failed > 0) {
      return { start: 0, stopped: `canary failed: ${failed} of the first ${canary} node(s) failed; nothing else was started (resume or delete the session)` };
    }
    room = Math.min(room, Math.max(0, canary - counts.done - counts.in_flight));
  } else if (settings.max_failed !== undefined && failed > settings.max_failed) {
    return {
      start: 0,
      stopped: `failure budget exceeded: ${failed} node(s) failed, max_failed is ${settings.max_failed}; ${counts.waiting} node(s) not started (resume or delete the session)`,
    };
  }
  return { start: Math.min(counts.waiting, room), stopped: null };
}

/** Whether an error text is one a rollout writes when it stops (so a resumed rollout clears it). */
export function isRolloutStop(error: string | null | undefined): boolean {
  return typeof error === 'string' && (error.startsWith('canary failed: ') || error.startsWith('failure budget exceeded: '));
}

/**
 * Seconds until every node is through, at the pace so far: nodes finished (done or failed) per second
 * since the session started. Null before the first node finishes.
 */
export function rolloutEta(counts: RolloutCounts, elapsedSeconds: number): number | null {
  const finished = counts.done + counts.failed;
  if (finished === 0 || !(elapsedSeconds > 0)) return null;
  return Math.round(((counts.waiting + counts.in_flight) * elapsedSeconds) / finished);
}
