import { merged } from './copy.js';
import type { Component, ComponentStatus } from './types.js';

/**
 * The one status rule (docs/data-model.md, "The status rule"): phase + last_action + override → status.status.
 * Pure: reads the record, returns the status string.
 */
export function computeStatus(c: Pick<Component, 'status' | 'last_action'>): string {
  const st = c.status;
  if (st && typeof st.status_override === 'string' && st.status_override !== '') return st.status_override;
  const phase = st?.phase;
  const action = c.last_action?.action;
  switch (phase) {
    case 'powering_on':
      return action === 'powering_on' && c.last_action?.failed !== true ? 'power_on_called' : 'power_on_pending';
    case 'powering_off':
      if (action === 'powering_off_gracefully') return 'power_off_gracefully_called';
      if (action === 'powering_off_forcefully') return 'power_off_forcefully_called';
      return 'power_off_pending';
    case 'configuring':
      return 'configuring';
    default:
      return 'stable';
  }
}

/**
 * Attach the computed status to a record for output, in place: a record with no `status` object gets
 * `{phase: "", status_override: ""}` first; otherwise only `status.status` is (over)written.
 */
export function attachStatus<T extends Pick<Component, 'status' | 'last_action'>>(c: T): T {
  const status = computeStatus(c);
  if (!c.status || typeof c.status !== 'object') {
    c.status = { phase: '', status_override: '' } as ComponentStatus;
  }
  c.status!.status = status;
  return c;
}

/**
 * The `status` object a record is shown with (what attachStatus() leaves on it), without changing
 * the record: its own status with the computed `status` attached, or `{phase: "", status_override:
 * ""}` with it when the record has no status object.
 */
export function shownStatus(c: Pick<Component, 'status' | 'last_action'>): ComponentStatus {
  const st = c.status && typeof c.status === 'object' ? c.status : undefined;
  const status = computeStatus(st ? c : { status: undefined, last_action: c.last_action });
  if (!st) return { phase: '', status_override: '', status } as ComponentStatus;
  const shown = merged<ComponentStatus>(st);
  shown.status = status;
  return shown;
}
