/**
 * session-cleanup: deletes complete sessions older than `cleanup_completed_session_ttl` (server-side
 * age check); a TTL whose number is 0 disables it (docs/operators.md, "session-cleanup"). Also reports how many
 * complete sessions exist.
 */
import { sessionCleanupDisabled } from './rules.js';
import type { PassOperator } from './types.js';

export const sessionCleanup: PassOperator = {
  kind: 'pass',
  name: 'session-cleanup',
  gateTurn: 'last',
  async pass(ctx) {
    const ttl = ctx.options.cleanup_completed_session_ttl;
    if (sessionCleanupDisabled(ttl)) {
      ctx.log.debug({ ttl }, 'session cleanup is disabled (cleanup_completed_session_ttl is 0)');
    } else {
      await ctx.services.bos.deleteSessions({ status: 'complete', min_age: ttl });
    }
    const complete = await ctx.services.bos.listSessions({ status: 'complete' });
    ctx.metrics.sessions.set({ status: 'complete' }, complete.length);
    return { selected: 0, acted: 0 };
  },
};
