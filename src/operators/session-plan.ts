/**
 * What a session would do, per boot set: the nodes it acts on, the nodes it leaves out and why, and the
 * state it gives them (docs/operators.md, "Choosing a boot set's nodes"). Session setup writes this
 * plan; the API's session preview answers it without writing anything.
 */
import { copyJson } from '../common/copy.js';
import { emptyActualState, emptyDesiredState, emptyStagedState } from '../common/constants.js';
import type { Options } from '../common/options.js';
import { isRolling } from '../common/rollout.js';
import type { BootSet, ComponentPatch, DesiredState, Session, SessionTemplate, StagedState } from '../common/types.js';
import { ARTIFACT_TYPES, ArtifactNotFound, readBootParameters, readManifest, summarizeManifest } from '../clients/s3.js';
import type { Services } from '../clients/types.js';
import type { Logger } from '../log.js';
import { OperatorError } from './errors.js';
import { applyLimit, archAccepted, assembleKernelParameters } from './rules.js';

/** What planning needs: HSM, S3 and the tenant service, the options, a logger. */
export interface PlanContext {
  readonly services: Pick<Services, 'hsm' | 's3' | 'tenants'>;
  readonly options: Pick<Options, 'component_actual_state_ttl'>;
  readonly log: Logger;
}

/** A session cannot be set up; the message is recorded as the session's error as is. */
export class SessionSetupError extends OperatorError {
  constructor(message: string) {
    super(message, { service: 'session' });
    this.name = 'SessionSetupError';
  }
}

const NO_NODES_ERROR = 'No nodes were found to act upon.';
const tenantNotFound = (tenant: string): string => `Data not found for tenant ${tenant}`;
const tenantNodesError = (nodes: readonly string[]): string =>
  `The session template includes nodes which do not exist or are not available to this tenant: ${nodes.join(',')}`;

/** Why a node a boot set names is left out, in the order the rules are applied. */
export type Exclusion = 'not_in_limit' | 'locked' | 'other_tenant' | 'not_in_hsm' | 'wrong_arch' | 'disabled_in_hsm';

interface BootSetPlan {
  /** The nodes the boot set acts on, sorted. */
  nodes: string[];
  /** The nodes it names but leaves out, sorted, each with the first rule that left it out. */
  excluded: { id: string; reason: Exclusion }[];
  /** Groups and roles it names that HSM does not know. */
  warnings: string[];
  /** The state its nodes are given (absent when it acts on no node: its manifest is not read). */
  state?: DesiredState | StagedState;
}

export interface SessionPlan {
  /** Per boot set, in the template's order. */
  boot_sets: Record<string, BootSetPlan>;
  /** Every node acted on, sorted (a node named by two boot sets takes the later one's state). */
  nodes: string[];
}

/** HSM groups, partitions and roles, read at most once and shared by every session of a pass. */
export class HsmInventory {
  private groupsP?: Promise<Map<string, string[]>>;
  private partitionsP?: Promise<Map<string, string[]>>;
  private rolesP?: Promise<Map<string, string[]>>;

  constructor(private readonly services: Pick<Services, 'hsm'>) {}

  groups(): Promise<Map<string, string[]>> {
    this.groupsP ??= this.services.hsm.listGroups().then((list) => {
      const m = new Map<string, string[]>();
      for (const g of list) if (g && typeof g.label === 'string') m.set(g.label, [...(g.members?.ids ?? [])]);
      return m;
    });
    return this.groupsP;
  }

  partitions(): Promise<Map<string, string[]>> {
    this.partitionsP ??= this.services.hsm.listPartitions().then((list) => {
      const m = new Map<string, string[]>();
      for (const p of list) if (p && typeof p.name === 'string') m.set(p.name, [...(p.members?.ids ?? [])]);
      return m;
    });
    return this.partitionsP;
  }

  /** Role → ids, and `<Role>_<SubRole>` → ids (`_<SubRole>` without a Role), over every HSM component. */
  roles(): Promise<Map<string, string[]>> {
    this.rolesP ??= this.services.hsm.listComponents().then((list) => {
      const m = new Map<string, string[]>();
      const add = (k: string, id: string) => {
        const l = m.get(k);
        if (l) l.push(id);
        else m.set(k, [id]);
      };
      for (const c of list) {
        if (!c || typeof c.ID !== 'string') continue;
        if (c.Role) add(c.Role, c.ID);
        if (c.SubRole) add(`${c.Role ?? ''}_${c.SubRole}`, c.ID);
      }
      return m;
    });
    return this.rolesP;
  }

  /** Names a limit may use: groups, then partitions, then roles (later ones win on a clash). */
  async combined(): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    for (const m of [await this.groups(), await this.partitions(), await this.roles()]) for (const [k, v] of m) out.set(k, v);
    return out;
  }
}

/** Per-session lookups: the tenant's components, read once. */
class SessionScope {
  private tenantSet?: Promise<Set<string>>;
  constructor(
    readonly ctx: PlanContext,
    readonly session: Session,
    readonly inventory: HsmInventory,
  ) {}

  tenantNodes(): Promise<Set<string>> {
    const tenant = this.session.tenant ?? '';
    this.tenantSet ??= this.ctx.services.tenants.tenantXnames(tenant).then((s) => {
      if (s === null) throw new SessionSetupError(tenantNotFound(tenant));
      return s;
    });
    return this.tenantSet;
  }
}

/** The nodes one boot set acts on and those it leaves out (docs/operators.md, "Choosing a boot set's nodes"). */
async function bootSetNodes(scope: SessionScope, bootSet: BootSet): Promise<Omit<BootSetPlan, 'state'>> {
  const { ctx, session, inventory } = scope;
  const hsm = ctx.services.hsm;
  const excluded: BootSetPlan['excluded'] = [];
  const warnings: string[] = [];
  let nodes = new Set<string>(Array.isArray(bootSet.node_list) ? bootSet.node_list : []);
  /** Keep the nodes `keep` admits; the others are left out for `reason`. */
  const narrow = (keep: (id: string) => boolean, reason: Exclusion) => {
    const kept = new Set<string>();
    for (const id of nodes) {
      if (keep(id)) kept.add(id);
      else excluded.push({ id, reason });
    }
    nodes = kept;
  };
  const done = () => ({ nodes: [...nodes].sort(), excluded: excluded.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)), warnings });
  if (nodes.size > 0 && session.tenant) {
    const owned = await scope.tenantNodes();
    const offending = [...nodes].filter((n) => !owned.has(n));
    if (offending.length > 0) throw new SessionSetupError(tenantNodesError(offending));
  }
  if (bootSet.node_groups?.length) {
    const groups = await inventory.groups();
    for (const name of bootSet.node_groups) {
      const members = groups.get(name);
      if (!members) warnings.push(`No hardware matching label ${name}`);
      else for (const id of members) nodes.add(id);
    }
  }
  if (bootSet.node_roles_groups?.length) {
    const roles = await inventory.roles();
    for (const name of bootSet.node_roles_groups) {
      const members = roles.get(name);
      if (!members) warnings.push(`No hardware matching role ${name}`);
      else for (const id of members) nodes.add(id);
    }
  }
  for (const w of warnings) ctx.log.warn({ session: session.name }, w);
  if (nodes.size === 0) return done();
  if (session.limit) {
    const limited = applyLimit(nodes, session.limit, await inventory.combined());
    narrow((id) => limited.has(id), 'not_in_limit');
    if (nodes.size === 0) return done();
  }
  const locked = await hsm.lockedNodes();
  narrow((id) => !locked.has(id), 'locked');
  if (nodes.size === 0) return done();
  if (session.tenant) {
    const owned = await scope.tenantNodes();
    narrow((id) => owned.has(id), 'other_tenant');
    if (nodes.size === 0) return done();
  }
  const known = new Map((await hsm.queryComponents([...nodes])).filter((h) => h && typeof h.ID === 'string').map((h) => [h.ID, h]));
  narrow((id) => known.has(id), 'not_in_hsm');
  narrow((id) => archAccepted(bootSet.arch, known.get(id)!.Arch), 'wrong_arch');
  if (nodes.size === 0) return done();
  if (!session.include_disabled) {
    const enabled = new Set((await hsm.queryComponents([...nodes], { enabled: true })).map((h) => h.ID));
    narrow((id) => enabled.has(id), 'disabled_in_hsm');
  }
  return done();
}

/**
 * Kernel, initrd and kernel parameters of a boot set, from its image manifest
 * (docs/operators.md, "Boot artifacts and kernel parameters").
 */
async function bootSetArtifacts(ctx: PlanContext, bootSet: BootSet): Promise<{ kernel: string; initrd: string; kernel_parameters: string }> {
  if (!bootSet.type) throw new SessionSetupError(`No path type set in boot set: ${JSON.stringify(bootSet)}`);
  if (bootSet.type !== 's3') throw new SessionSetupError(`No BootImageMetadata class for type ${bootSet.type}`);
  if (!bootSet.path) throw new SessionSetupError(`No path set in boot set: ${JSON.stringify(bootSet)}`);
  const s3 = ctx.services.s3;
  const summary = summarizeManifest(await readManifest(s3, bootSet.path));
  if (summary.kernel === null) throw new ArtifactNotFound(ARTIFACT_TYPES.kernel);
  if (summary.initrd === null) throw new ArtifactNotFound(ARTIFACT_TYPES.initrd);
  const imageParameters =
    summary.bootParametersPath && summary.bootParametersEtag ? await readBootParameters(s3, summary.bootParametersPath) : [];
  const kernel_parameters = assembleKernelParameters({
    imageParameters,
    bootSet,
    summary,
    actualStateTtl: ctx.options.component_actual_state_ttl,
  });
  return { kernel: summary.kernel, initrd: summary.initrd, kernel_parameters };
}

/** The configuration a boot set asks for: none when CFS is off, else the boot set's, else the template's. */
function bootSetConfiguration(template: SessionTemplate, bootSet: BootSet): string {
  if (template.enable_cfs === false) return '';
  return bootSet.cfs?.configuration || template.cfs?.configuration || '';
}

/**
 * The state a boot set's nodes are given (docs/operators.md, "The state the nodes are given"). A rolling
 * session stages it for itself, whatever the operation (docs/rollouts.md).
 */
async function targetState(ctx: PlanContext, session: Session, template: SessionTemplate, bootSet: BootSet): Promise<DesiredState | StagedState> {
  const rolling = isRolling(session);
  if (session.operation === 'shutdown') {
    if (rolling) return { ...emptyStagedState(), session: session.name };
    return session.stage ? emptyStagedState() : emptyDesiredState();
  }
  const boot_artifacts = await bootSetArtifacts(ctx, bootSet);
  const configuration = bootSetConfiguration(template, bootSet);
  if (session.stage || rolling) return { boot_artifacts, configuration, session: session.name };
  return { boot_artifacts, configuration };
}

/**
 * The plan of one session over a template. Throws SessionSetupError (or a service's error) when the
 * session cannot start: a tenant problem, an unreadable manifest, no node at all.
 */
export async function planSession(ctx: PlanContext, session: Session, template: SessionTemplate, inventory = new HsmInventory(ctx.services)): Promise<SessionPlan> {
  const scope = new SessionScope(ctx, session, inventory);
  const plan: SessionPlan = { boot_sets: {}, nodes: [] };
  const all = new Set<string>();
  for (const [name, bootSet] of Object.entries(template.boot_sets ?? {})) {
    const bs: BootSetPlan = await bootSetNodes(scope, bootSet);
    ctx.log.debug({ session: session.name, boot_set: name, count: bs.nodes.length }, `boot set ${name}: ${bs.nodes.length} node(s)`);
    if (bs.nodes.length > 0) bs.state = await targetState(ctx, session, template, bootSet);
    for (const id of bs.nodes) all.add(id);
    plan.boot_sets[name] = bs;
  }
  if (all.size === 0) throw new SessionSetupError(NO_NODES_ERROR);
  plan.nodes = [...all].sort();
  return plan;
}

/**
 * One node's patch (docs/operators.md, "The state the nodes are given"); `target` is copied. A rolling
 * session's node waits, staged for the session, until the rollout starts it (docs/rollouts.md).
 */
export function componentPatch(id: string, session: Session, target: DesiredState | StagedState): ComponentPatch {
  const state = copyJson(target);
  if (session.stage || isRolling(session)) return { id, error: '', staged_state: state as StagedState };
  return desiredPatch(id, session, state as DesiredState);
}

/** The patch that gives a node its desired state under a session (the state is used as is). */
function desiredPatch(id: string, session: Session, state: DesiredState): ComponentPatch {
  const p: ComponentPatch = {
    id,
    error: '',
    desired_state: state,
    session: session.name,
    enabled: true,
    last_action: { action: 'session_setup', failed: false },
  };
  if (session.operation === 'reboot') p.actual_state = emptyActualState();
  return p;
}

/** The patches that write a plan, boot set by boot set (a node in two boot sets: the later one wins). */
export function planPatches(session: Session, plan: SessionPlan): ComponentPatch[] {
  const patches: ComponentPatch[] = [];
  for (const bs of Object.values(plan.boot_sets)) {
    if (!bs.state) continue;
    for (const id of bs.nodes) patches.push(componentPatch(id, session, bs.state));
  }
  return patches;
}

/** A staged state that is empty and names no session (a PATCH merges key by key: the name is written over). */
export function unstaged(): StagedState {
  return { ...emptyStagedState(), session: '' };
}

/**
 * The patch that starts a waiting node of a rolling session (docs/rollouts.md): its staged state
 * becomes its desired state under the session, as session setup would have written it, and the
 * staged state is emptied (naming no session any more).
 */
export function rolloutStartPatch(id: string, session: Session, staged: StagedState): ComponentPatch {
  const target: DesiredState =
    session.operation === 'shutdown'
      ? emptyDesiredState()
      : { boot_artifacts: copyJson(staged.boot_artifacts ?? emptyStagedState().boot_artifacts), configuration: staged.configuration ?? '' };
  return { ...desiredPatch(id, session, target), staged_state: unstaged() };
}
