/** Handing desired configurations to CFS, shared by power-on and configuration. */
import type { Component } from '../common/types.js';
import type { PassContext } from './types.js';

/**
 * PATCH CFS for `components`, one call per (desired configuration, session) pair (the client splits
 * each into 1000-id requests): `desired_config`, `tags.bos_session`, `enabled`, and with `clearState`
 * an empty state history.
 */
export async function setCfsDesiredConfig(
  ctx: PassContext,
  components: readonly Component[],
  opts: { enabled: boolean; clearState?: boolean },
): Promise<void> {
  const groups = new Map<string, { config: string; session: string; ids: string[] }>();
  for (const c of components) {
    const config = c.desired_state?.configuration ?? '';
    const session = c.session ?? '';
    const key = JSON.stringify([config, session]);
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { config, session, ids: [] }));
    g.ids.push(c.id);
  }
  for (const g of groups.values()) {
    await ctx.services.cfs.setDesiredConfig(g.ids, g.config, {
      enabled: opts.enabled,
      session: g.session,
      ...(opts.clearState ? { clearState: true } : {}),
    });
  }
}
