/** Session routines shared by session setup and session completion. */
import { timestamp } from '../common/clock.js';
import type { Session } from '../common/types.js';
import type { PassContext } from './types.js';

/**
 * Mark a session complete (docs/operators.md, "session-completion"): PATCH its status to complete with
 * `end_time` now (and `error` when given), then POST .../status so the server keeps its extended
 * status. Both carry the session's tenant header when it has a tenant.
 */
export async function markSessionComplete(ctx: PassContext, session: Session, error?: string): Promise<void> {
  const status: Session['status'] = { status: 'complete', end_time: timestamp(ctx.clock) };
  if (error) status.error = error;
  const tenant = session.tenant || null;
  await ctx.services.bos.patchSession(session.name, tenant, { status });
  await ctx.services.bos.saveSessionStatus(session.name, tenant);
  ctx.metrics.sessionsCompleted.inc({ outcome: error ? 'failed' : 'succeeded' });
  if (error) ctx.log.warn({ session: session.name, tenant, err: error }, `session ${session.name} failed: ${error}`);
  else ctx.log.info({ session: session.name, tenant }, `session ${session.name} is complete`);
}
