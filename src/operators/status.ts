/**
 * status: for every enabled component, decide its phase from PCS power state, CFS and its own record
 * (the decision tree is `decideStatus` in rules.ts) and write what changed (docs/operators.md, "status"). It
 * also keeps the `bos_components` gauge: enabled components every pass, disabled ones from a full
 * listing at most once a minute (so a large idle system is not listed every pass). The I/O, pipelined,
 * is status-pipeline.ts.
 */
import type { ComponentPatch } from '../common/types.js';
import { computeStatus } from '../common/status.js';
import { componentKey, type OperatorMetrics } from '../metrics.js';
import { applyStatusPatch, buildStatusPatch, decideStatus, PCS_MISSING_ERROR } from './rules.js';
import { pipelinedPass } from './status-pipeline.js';
import type { PassOperator } from './types.js';

export { AHEAD_WHILE_CFS, CFS_BY_ID_MAX, sameDecisionInputs, WRITES_IN_FLIGHT } from './status-pipeline.js';

/** Least time between two full listings for the component counts. */
const CENSUS_INTERVAL_MS = 60_000;

/** Disabled components from the last full listing, per metrics registry. */
interface Census {
  at: number;
  disabled: Map<string, string>;
}
const censuses = new WeakMap<OperatorMetrics, Census>();

export const status: PassOperator = {
  kind: 'pass',
  name: 'status',
  // First at the gate: it finishes what the other passes started (nodes booted are done).
  gateTurn: 'first',
  async pass(ctx) {
    const startMs = ctx.clock.now();
    const previous = censuses.get(ctx.metrics);
    const full = !previous || startMs - previous.at >= CENSUS_INTERVAL_MS;
    const census: Census = full ? { at: startMs, disabled: new Map() } : previous;
    if (full) censuses.set(ctx.metrics, census);
    const keys = new Map<string, string>();
    let errored = 0;
    const { selected, updated } = await pipelinedPass(
      ctx,
      full ? {} : { enabled: true },
      (page) => {
        if (!full) return;
        for (const c of page) if (c.enabled !== true) census.disabled.set(c.id, componentKey(computeStatus(c), c.status?.phase ?? '', false));
      },
      ({ batch, power, cfs }) => {
        const nowMs = ctx.clock.now();
        const patches: ComponentPatch[] = [];
        for (const c of batch) {
          const decision = decideStatus({
            component: c,
            powerState: power.get(c.id),
            cfs: cfs.get(c.id),
            nowMs,
            maxBootWaitTime: ctx.options.max_boot_wait_time,
            maxPowerOnWaitTime: ctx.options.max_power_on_wait_time,
          });
          const patch = buildStatusPatch(c, decision);
          if (patch) {
            patches.push(patch);
            if (patch.error) {
              errored++;
              ctx.metrics.componentErrors.inc({ operator: ctx.name, service: patch.error === PCS_MISSING_ERROR ? 'pcs' : 'cfs' });
            }
            if (patch.error || patch.last_action?.failed) {
              ctx.log.info(
                { id: c.id, error: patch.error, action_failed: patch.last_action?.failed === true },
                `component ${c.id}: ${patch.error || 'last action failed'}`,
              );
            }
          }
          const after = applyStatusPatch(c, patch);
          keys.set(c.id, componentKey(computeStatus(after), after.status?.phase ?? '', after.enabled === true));
          if (after.enabled !== true) census.disabled.set(c.id, keys.get(c.id)!);
        }
        return patches;
      },
    );
    for (const [id, key] of census.disabled) if (!keys.has(id)) keys.set(id, key);
    const counts = new Map<string, number>();
    for (const k of keys.values()) counts.set(k, (counts.get(k) ?? 0) + 1);
    ctx.metrics.setComponentCounts(counts);
    return { selected, acted: updated, errored };
  },
};
