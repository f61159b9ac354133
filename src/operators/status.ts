/**
 * status: for every enabled component, decide its phase from PCS power state, CFS and its own record
 * (the decision tree is `decideStatus` in rules.ts) and write what changed (spec operators §5). Sets
 * the per-status/phase component gauge.
 */
import type { Component, ComponentPatch } from '../common/types.js';
import { computeStatus } from '../common/status.js';
import type { CfsComponent } from '../clients/types.js';
import { statusPhaseKey } from '../metrics.js';
import { applyStatusPatch, buildStatusPatch, decideStatus, splitBatches } from './rules.js';
import { patchComponents } from './runner.js';
import type { PassOperator } from './types.js';

export const status: PassOperator = {
  kind: 'pass',
  name: 'status',
  async pass(ctx) {
    const components = await ctx.services.bos.listComponents({ enabled: true }, ctx.batchSize);
    const counts = new Map<string, number>();
    let updated = 0;
    let errored = 0;
    for (const batch of splitBatches(components, ctx.batchSize)) {
      const power = await ctx.services.pcs.powerStatus(batch.map((c) => c.id));
      const cfsById = new Map<string, CfsComponent>();
      for (const r of await ctx.services.cfs.getComponents()) if (r && typeof r.id === 'string') cfsById.set(r.id, r);
      const nowMs = ctx.clock.now();
      const patches: ComponentPatch[] = [];
      for (const c of batch) {
        const decision = decideStatus({
          component: c,
          powerState: power.get(c.id),
          cfs: cfsById.get(c.id),
          nowMs,
          maxBootWaitTime: ctx.options.max_boot_wait_time,
          maxPowerOnWaitTime: ctx.options.max_power_on_wait_time,
        });
        const patch = buildStatusPatch(c, decision);
        if (patch) {
          patches.push(patch);
          if (patch.error) errored++;
          if (patch.error || patch.last_action?.failed) {
            ctx.log.info({ id: c.id, error: patch.error, action_failed: patch.last_action?.failed === true }, `component ${c.id}: ${patch.error || 'last action failed'}`);
          }
        }
        const after: Component = applyStatusPatch(c, patch);
        const key = statusPhaseKey(computeStatus(after), after.status?.phase ?? '');
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
      await patchComponents(ctx.services, patches);
      updated += patches.length;
    }
    ctx.metrics.setComponentCounts(counts);
    return { selected: components.length, acted: updated, errored };
  },
};
