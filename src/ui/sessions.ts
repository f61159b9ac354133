/**
 * Sessions as the web view lists them: running first, their progress, pace and ETA, worked out from
 * the extended status the API answers (GET /v2/sessions/{id}/status) with the same rules as
 * `bos sessions status --watch` and the rollout status. Pure, and free of Node and DOM APIs.
 */
import { rolloutEta } from '../common/rollout.js';
import type { ExtendedStatus, Session } from '../common/types.js';

const ORDER: Record<string, number> = { running: 0, pending: 1, complete: 2 };

/** Running sessions first (newest start first), then pending, then complete (newest end first); then by name. */
export function sortSessions<S extends Pick<Session, 'name' | 'status'>>(sessions: readonly S[]): S[] {
  const rank = (s: S) => ORDER[s.status?.status ?? 'pending'] ?? 1;
  const when = (s: S) => (s.status?.status === 'complete' ? s.status?.end_time : s.status?.start_time) ?? '';
  return [...sessions].sort((a, b) => rank(a) - rank(b) || (when(a) < when(b) ? 1 : when(a) > when(b) ? -1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * Seconds of a time span as the API writes one (`H:MM:SS`, `H:MM:SS.ffffff`, `N day(s), H:MM:SS`);
 * undefined when it is not one.
 */
export function timespanSeconds(text: string | null | undefined): number | undefined {
  const m = /^(?:(-?\d+) days?, )?(\d+):(\d{2}):(\d{2}(?:\.\d+)?)$/.exec((text ?? '').trim());
  if (!m) return undefined;
  return Number(m[1] ?? 0) * 86_400 + Number(m[2]) * 3600 + Number(m[3]) * 60 + Number(m[4]);
}

export interface SessionProgress {
  /** Nodes the session manages (its nodes and those staged for it). */
  total: number;
  done: number;
  failed: number;
  inProgress: number;
  /** Staged for a staged session, or waiting to start in a rollout. */
  waiting: number;
  /** Seconds since the session started, as the API counts them (no clock skew with the browser). */
  elapsed: number | undefined;
  /** Nodes finished (done or failed) per minute so far; undefined before the first. */
  perMinute: number | undefined;
  /** Seconds until every node is through at that pace; undefined when not known or complete. */
  eta: number | undefined;
}

/** The progress of a session from its extended status. */
export function sessionProgress(ext: ExtendedStatus): SessionProgress {
  const total = ext.managed_components_count ?? 0;
  const count = (pct: number | undefined) => Math.round(((pct ?? 0) * total) / 100);
  const done = ext.rollout?.done ?? count(ext.percent_successful);
  const failed = ext.rollout?.failed ?? count(ext.percent_failed);
  const waiting = ext.rollout?.waiting ?? count(ext.percent_staged);
  const inProgress = ext.rollout?.in_flight ?? Math.max(0, total - waiting - done - failed);
  const elapsed = ext.timing?.start_time ? timespanSeconds(ext.timing.duration) : undefined;
  const finished = done + failed;
  const perMinute = elapsed && elapsed > 0 && finished > 0 ? (finished * 60) / elapsed : undefined;
  let eta: number | undefined;
  if (ext.status !== 'complete') {
    const rolling = ext.rollout ? (ext.rollout.stopped ? null : ext.rollout.eta_seconds) : undefined;
    eta = rolling === undefined ? (rolloutEta({ waiting: 0, in_flight: inProgress, done, failed }, elapsed ?? 0) ?? undefined) : (rolling ?? undefined);
  }
  return { total, done, failed, inProgress, waiting, elapsed, perMinute, eta };
}

/** `boot of template compute, limit blue` */
export function sessionAbout(s: Pick<Session, 'operation' | 'template_name' | 'limit' | 'stage'>): string {
  return `${s.operation}${s.stage ? ' (staged)' : ''} of template ${s.template_name}${s.limit ? `, limit ${s.limit}` : ''}`;
}
