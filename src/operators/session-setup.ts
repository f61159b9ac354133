/**
 * session-setup: every pending session becomes running with its nodes' desired (or staged) state set,
 * or complete with the reason it could not start (docs/operators.md, "session-setup"). Node selection
 * per boot set: node_list, node_groups, node_roles_groups, the session limit, HSM locks, the tenant,
 * the architecture and HSM's enabled flag. Boot artifacts and kernel parameters come from the image
 * manifest in S3.
 */
import type { Session } from '../common/types.js';
import { errorService, errorText } from './errors.js';
import { SESSION_COMPONENTS_MAX_LENGTH, sessionComponentsList } from './rules.js';
import { patchComponents } from './runner.js';
import { HsmInventory, planPatches, planSession, SessionSetupError, type SessionPlan } from './session-plan.js';
import { markSessionComplete } from './sessions.js';
import type { PassContext, PassOperator } from './types.js';

const NO_BOS_COMPONENTS_ERROR = 'All nodes found to act upon do not exist as BOS components';

/**
 * Set up one session. Problems with the session itself (template, HSM, tenant, S3, no nodes) complete
 * it with the reason; a failure writing components to BOS escapes (the session stays pending and is
 * retried next pass).
 */
async function setupSession(ctx: PassContext, session: Session, inventory: HsmInventory): Promise<'running' | 'failed'> {
  const fail = async (err: unknown) => {
    ctx.metrics.actionFailures.inc({ operator: ctx.name, service: errorService(err) });
    await markSessionComplete(ctx, session, errorText(err));
    return 'failed' as const;
  };
  let plan: SessionPlan;
  try {
    const template = await ctx.services.bos.getSessionTemplate(session.template_name, session.tenant || null);
    plan = await planSession(ctx, session, template, inventory);
  } catch (err) {
    return fail(err);
  }
  const patches = planPatches(session, plan);
  const nodes = new Set(plan.nodes);
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
