/**
 * The status view of a component: what the status operator decides from, about a seventh of the
 * record. A listing asked for with `Accept: application/vnd.bos.status-view+json` (an extension of
 * this project's API; upstream BOS answers full records, which the operators use just the same)
 * shows of each component its id, enabled, session, status, last_action, error and desired
 * configuration as the record has them, and instead of its boot artifacts (three quarters of a
 * record) two facts the API worked out from them: `status_facts.boot_off` (no desired kernel) and
 * `status_facts.artifacts_match` (desired and actual kernel, initrd and kernel parameters the same,
 * `spire_join_token` aside). A view therefore decides exactly what its full record decides.
 *
 * The boot-artifact rules live here because the API computes the facts with them and the operators
 * use them on full records.
 */
import type { BootArtifacts, Component } from './types.js';

/** The media type a client asks for (before `application/json`) to get status views. */
export const STATUS_VIEW_MEDIA_TYPE = 'application/vnd.bos.status-view+json';

/**
 * The media type of desired views: each record as a full listing shows it, without its actual and
 * staged states (half of a booted record), for an operator that acts on desired states (power-on).
 */
export const DESIRED_VIEW_MEDIA_TYPE = 'application/vnd.bos.desired-view+json';

/**
 * What a component listing is asked to show of each record instead of the whole of it (docs/api.md,
 * "Extensions beyond upstream BOS v2"): its status view, or its desired view.
 */
export type ListingView = 'status' | 'desired';

/** The fields a desired view leaves out of a record. */
export const DESIRED_VIEW_LEAVES_OUT: ReadonlySet<string> = new Set(['actual_state', 'staged_state']);

/** What a status view tells of a component's boot artifacts instead of showing them. */
interface StatusFacts {
  /** No desired kernel: the node is to be off. */
  boot_off: boolean;
  /** Desired and actual boot artifacts the same (`spire_join_token` aside). */
  artifacts_match: boolean;
}

/** A component as a status view shows it; never stored. */
export type StatusView = Component & { status_facts: StatusFacts };

/** A component as a listing gives it to an operator: a full record, or a status view where the API makes them. */
export type ListedComponent = Component & { status_facts?: StatusFacts };

/** Missing, not an object, or an object without keys. */
export function isEmptyObject(o: unknown): boolean {
  return !o || typeof o !== 'object' || Object.keys(o).length === 0;
}

/** Desired boot artifacts missing/empty, or no kernel (a view: its `boot_off` fact). */
export function desiredBootStateIsOff(c: ListedComponent): boolean {
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
export function bootArtifactStatesMatch(c: ListedComponent): boolean {
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

/** The fields a view shows as the record has them (besides `desired_state`'s configuration and the facts). */
const VIEW_FIELDS = new Set(['id', 'enabled', 'session', 'status', 'last_action', 'error']);

/** A desired state as a view shows it: its configuration alone (an empty object when it has none). */
function configurationOnly(state: unknown): unknown {
  if (!state || typeof state !== 'object') return state;
  return 'configuration' in state ? { configuration: (state as { configuration?: unknown }).configuration } : {};
}

/**
 * The status view of a component (a view is given back as it is): what the status decision reads
 * and what tells a changed component (id, enabled, session, status, last_action, error, the desired
 * configuration), with the facts it needs from the boot artifacts.
 */
export function statusView(c: ListedComponent): StatusView {
  return c.status_facts ? (c as StatusView) : buildView(c, undefined);
}

/**
 * The status view of a stored record as the API shows it: `status` (the record's with the computed
 * status attached) in the record's place for it, or last when the record has none.
 */
export function statusViewShowing(c: Component, status: NonNullable<Component['status']>): StatusView {
  return buildView(c, status);
}

/** Built field by field, in the record's order (no copy and `delete`, which would leave the object slow to serialise). */
function buildView(c: Component, status: Component['status'] | undefined): StatusView {
  const r = c as unknown as Record<string, unknown>;
  const v: Record<string, unknown> = {};
  let statusShown = status === undefined;
  for (const key of Object.keys(r)) {
    if (key === 'desired_state') v.desired_state = configurationOnly(r.desired_state);
    else if (!VIEW_FIELDS.has(key)) continue;
    else if (key === 'status' && status !== undefined) {
      v.status = status;
      statusShown = true;
    } else v[key] = r[key];
  }
  if (!statusShown) v.status = status;
  v.status_facts = { boot_off: desiredBootStateIsOff(c), artifacts_match: bootArtifactStatesMatch(c) };
  return v as unknown as StatusView;
}
