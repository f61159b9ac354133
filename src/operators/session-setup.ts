/**
 * session-setup: every pending session becomes running with its nodes' desired (or staged) state set,
 * or complete with the reason it could not start (docs/operators.md, "session-setup"). Node selection
 * per boot set: node_list, node_groups, node_roles_groups, the session limit, HSM locks, the tenant,
 * the architecture and HSM's enabled flag. Boot artifacts and kernel parameters come from the image
 * manifest in S3.
 */
import { copyJson } from '../common/copy.js';
import { emptyActualState, emptyDesiredState, emptyStagedState } from '../common/constants.js';
import type { BootSet, ComponentPatch, DesiredState, Session, SessionTemplate, StagedState } from '../common/types.js';
import { ARTIFACT_TYPES, ArtifactNotFound, readBootParameters, readManifest, summarizeManifest } from '../clients/s3.js';
import type { Services } from '../clients/types.js';
import { errorService, errorText, OperatorError } from './errors.js';
import { applyLimit, archAccepted, assembleKernelParameters, SESSION_COMPONENTS_MAX_LENGTH, sessionComponentsList } from './rules.js';
import { patchComponents } from './runner.js';
import { markSessionComplete } from './sessions.js';
import type { PassContext, PassOperator } from './types.js';

/** A session cannot be set up; the message is recorded as the session's error as is. */
class SessionSetupError extends OperatorError {
  constructor(message: string) {
    super(message, { service: 'session' });
    this.name = 'SessionSetupError';
  }
}

const NO_NODES_ERROR = 'No nodes were found to act upon.';
const NO_BOS_COMPONENTS_ERROR = 'All nodes found to act upon do not exist as BOS components';
const tenantNotFound = (tenant: string): string => `Data not found for tenant ${tenant}`;
const tenantNodesError = (nodes: readonly string[]): string =>
  `The session template includes nodes which do not exist or are not available to this tenant: ${nodes.join(',')}`;

/** HSM groups, partitions and roles, read at most once per pass and shared by every session. */
class HsmInventory {
  private groupsP?: Promise<Map<string, string[]>>;
  private partitionsP?: Promise<Map<string, string[]>>;
  private rolesP?: Promise<Map<string, string[]>>;

  constructor(private readonly services: Services) {}

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

/** Per-session lookups: the template and the tenant's components. */
class SessionScope {
  private tenantSet?: Promise<Set<string>>;
  constructor(
    readonly ctx: PassContext,
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

/** The nodes one boot set acts on (docs/operators.md, "Choosing a boot set's nodes"). */
async function bootSetNodes(scope: SessionScope, bootSet: BootSet): Promise<Set<string>> {
  const { ctx, session, inventory } = scope;
  const hsm = ctx.services.hsm;
  let nodes = new Set<string>(Array.isArray(bootSet.node_list) ? bootSet.node_list : []);
  if (nodes.size > 0 && session.tenant) {
    const owned = await scope.tenantNodes();
    const offending = [...nodes].filter((n) => !owned.has(n));
    if (offending.length > 0) throw new SessionSetupError(tenantNodesError(offending));
  }
  if (bootSet.node_groups?.length) {
    const groups = await inventory.groups();
    for (const name of bootSet.node_groups) {
      const members = groups.get(name);
      if (!members) ctx.log.warn({ session: session.name, group: name }, `No hardware matching label ${name}`);
      else for (const id of members) nodes.add(id);
    }
  }
  if (bootSet.node_roles_groups?.length) {
    const roles = await inventory.roles();
    for (const name of bootSet.node_roles_groups) {
      const members = roles.get(name);
      if (!members) ctx.log.warn({ session: session.name, role: name }, `No hardware matching role ${name}`);
      else for (const id of members) nodes.add(id);
    }
  }
  if (nodes.size === 0) return nodes;
  if (session.limit) {
    nodes = applyLimit(nodes, session.limit, await inventory.combined());
    if (nodes.size === 0) return nodes;
  }
  const locked = await hsm.lockedNodes();
  nodes = new Set([...nodes].filter((n) => !locked.has(n)));
  if (nodes.size === 0) return nodes;
  if (session.tenant) {
    const owned = await scope.tenantNodes();
    nodes = new Set([...nodes].filter((n) => owned.has(n)));
    if (nodes.size === 0) return nodes;
  }
  const arch = await hsm.queryComponents([...nodes]);
  const archOk = new Set(arch.filter((h) => h && archAccepted(bootSet.arch, h.Arch)).map((h) => h.ID));
  nodes = new Set([...nodes].filter((n) => archOk.has(n)));
  if (nodes.size === 0) return nodes;
  if (!session.include_disabled) {
    const enabled = new Set((await hsm.queryComponents([...nodes], { enabled: true })).map((h) => h.ID));
    nodes = new Set([...nodes].filter((n) => enabled.has(n)));
  }
  return nodes;
}

/**
 * Kernel, initrd and kernel parameters of a boot set, from its image manifest
 * (docs/operators.md, "Boot artifacts and kernel parameters").
 */
async function bootSetArtifacts(ctx: PassContext, bootSet: BootSet): Promise<{ kernel: string; initrd: string; kernel_parameters: string }> {
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

/** The state a boot set's nodes are given (docs/operators.md, "The state the nodes are given"). */
async function targetState(scope: SessionScope, template: SessionTemplate, bootSet: BootSet): Promise<DesiredState | StagedState> {
  const { ctx, session } = scope;
  if (session.operation === 'shutdown') return session.stage ? emptyStagedState() : emptyDesiredState();
  const boot_artifacts = await bootSetArtifacts(ctx, bootSet);
  const configuration = bootSetConfiguration(template, bootSet);
  if (session.stage) return { boot_artifacts, configuration, session: session.name };
  return { boot_artifacts, configuration };
}

/** One node's patch (docs/operators.md, "The state the nodes are given"); `target` is copied. */
export function componentPatch(id: string, session: Session, target: DesiredState | StagedState): ComponentPatch {
  const state = copyJson(target);
  if (session.stage) return { id, error: '', staged_state: state as StagedState };
  const p: ComponentPatch = {
    id,
    error: '',
    desired_state: state as DesiredState,
    session: session.name,
    enabled: true,
    last_action: { action: 'session_setup', failed: false },
  };
  if (session.operation === 'reboot') p.actual_state = emptyActualState();
  return p;
}

/**
 * Set up one session. Problems with the session itself (template, HSM, tenant, S3, no nodes) complete
 * it with the reason; a failure writing components to BOS escapes (the session stays pending and is
 * retried next pass).
 */
async function setupSession(ctx: PassContext, session: Session, inventory: HsmInventory): Promise<'running' | 'failed'> {
  const scope = new SessionScope(ctx, session, inventory);
  const patches: ComponentPatch[] = [];
  const nodes = new Set<string>();
  const fail = async (err: unknown) => {
    ctx.metrics.actionFailures.inc({ operator: ctx.name, service: errorService(err) });
    await markSessionComplete(ctx, session, errorText(err));
    return 'failed' as const;
  };
  try {
    const template = await ctx.services.bos.getSessionTemplate(session.template_name, session.tenant || null);
    for (const [name, bootSet] of Object.entries(template.boot_sets ?? {})) {
      const bsNodes = await bootSetNodes(scope, bootSet);
      ctx.log.debug({ session: session.name, boot_set: name, count: bsNodes.size }, `boot set ${name}: ${bsNodes.size} node(s)`);
      if (bsNodes.size === 0) continue;
      const target = await targetState(scope, template, bootSet);
      for (const id of bsNodes) {
        patches.push(componentPatch(id, session, target));
        nodes.add(id);
      }
    }
    if (nodes.size === 0) throw new SessionSetupError(NO_NODES_ERROR);
  } catch (err) {
    return fail(err);
  }
  // Only which ids BOS has matters here (skip_bad_ids leaves out the others): each chunk's answer
  // is let go once its ids are read, not 100,000 whole records held at once.
  const patched = await patchComponents(ctx.services, patches, { skipBadIds: true, chunkSize: ctx.batchSize, records: 'ids' });
  const found = new Set(patched.map((c) => c.id));
  const notFound = [...nodes].filter((n) => !found.has(n));
  if (notFound.length > 0) {
    ctx.log.warn({ session: session.name, count: notFound.length, ids: notFound.slice(0, 20) }, `${notFound.length} node(s) not found in BOS; left out of session ${session.name}`);
    for (const n of notFound) nodes.delete(n);
  }
  if (nodes.size === 0) return fail(new SessionSetupError(NO_BOS_COMPONENTS_ERROR));
  const { list, kept } = sessionComponentsList([...nodes]);
  if (kept < nodes.size) {
    ctx.log.warn(
      { session: session.name, count: nodes.size, listed: kept },
      `session ${session.name} has ${nodes.size} nodes; its components field lists the first ${kept} (the API limits it to ` +
        `${SESSION_COMPONENTS_MAX_LENGTH} characters); GET /v2/components?session=${session.name} lists every one`,
    );
  }
  await ctx.services.bos.patchSession(session.name, session.tenant || null, { status: { status: 'running' }, components: list });
  ctx.log.info({ session: session.name, count: nodes.size, staged: session.stage === true }, `session ${session.name} is running on ${nodes.size} node(s)`);
  return 'running';
}

export const sessionSetup: PassOperator = {
  kind: 'pass',
  name: 'session-setup',
  async pass(ctx) {
    const pending = await ctx.services.bos.listSessions({ status: 'pending' });
    ctx.metrics.sessions.set({ status: 'pending' }, pending.length);
    if (pending.length === 0) return { selected: 0, acted: 0 };
    const inventory = new HsmInventory(ctx.services);
    let done = 0;
    let failed = 0;
    for (const session of pending) {
      const outcome = await setupSession(ctx, session, inventory);
      done++;
      if (outcome === 'failed') failed++;
      ctx.metrics.sessions.set({ status: 'pending' }, pending.length - done);
    }
    return { selected: pending.length, acted: done, errored: failed };
  },
};
