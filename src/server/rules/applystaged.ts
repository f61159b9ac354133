/**
 * POST /v2/applystaged (docs/api.md, "Applying staged states"): turn a component's staged state into
 * its desired state.
 */
import { emptyActualState, emptyBootArtifacts, emptyStagedState } from '../../common/constants.js';
import type { BootArtifactsRecord, Component, Session } from '../../common/types.js';
import { copyJson } from '../store/memory.js';
import { applyAutoFields } from './components.js';

export type ApplyOutcome = 'succeeded' | 'failed' | 'ignored';

/** The staged-session check: undefined when the staged state may be applied, else the error text. */
function stagedSessionError(session: Session | undefined, staged: Component['staged_state'], sessionName: string, tenant: string): string | undefined {
  const where = `(session: ${sessionName}, tenant: ${tenant})`;
  if (!session) return `Staged session no longer exists ${where}`;
  const values = staged?.boot_artifacts && typeof staged.boot_artifacts === 'object' ? Object.values(staged.boot_artifacts) : [];
  switch (session.operation) {
    case 'shutdown':
      return values.some((v) => !!v) ? `Staged operation is shutdown but boot artifacts have been specified ${where}` : undefined;
    case 'boot':
    case 'reboot':
      return values.some((v) => !v)
        ? `Staged operation is ${session.operation} but some boot artifacts have not been specified ${where}`
        : undefined;
    default:
      return `Invalid operation (${String(session.operation)}) in staged session ${where}`;
  }
}

export interface ApplyContext {
  /** Header tenant or '' for none. */
  tenant: string;
  clearStage: boolean;
  now: string;
  artifacts?: ReadonlyMap<string, BootArtifactsRecord>;
}

/**
 * Apply the staged state of one component (`record` is modified and returned for storing). The
 * staged session has been looked up by the caller (undefined when missing). Returns `ignored` with no
 * record when there is nothing staged, and `failed` with no record when upstream would fail without
 * writing (a record without `last_action`).
 */
export function applyStaged(
  record: Component | undefined,
  session: Session | undefined,
  ctx: ApplyContext,
): { outcome: ApplyOutcome; record?: Component } {
  if (!record) return { outcome: 'ignored' };
  const sessionName = record.staged_state?.session;
  if (!sessionName) return { outcome: 'ignored' };
  const staged = record.staged_state;
  const error = stagedSessionError(session, staged, sessionName, ctx.tenant);
  if (!error) {
    record.desired_state = {
      boot_artifacts: staged?.boot_artifacts ? copyJson(staged.boot_artifacts) : emptyBootArtifacts(),
      configuration: staged?.configuration ?? '',
    };
    if (session!.operation === 'reboot') record.actual_state = emptyActualState();
    record.enabled = true;
  } else {
    record.error = error;
    record.enabled = false;
  }
  record.session = sessionName;
  // Upstream cannot record the action on a component without last_action: it fails, writing nothing.
  if (!record.last_action || typeof record.last_action !== 'object') return { outcome: 'failed' };
  record.last_action.action = 'apply_staged';
  if (ctx.clearStage) record.staged_state = emptyStagedState();
  applyAutoFields(record, ctx.now, ctx.artifacts);
  return { outcome: error ? 'failed' : 'succeeded', record };
}
