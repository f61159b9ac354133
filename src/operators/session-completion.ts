/**
 * session-completion: a running session is complete when no enabled component has it as its session and
 * no component has it staged — for a tenant session, counting only the tenant's components
 * (docs/operators.md, "session-completion"). A failure on one session is logged and fails the pass
 * after the other sessions were looked at.
 */
import type { Session } from '../common/types.js';
import { parseTimestamp } from '../common/clock.js';
import { errorText } from './errors.js';
import { markSessionComplete } from './sessions.js';
import type { PassContext, PassOperator } from './types.js';

async function isComplete(ctx: PassContext, session: Session): Promise<boolean> {
  const bos = ctx.services.bos;
  // Staged components first: applystaged moves a component from staged to enabled-in-the-session
  // (never back), so reading the enabled ones afterwards cannot miss a component applied between
  // the two reads (read the other way round, both could come back empty mid-apply).
  // Without a tenant any one component decides (limit 1: one small request, however many nodes the
  // session holds); a tenant session needs the ids to count only the tenant's components.
  const limit = session.tenant ? 0 : 1;
  const staged = await bos.listComponents({ staged_session: session.name }, ctx.batchSize, { limit });
  if (limit && staged.length > 0) return false;
  const active = await bos.listComponents({ session: session.name, enabled: true }, ctx.batchSize, { limit });
  const ids = new Set([...active, ...staged].map((c) => c.id));
  if (ids.size === 0) return true;
  if (!session.tenant) return false;
  const owned = await ctx.services.tenants.tenantXnames(session.tenant);
  if (owned === null) throw new Error(`Data not found for tenant ${session.tenant}`);
  for (const id of ids) if (owned.has(id)) return false;
  return true;
}

export const sessionCompletion: PassOperator = {
  kind: 'pass',
  name: 'session-completion',
  gateTurn: 'first',
  async pass(ctx) {
    const running = await ctx.services.bos.listSessions({ status: 'running' });
    const completed = new Set<string>();
    const failures: string[] = [];
    for (const session of running) {
      try {
        if (await isComplete(ctx, session)) {
          await markSessionComplete(ctx, session);
          completed.add(session.name);
        }
      } catch (err) {
        const text = errorText(err);
        failures.push(`${session.name}: ${text}`);
        ctx.log.error({ session: session.name, err: text }, `could not check session ${session.name}: ${text}`);
      }
    }
    const still = running.filter((s) => !completed.has(s.name));
    ctx.metrics.sessions.set({ status: 'running' }, still.length);
    // Only the sessions still running: one that completed (or was deleted) leaves the series.
    ctx.metrics.sessionStart.reset();
    for (const s of still) {
      const ms = parseTimestamp(s.status?.start_time);
      if (Number.isFinite(ms)) ctx.metrics.sessionStart.set({ session: s.name, tenant: s.tenant ?? '' }, ms / 1000);
    }
    if (failures.length > 0) {
      throw new Error(`could not check ${failures.length} running session(s): ${failures.join('; ')}`);
    }
    return { selected: running.length, acted: completed.size };
  },
};
