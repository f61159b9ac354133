/**
 * The status view of a component: what the status operator decides from, about a tenth of the
 * record. A listing asked for with `Accept: application/vnd.bos.status-view+json` (an extension of
 * this project's API; upstream BOS answers full records, which the operators use just the same)
 * shows each component without its boot artifacts (three quarters of a record) and without its
 * staged state, with two facts the API worked out from the artifacts instead:
 * `status_facts.boot_off` (no desired kernel) and `status_facts.artifacts_match` (desired and actual
 * kernel, initrd and kernel parameters the same, `spire_join_token` aside). Every other field is as
 * in the full record, so a view decides exactly what its full record decides.
 *
 * The boot-artifact rules live here because the API computes the facts with them and the operators
 * use them on full records.
 */
import type { BootArtifacts, Component } from './types.js';

/** The media type a client asks for (before `application/json`) to get status views. */
export const STATUS_VIEW_MEDIA_TYPE = 'application/vnd.bos.status-view+json';

function isEmptyObject(o: unknown): boolean {
  return !o || typeof o !== 'object' || Object.keys(o).length === 0;
}

/** Desired boot artifacts missing/empty, or no kernel (a view: its `boot_off` fact). */
export function desiredBootStateIsOff(c: Component): boolean {
  if (c.status_facts) return c.status_facts.boot_off;
  const ba = c.desired_state?.boot_artifacts;
  if (isEmptyObject(ba)) return true;
  return !ba!.kernel;
}

/**
 * Kernel parameters as compared between desired and actual state: every `spire_join_token=...` token
 * removed (the join token differs on every boot); empty and missing are equal (null).
 */
export function sanitizeKernelParameters(params: string | undefined | null): string | null {
  if (!params) return null;
  const stripped = params.replace(/(^|\s+)spire_join_token=\S*/g, '');
  const out = stripped === params ? params : stripped.trim();
  return out === '' ? null : out;
}

/**
 * Desired and actual boot artifacts name the same kernel, initrd and (sanitized) kernel parameters
 * (a view: its `artifacts_match` fact).
 */
export function bootArtifactStatesMatch(c: Component): boolean {
  if (c.status_facts) return c.status_facts.artifacts_match;
  const desired: BootArtifacts | undefined = c.desired_state?.boot_artifacts;
  const actual: BootArtifacts | undefined = c.actual_state?.boot_artifacts;
  if (desired === undefined || desired === null) return actual === undefined || actual === null;
  if (actual === undefined || actual === null) return false;
  if (desired.kernel !== actual.kernel || desired.initrd !== actual.initrd) return false;
  // The same text sanitizes to the same text: only differing parameters need the regular expression
  // (a booted node's usually are the same; the status pass compares 100,000 of them).
  if (desired.kernel_parameters === actual.kernel_parameters) return true;
  return sanitizeKernelParameters(desired.kernel_parameters) === sanitizeKernelParameters(actual.kernel_parameters);
}

/** A state object without its boot artifacts (the same object when it has none). */
function withoutArtifacts<T extends object>(state: T | undefined): T | undefined {
  if (!state || typeof state !== 'object' || !('boot_artifacts' in state)) return state;
  const { boot_artifacts: _left, ...rest } = state as T & { boot_artifacts?: unknown };
  return rest as T;
}

/**
 * The status view of a component (a view is given back as it is): the record without its boot
 * artifacts and staged state, with the facts the status decision needs from them.
 */
export function statusView(c: Component): Component {
  if (c.status_facts) return c;
  const v: Component = { ...c };
  delete v.staged_state;
  if ('desired_state' in c) v.desired_state = withoutArtifacts(c.desired_state);
  if ('actual_state' in c) v.actual_state = withoutArtifacts(c.actual_state);
  v.status_facts = { boot_off: desiredBootStateIsOff(c), artifacts_match: bootArtifactStatesMatch(c) };
  return v;
}
