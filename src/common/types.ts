/** Record shapes of the BOS v2 data model (see docs/data-model.md). Every field is optional in storage. */

export const PHASES = ['powering_on', 'powering_off', 'configuring', ''] as const;
export type Phase = (typeof PHASES)[number];

export const ACTIONS = [
  'actual_state_cleanup',
  'apply_staged',
  'newly_discovered',
  'powering_off_forcefully',
  'powering_off_gracefully',
  'powering_on',
  'session_setup',
] as const;
export type Action = (typeof ACTIONS)[number];


export const OPERATIONS = ['boot', 'reboot', 'shutdown'] as const;
type Operation = (typeof OPERATIONS)[number];

export const SESSION_STATUSES = ['pending', 'running', 'complete'] as const;
type SessionStatusLabel = (typeof SESSION_STATUSES)[number];

export const ATTEMPT_FIELDS = ['power_on_attempts', 'power_off_graceful_attempts', 'power_off_forceful_attempts'] as const;
export type AttemptField = (typeof ATTEMPT_FIELDS)[number];

export interface BootArtifacts {
  kernel?: string;
  kernel_parameters?: string;
  initrd?: string;
  /** Internal: set from the boot-artifacts record; stripped from GET responses. */
  timestamp?: string;
}

export interface ActualState {
  boot_artifacts?: BootArtifacts;
  bss_token?: string;
  last_updated?: string;
}

export interface DesiredState {
  boot_artifacts?: BootArtifacts;
  configuration?: string;
  bss_token?: string;
  last_updated?: string;
}

export interface StagedState {
  boot_artifacts?: BootArtifacts;
  configuration?: string;
  session?: string;
  last_updated?: string;
}

interface LastAction {
  action?: Action | string;
  failed?: boolean;
  last_updated?: string;
}

type EventStats = Partial<Record<AttemptField, number>>;

export interface ComponentStatus {
  phase?: Phase | string;
  status?: string;
  status_override?: string;
}

export interface Component {
  id: string;
  actual_state?: ActualState;
  desired_state?: DesiredState;
  staged_state?: StagedState;
  last_action?: LastAction;
  event_stats?: EventStats;
  status?: ComponentStatus;
  enabled?: boolean;
  error?: string;
  session?: string;
  retry_policy?: number;
}

/** A component patch or body: like a component, but `id` may be absent. */
export type ComponentPatch = Omit<Partial<Component>, 'id'> & { id?: string };

interface SessionStatus {
  start_time?: string | null;
  end_time?: string | null;
  status?: SessionStatusLabel | string;
  error?: string | null;
}

/** The rollout fields of a session (docs/rollouts.md); a session with none of the three limits is not rolling. */
export interface RolloutSettings {
  /** At most this many nodes between their first action and done at any moment. */
  max_in_flight?: number;
  /** Once more nodes than this have failed (less those forgiven), no further node starts. */
  max_failed?: number;
  /** The first this-many nodes must all succeed before any other node starts. */
  canary?: number;
  /** Failures a resume forgave: the budget and the canary count failures beyond these. */
  failures_forgiven?: number;
}

export interface Session extends RolloutSettings {
  name: string;
  tenant: string | null;
  operation: Operation | string;
  template_name: string;
  limit: string;
  stage: boolean;
  components: string;
  include_disabled: boolean;
  status: SessionStatus;
}

interface CfsParameters {
  configuration?: string;
}


export interface BootSet {
  name?: string;
  path: string;
  type: string;
  etag?: string;
  kernel_parameters?: string;
  node_list?: string[];
  node_groups?: string[];
  node_roles_groups?: string[];
  /** 'X86' (default), 'ARM', 'Other' or 'Unknown'. */
  arch?: string;
  rootfs_provider?: string;
  rootfs_provider_passthrough?: string;
  cfs?: CfsParameters;
}

export interface SessionTemplate {
  name: string;
  tenant: string | null;
  description?: string;
  enable_cfs?: boolean;
  cfs?: CfsParameters;
  boot_sets: Record<string, BootSet>;
  links?: { href: string; rel: string }[];
}

export interface ExtendedStatus {
  managed_components_count: number;
  phases: {
    percent_complete: number;
    percent_powering_on: number;
    percent_powering_off: number;
    percent_configuring: number;
  };
  percent_staged: number;
  percent_successful: number;
  percent_failed: number;
  error_summary: Record<string, { count: number; list: string }>;
  timing: { start_time: string | null | undefined; end_time: string | null | undefined; duration: string };
  status?: string;
  /** Rolling sessions only (docs/rollouts.md). */
  rollout?: RolloutStatus;
}

/** Where a rolling session's nodes stand (docs/rollouts.md, "Following a rollout"). */
export interface RolloutStatus {
  waiting: number;
  in_flight: number;
  done: number;
  failed: number;
  max_in_flight: number | null;
  max_failed: number | null;
  canary: number;
  failures_forgiven: number;
  /** Why no further node starts until a resume; null while the rollout proceeds. */
  stopped: string | null;
  eta_seconds: number | null;
}

/** The boot-artifacts record stored per BSS token (Redis DB 4). */
export interface BootArtifactsRecord {
  kernel: string;
  kernel_parameters: string;
  initrd: string;
  timestamp: string;
}

/** `T` with every property, at every depth, read-only. */
type DeepReadonly<T> = T extends (infer E)[] ? readonly DeepReadonly<E>[] : T extends object ? { readonly [K in keyof T]: DeepReadonly<T[K]> } : T;

/**
 * A record as a store holds and shares it (listShared(), getManyShared(), what an update's change is
 * given): never changed in place, since cached output JSON and entity tags stand for it (docs/store.md).
 * A change makes a new record (mergeComponent()). In the tests the stores freeze these records, so a
 * change in place fails.
 */
export type StoredComponent = DeepReadonly<Component>;
