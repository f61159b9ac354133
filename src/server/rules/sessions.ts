/**
 * Session rules (docs/api.md, "Sessions"): creation checks and record, list/delete filters, the extended status.
 */
import { randomUUID } from 'node:crypto';
import { formatTimestamp, parseTimestamp } from '../../common/clock.js';
import { formatTimedelta, parseDuration } from '../../common/duration.js';
import type { Options } from '../../common/options.js';
import { computeStatus } from '../../common/status.js';
import { isRolling, nodeRolloutState, rolloutEta, rolloutStep, type RolloutCounts } from '../../common/rollout.js';
import type { Component, ExtendedStatus, RolloutSettings, Session } from '../../common/types.js';

export interface SessionCreateBody extends Pick<RolloutSettings, 'max_in_flight' | 'max_failed' | 'canary'> {
  name?: string;
  operation: string;
  template_name: string;
  limit?: string | null;
  stage?: boolean;
  include_disabled?: boolean;
}

/** A rolling session cannot also be staged: its nodes are staged for the rollout itself. */
export function rolloutError(body: SessionCreateBody): string | undefined {
  if (body.stage === true && isRolling({ ...body, stage: false })) {
    return 'a staged session cannot roll out: leave out stage, or max_in_flight, max_failed and canary (docs/rollouts.md)';
  }
  return undefined;
}

/**
 * The limit checks of session creation (docs/api.md, "Creating a session", step 3): returns the error
 * text, or undefined. `warn` receives the NID warning when NIDs are tolerated.
 */
export function limitError(
  limit: string | null | undefined,
  options: Pick<Options, 'session_limit_required' | 'reject_nids'>,
  warn?: (msg: string) => void,
): string | undefined {
  if (!limit) {
    return options.session_limit_required ? 'session_limit_required option is set, but this session has no limit specified' : undefined;
  }
  if (limit.split(',').some((item) => /^[&!]*nid/.test(item))) {
    if (options.reject_nids) return `reject_nids: session limit appears to contain NIDs: ${limit}`;
    warn?.(`Session limit appears to contain NIDs: ${limit}`);
  }
  return undefined;
}

/** The record a new session starts as (docs/data-model.md, "Session"), keys in upstream's order. */
export function newSession(body: SessionCreateBody, tenant: string, nowMs: number): Session {
  return {
    name: body.name ?? randomUUID(),
    tenant: tenant || null,
    operation: body.operation,
    template_name: body.template_name,
    limit: body.limit || '',
    stage: body.stage ?? false,
    components: '',
    include_disabled: body.include_disabled ?? false,
    status: { start_time: formatTimestamp(nowMs), end_time: null, status: 'pending', error: null },
    // Rollout fields only when given: a session without them is upstream's record, byte for byte.
    ...(body.max_in_flight !== undefined ? { max_in_flight: body.max_in_flight } : {}),
    ...(body.max_failed !== undefined ? { max_failed: body.max_failed } : {}),
    ...(body.canary !== undefined ? { canary: body.canary } : {}),
  };
}

export interface SessionFilter {
  /** Header tenant or '' for none. */
  tenant: string;
  status?: string;
  min_age?: string;
  max_age?: string;
}

/**
 * The selection of GET/DELETE /v2/sessions (docs/api.md, "Listing and deleting sessions"): undefined
 * means "every session". Throws an Error naming the problem when an age cannot be parsed.
 */
export function sessionFilter(f: SessionFilter, nowMs: number): ((s: Session) => boolean) | undefined {
  if (!f.tenant && !f.status && !f.min_age && !f.max_age) return undefined;
  const minAge = f.min_age ? parseDuration(f.min_age) * 1000 : undefined;
  const maxAge = f.max_age ? parseDuration(f.max_age) * 1000 : undefined;
  return (s) => {
    if (f.tenant && s.tenant !== f.tenant) return false;
    if (f.status && s.status?.status !== f.status) return false;
    if (minAge !== undefined || maxAge !== undefined) {
      const start = parseTimestamp(s.status?.start_time ?? undefined);
      if (Number.isNaN(start)) return false;
      if (minAge !== undefined && start > nowMs - minAge) return false;
      if (maxAge !== undefined && start < nowMs - maxAge) return false;
    }
    return true;
  };
}

/** Python's round(x, 2) (ties to even on the exact binary value). */
export function round2(x: number): number {
  const scaled = x * 100;
  const floor = Math.floor(scaled);
  if (scaled - floor === 0.5 && (floor + 0.5) / 100 === x) return (floor % 2 === 0 ? floor : floor + 1) / 100;
  return Math.round(scaled) / 100;
}

const ERROR_LIST_MAX = 10;

/**
 * The extended status of a session (docs/api.md, "Extended status"). `managed` are the components whose
 * `session` is the session (M), `staged` those whose staged_state.session is (S), both already
 * restricted to the caller's tenant and sorted by id.
 */
export function extendedStatus(session: Session, managed: readonly Component[], stagedCount: number, nowMs: number): ExtendedStatus {
  const n = managed.length + stagedCount;
  const pct = (count: number) => (n === 0 ? 0 : round2((count * 100) / n));
  let successful = 0;
  let failed = 0;
  const phases: Record<string, number> = { powering_on: 0, powering_off: 0, configuring: 0 };
  const errors = new Map<string, string[]>();
  for (const c of managed) {
    const st = computeStatus(c);
    if (st === 'stable') successful++;
    else if (st === 'failed') failed++;
    if (c.enabled === true && c.status?.status_override !== 'on_hold') {
      const phase = c.status?.phase;
      if (phase && phase in phases) phases[phase]!++;
    }
    if (c.error) {
      const list = errors.get(c.error);
      if (list) list.push(c.id);
      else errors.set(c.error, [c.id]);
    }
  }
  const errorSummary: ExtendedStatus['error_summary'] = {};
  for (const [text, ids] of errors) {
    errorSummary[text] = {
      count: ids.length,
      list: ids.slice(0, ERROR_LIST_MAX).join(',') + (ids.length > ERROR_LIST_MAX ? '...' : ''),
    };
  }
  const start = session.status?.start_time ?? null;
  const end = session.status?.end_time ?? null;
  const startMs = parseTimestamp(start);
  const endMs = end ? parseTimestamp(end) : nowMs;
  const duration = Number.isNaN(startMs) || Number.isNaN(endMs) ? formatTimedelta(0) : formatTimedelta((endMs - startMs) / 1000);
  const out: ExtendedStatus = {
    managed_components_count: n,
    phases: {
      percent_complete: pct(successful + failed),
      percent_powering_on: pct(phases.powering_on!),
      percent_powering_off: pct(phases.powering_off!),
      percent_configuring: pct(phases.configuring!),
    },
    percent_staged: pct(stagedCount),
    percent_successful: pct(successful),
    percent_failed: pct(failed),
    error_summary: errorSummary,
    timing: { start_time: start, end_time: end, duration },
  };
  if (session.status?.status) out.status = session.status.status;
  if (isRolling(session)) out.rollout = rolloutStatus(session, managed, stagedCount, Number.isNaN(startMs) || Number.isNaN(endMs) ? 0 : (endMs - startMs) / 1000);
  return out;
}

/** The rollout part of a rolling session's extended status (docs/rollouts.md, "Following a rollout"). */
function rolloutStatus(session: Session, managed: readonly Component[], waiting: number, elapsedSeconds: number): NonNullable<ExtendedStatus['rollout']> {
  const counts: RolloutCounts = { waiting, in_flight: 0, done: 0, failed: 0 };
  for (const c of managed) counts[nodeRolloutState(c)]++;
  const step = rolloutStep(session, counts);
  return {
    ...counts,
    max_in_flight: session.max_in_flight ?? null,
    max_failed: session.max_failed ?? null,
    canary: session.canary ?? 0,
    failures_forgiven: session.failures_forgiven ?? 0,
    stopped: counts.waiting > 0 ? step.stopped : null,
    eta_seconds: rolloutEta(counts, elapsedSeconds),
  };
}

/**
 * Merge a PATCH body into a session (docs/api.md, "Reading, changing and deleting a session"):
 * components replaced, status merged key by key.
 */
export function mergeSession(stored: Session, patch: { components?: string; status?: Record<string, unknown> } & RolloutSettings): Session {
  const out = structuredClone(stored);
  for (const [k, v] of Object.entries(patch)) {
    if (k === 'status' && v && typeof v === 'object') out.status = { ...(out.status ?? {}), ...(v as object) };
    else (out as unknown as Record<string, unknown>)[k] = v;
  }
  return out;
}
