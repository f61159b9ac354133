/**
 * The operators' rules as pure functions of records, options and time: batching, the retry limit, the
 * component predicates the filters use, the status decision tree, the limit syntax, architecture
 * matching, kernel parameter assembly and IMS image ids. No I/O here.
 */
import type { ManifestSummary } from '../clients/s3.js';
import { emptyActualState } from '../common/constants.js';
import { parseTimestamp } from '../common/clock.js';
import { computeStatus } from '../common/status.js';
import { merged } from '../common/copy.js';
import { bootArtifactStatesMatch, desiredBootStateIsOff, isEmptyObject } from '../common/status-view.js';
import type { AttemptField, BootSet, Component, ComponentPatch, Phase } from '../common/types.js';
import { ATTEMPT_FIELDS } from '../common/types.js';
import type { CfsComponent } from '../clients/types.js';

export { bootArtifactStatesMatch, desiredBootStateIsOff, sanitizeKernelParameters } from '../common/status-view.js';

// ---------------------------------------------------------------- batching

/** Split into consecutive batches of `size` (order kept); size ≤ 0 → one batch with everything. */
export function splitBatches<T>(items: readonly T[], size: number): T[][] {
  if (items.length === 0) return [];
  if (!(size > 0)) return [items.slice()];
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

// ---------------------------------------------------------------- retry limit

export interface RetryState {
  attempts: number;
  /** -1 = unlimited. */
  limit: number;
  reached: boolean;
}

/**
 * The retry limit of one component: `retry_policy` when the component has one, else
 * `default_retry_policy`; -1 is unlimited. Reached when `attempts >= limit`.
 */
export function retryState(c: Component, field: AttemptField, defaultRetryPolicy: number): RetryState {
  const raw = c.event_stats?.[field];
  const attempts = typeof raw === 'number' && Number.isFinite(raw) ? raw : 0;
  const limit = typeof c.retry_policy === 'number' && Number.isFinite(c.retry_policy) ? c.retry_policy : defaultRetryPolicy;
  return { attempts, limit, reached: limit !== -1 && attempts >= limit };
}

// ---------------------------------------------------------------- time predicates

/** True when `stamp` is missing/unreadable or `now` is strictly later than `stamp + seconds`. */
function olderThan(stamp: string | undefined | null, seconds: number, nowMs: number): boolean {
  const t = parseTimestamp(stamp ?? undefined);
  if (Number.isNaN(t)) return true;
  return nowMs > t + seconds * 1000;
}

/** TimeSinceLastAction: `last_action.last_updated` missing, or more than `seconds` ago. */
export function timeSinceLastAction(c: Component, seconds: number, nowMs: number): boolean {
  return olderThan(c.last_action?.last_updated, seconds, nowMs);
}

/** ActualStateAge: `actual_state.last_updated` missing, or more than `seconds` ago. */
export function actualStateOlderThan(c: Component, seconds: number, nowMs: number): boolean {
  return olderThan(c.actual_state?.last_updated, seconds, nowMs);
}

// ---------------------------------------------------------------- state predicates

/** Desired boot artifacts missing/empty, or every value falsy. */
export function desiredBootStateIsNone(c: Component): boolean {
  const ba = c.desired_state?.boot_artifacts;
  if (isEmptyObject(ba)) return true;
  return Object.values(ba!).every((v) => !v);
}

/** Desired state missing/empty, or no configuration. */
export function desiredConfigurationIsNone(c: Component): boolean {
  const ds = c.desired_state;
  if (isEmptyObject(ds)) return true;
  return !ds!.configuration;
}

/** Actual boot artifacts (ignoring `timestamp`) have at least one non-empty value. */
export function actualBootStateIsSet(c: Component): boolean {
  const ba = c.actual_state?.boot_artifacts;
  if (!ba || typeof ba !== 'object') return false;
  return Object.entries(ba).some(([k, v]) => k !== 'timestamp' && !!v);
}

/** CFS's desired configuration equals BOS's (exact: missing is not ""). */
export function desiredConfigurationSetInCfs(c: Component, cfs: CfsComponent): boolean {
  return (c.desired_state?.configuration ?? null) === (cfs.desired_config ?? null);
}

/**
 * CFS holds the node's desired configuration but is disabled for it, with that configuration still
 * pending, after the node booted: nobody would ever configure it. Power-on disables CFS before it
 * powers a node on and the booted node enables it again, so a disable that lands after the boot (a
 * second operator instance's power-on acting on a stale read, or one by hand) leaves the node in
 * `configuring` for good. It counts as after the boot once the node reported its state after BOS's
 * last action on it, or `maxBootWaitTime` seconds after that action (the node had its time to boot).
 */
export function cfsLeftDisabled(c: Component, cfs: CfsComponent, nowMs: number, maxBootWaitTime: number): boolean {
  if (cfs.enabled !== false || (cfs.configuration_status ?? '').toLowerCase() !== 'pending') return false;
  if (desiredConfigurationIsNone(c) || !desiredConfigurationSetInCfs(c, cfs)) return false;
  const reported = parseTimestamp(c.actual_state?.last_updated ?? undefined);
  const acted = parseTimestamp(c.last_action?.last_updated ?? undefined);
  if (reported > acted) return true; // false when either is missing or unreadable (NaN)
  return timeSinceLastAction(c, maxBootWaitTime, nowMs);
}

/** Last action (missing → "") is one of `actions`. */
export function lastActionIs(c: Component, actions: readonly string[]): boolean {
  return actions.includes(c.last_action?.action ?? '');
}

// ---------------------------------------------------------------- status decision tree

export const PCS_MISSING_ERROR = 'Component information was not returned by pcs';
export const CFS_MISSING_ERROR = 'Component information was not returned by cfs';
export const CFS_FAILED_ERROR = 'cfs configuration failed';
const cfsInvalidStatusError = (status: string): string =>
  `cfs is not reporting a valid configuration status for this component: ${status}`;

export interface StatusInput {
  component: Component;
  /** PCS power state (`on`, `off`, `undefined`, or an error text); undefined when PCS did not return the node. */
  powerState: string | undefined;
  /** The node's CFS record; undefined when CFS does not have it. */
  cfs: CfsComponent | undefined;
  nowMs: number;
  maxBootWaitTime: number;
  maxPowerOnWaitTime: number;
}

export interface StatusDecision {
  phase: Phase;
  override: '' | 'on_hold' | 'failed';
  disable: boolean;
  error: string;
  actionFailed: boolean;
}

/** The component's current status: the stored `status.status`, else computed from the record. */
function currentStatus(c: Component): string {
  return c.status?.status ?? computeStatus(c);
}

/** The status operator's decision for one enabled component (docs/operators.md, "The status decision"). Total. */
export function decideStatus(input: StatusInput): StatusDecision {
  const c = input.component;
  const power = input.powerState;
  if (!power || !input.cfs) {
    return {
      phase: '',
      override: 'on_hold',
      disable: true,
      error: !power || power === 'undefined' ? PCS_MISSING_ERROR : CFS_MISSING_ERROR,
      actionFailed: false,
    };
  }
  const cfs = input.cfs;
  const d: StatusDecision = { phase: '', override: '', disable: false, error: '', actionFailed: false };
  if (currentStatus(c) === 'failed') {
    d.disable = true;
    d.override = 'failed';
  }
  const poweringOn = (c.last_action?.action ?? '') === 'powering_on';
  if (power === 'off') {
    if (desiredBootStateIsOff(c)) {
      d.phase = '';
      d.disable = true;
    } else {
      if (poweringOn && timeSinceLastAction(c, input.maxPowerOnWaitTime, input.nowMs)) d.actionFailed = true;
      d.phase = 'powering_on';
    }
    return d;
  }
  if (desiredBootStateIsOff(c)) {
    d.phase = 'powering_off';
  } else if ((c.status?.phase ?? '') === 'powering_off') {
    // A power-off asked for ends only when the node is off: a report that lands before the node
    // goes down must not mark it done (docs/operators.md, "The status decision", rule 5).
    d.phase = 'powering_off';
  } else if (bootArtifactStatesMatch(c)) {
    if (!desiredConfigurationSetInCfs(c, cfs)) {
      d.phase = 'configuring';
    } else if (desiredConfigurationIsNone(c)) {
      d.phase = '';
      d.disable = true;
    } else {
      const cs = (cfs.configuration_status ?? '').toLowerCase();
      if (cs === 'configured') {
        d.phase = '';
        d.disable = true;
      } else if (cs === 'failed') {
        d.phase = 'configuring';
        d.disable = true;
        d.override = 'failed';
        d.error = CFS_FAILED_ERROR;
      } else if (cs === 'pending') {
        d.phase = 'configuring';
      } else {
        d.phase = 'configuring';
        d.disable = true;
        d.override = 'failed';
        d.error = cfsInvalidStatusError(cs);
      }
    }
  } else if (poweringOn && !timeSinceLastAction(c, input.maxBootWaitTime, input.nowMs)) {
    d.phase = 'powering_on';
  } else {
    d.phase = 'powering_off';
  }
  return d;
}

/**
 * The PATCH entry for a decision, or null when nothing changes
 * (docs/operators.md, "What the status operator writes").
 */
export function buildStatusPatch(c: Component, d: StatusDecision): ComponentPatch | null {
  const patch: ComponentPatch = { id: c.id, status: { status_override: d.override } };
  let update = false;
  const previous = c.status?.phase ?? '';
  if (d.phase !== previous) {
    patch.status!.phase = d.phase;
    update = true;
    if (d.phase === '') {
      patch.event_stats = Object.fromEntries(ATTEMPT_FIELDS.map((f) => [f, 0]));
    }
    if (previous === 'powering_off') patch.actual_state = emptyActualState();
  }
  if (d.override !== (c.status?.status_override ?? '')) update = true;
  if (d.disable) {
    patch.enabled = false;
    update = true;
  }
  if (d.error && d.error !== (c.error ?? '')) {
    patch.error = d.error;
    update = true;
  }
  if (d.actionFailed && c.last_action?.failed !== true) {
    patch.last_action = { failed: true };
    update = true;
  }
  return update ? patch : null;
}

/** The component as it will read after `patch` is merged (for status/phase counts). */
export function applyStatusPatch(c: Component, patch: ComponentPatch | null): Component {
  if (!patch) return c;
  const next = merged<Component>(c);
  next.status = merged(c.status, patch.status);
  next.last_action = patch.last_action ? merged(c.last_action, patch.last_action) : c.last_action;
  if (patch.enabled !== undefined) next.enabled = patch.enabled;
  if (next.status) delete next.status.status;
  return next;
}

// ---------------------------------------------------------------- limit syntax

export class LimitError extends Error {
  constructor(limit: string) {
    super(`the limit ${JSON.stringify(limit)} has an empty term; separate xnames, groups and roles with single commas`);
    this.name = 'LimitError';
  }
}

/**
 * Apply a session limit to a boot set's nodes. Terms are folded left from an empty set: `&name`
 * intersects, `!name` subtracts, anything else is a union. A term is `all`/`*` (every node of the boot
 * set), a name in `inventory` (group, partition, role, Role_SubRole) or else a literal xname.
 * Empty/missing limit → the nodes unchanged. An empty term throws LimitError.
 */
export function applyLimit(
  nodes: ReadonlySet<string>,
  limit: string | null | undefined,
  inventory: ReadonlyMap<string, ReadonlySet<string> | readonly string[]>,
): Set<string> {
  if (!limit) return new Set(nodes);
  let acc = new Set<string>();
  for (const term of limit.split(',')) {
    if (term === '') throw new LimitError(limit);
    const op = term[0] === '&' || term[0] === '!' ? term[0] : '';
    const name = op ? term.slice(1) : term;
    let members: Iterable<string>;
    if (name === 'all' || name === '*') members = nodes;
    else if (inventory.has(name)) members = inventory.get(name)!;
    else members = [name];
    const set = new Set(members);
    if (op === '&') acc = new Set([...acc].filter((x) => set.has(x)));
    else if (op === '!') acc = new Set([...acc].filter((x) => !set.has(x)));
    else for (const x of set) acc.add(x);
  }
  return new Set([...nodes].filter((x) => acc.has(x)));
}

// ---------------------------------------------------------------- architecture

/**
 * Whether a node whose HSM `Arch` is `hsmArch` (undefined = no Arch field) may boot a boot set of
 * `bootSetArch` (default X86). X86 takes X86, UNKNOWN, Unknown and no Arch; any other arch only
 * itself (Unknown also takes no Arch). Case-sensitive otherwise.
 */
export function archAccepted(bootSetArch: string | undefined, hsmArch: string | undefined): boolean {
  const arch = bootSetArch || 'X86';
  if (arch === 'X86') return hsmArch === undefined || hsmArch === 'X86' || hsmArch === 'UNKNOWN' || hsmArch === 'Unknown';
  if (hsmArch === undefined) return arch === 'Unknown';
  return hsmArch === arch;
}

// ---------------------------------------------------------------- kernel parameters

/** What session setup took from an image manifest (see clients/s3 summarizeManifest). */
export type ArtifactSummary = ManifestSummary;

/** A boot set names a rootfs provider this project does not support. */
export class UnsupportedRootfsProvider extends Error {
  /** Recorded as the message alone: upstream's fixed text. */
  readonly verbatim = true;
  constructor(provider: string, bootSet: BootSet) {
    super(`Unsupported rootfs_provider ('${provider}') specified in boot set: ${JSON.stringify(bootSet)}`);
    this.name = 'UnsupportedRootfsProvider';
  }
}

const PROVIDER_PROTOCOLS: Record<string, string> = { sbps: 'sbps-s3', cpss3: 'craycps-s3' };

/**
 * The `root=` and `nmd_data=` parameters of a boot set's rootfs provider:
 * - absent: no protocol and no location, so `""`, or `root=::<passthrough>` with a passthrough;
 * - `sbps`: `root=sbps-s3:<rootfs>:<etag>[:<passthrough>]`, `nmd_data=url=<rootfs>,etag=<etag>`;
 * - `cpss3`: `root=craycps-s3:<rootfs>:<etag>[:<passthrough>]`, `nmd_data=...` as sbps;
 * - anything else (including ""): UnsupportedRootfsProvider.
 */
export function rootfsParameters(bootSet: BootSet, summary: Pick<ArtifactSummary, 'rootfs' | 'rootfsEtag'>): { root: string; nmd: string } {
  const hasProvider = Object.prototype.hasOwnProperty.call(bootSet, 'rootfs_provider') && bootSet.rootfs_provider !== undefined;
  const passthrough = bootSet.rootfs_provider_passthrough ?? '';
  let protocol: string | undefined;
  let location = '';
  let id = '';
  if (hasProvider) {
    const provider = bootSet.rootfs_provider as string;
    protocol = PROVIDER_PROTOCOLS[provider];
    if (protocol === undefined) throw new UnsupportedRootfsProvider(String(provider), bootSet);
    location = summary.rootfs ?? '';
    id = summary.rootfsEtag ?? '';
  }
  const fields = [...(protocol ? [protocol] : []), location, id, ...(passthrough ? [passthrough] : [])];
  const root = fields.some((f) => f !== '') ? `root=${fields.join(':')}` : '';
  let nmd = '';
  if (protocol) {
    const parts = [...(location ? [`url=${location}`] : []), ...(id ? [`etag=${id}`] : [])];
    if (parts.length > 0) nmd = `nmd_data=${parts.join(',')}`;
  }
  return { root, nmd };
}

/**
 * Kernel parameters of a boot set, space-joined in this order, empty pieces skipped: the image's
 * boot-parameters file tokens, the boot set's `kernel_parameters`, the rootfs `root=`, the provider's
 * `nmd_data=`, and `bos_update_frequency=<component_actual_state_ttl>`.
 */
export function assembleKernelParameters(input: {
  imageParameters: readonly string[];
  bootSet: BootSet;
  summary: Pick<ArtifactSummary, 'rootfs' | 'rootfsEtag'>;
  actualStateTtl: string;
}): string {
  const { root, nmd } = rootfsParameters(input.bootSet, input.summary);
  const pieces = [
    ...input.imageParameters,
    input.bootSet.kernel_parameters ?? '',
    root,
    nmd,
    `bos_update_frequency=${input.actualStateTtl}`,
  ];
  return pieces.filter((p) => p !== '').join(' ');
}

// ---------------------------------------------------------------- IMS image ids

export type ImsIdResult = { id: string } | { error: string };

/**
 * The IMS image id of a kernel S3 URL: the first segment of the URL's key (path without the leading
 * `/`, plus `?query`), when the key has a segment after it. Soft-deleted images (`deleted/...`) and
 * keys without a second segment are errors with upstream's texts.
 */
export function imsIdFromKernel(kernel: string): ImsIdResult {
  let key: string;
  const m = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#]*([^#]*)/.exec(kernel);
  if (m) key = m[1]!;
  else key = kernel.split('#')[0]!;
  key = key.replace(/^\/+/, '');
  const seg = /^([^/]+)\/.+/s.exec(key);
  if (!seg) return { error: `Unable to extract IMS ID from kernel path: ${kernel}` };
  if (seg[1] === 'deleted') return { error: `Kernel path appears to refer to soft-deleted IMS image: '${kernel}'` };
  return { id: seg[1]! };
}

// ---------------------------------------------------------------- session cleanup

/** `cleanup_completed_session_ttl` is disabled when its digits read as 0 (`0`, `0d`, `0h`). */
export function sessionCleanupDisabled(ttl: string): boolean {
  const digits = String(ttl).replace(/\D/g, '');
  if (digits === '') throw new Error(`cleanup_completed_session_ttl ${JSON.stringify(ttl)} has no number`);
  return Number(digits) === 0;
}

/** The API's (and upstream's schema's) limit on a session's `components` string. */
export const SESSION_COMPONENTS_MAX_LENGTH = 524_288;

/**
 * The session's `components` string: the node ids joined by commas, or, when that is longer than
 * the API accepts, the longest run of whole ids from the start that fits (`kept` < ids.length). The
 * field only records what the session started on; which nodes a session manages is each
 * component's `session`, so a shortened list loses no node.
 */
export function sessionComponentsList(ids: readonly string[], maxLength = SESSION_COMPONENTS_MAX_LENGTH): { list: string; kept: number } {
  let length = -1;
  let kept = 0;
  for (const id of ids) {
    if (length + 1 + id.length > maxLength) break;
    length += 1 + id.length;
    kept++;
  }
  return { list: ids.slice(0, kept).join(','), kept };
}
