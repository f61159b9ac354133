/**
 * power-off-forceful: components whose power-off was called more than `max_power_off_wait_time` ago
 * and are still not off get a PCS Force-Off, again every wait period until the retry limit
 * (docs/operators.md, "power-off-forceful").
 */
import { bosQuery, hsmState, timeSinceLastActionFilter } from './filters.js';
import type { FilterOperator } from './types.js';

export const powerOffForceful: FilterOperator = {
  kind: 'filter',
  name: 'power-off-forceful',
  action: 'powering_off_forcefully',
  retryField: 'power_off_forceful_attempts',
  filters: (ctx) => [
    bosQuery({ enabled: true, status: 'power_off_forcefully_called,power_off_gracefully_called' }),
    timeSinceLastActionFilter(ctx.options.max_power_off_wait_time),
    hsmState(),
  ],
  async act(ctx, batch) {
    await ctx.services.pcs.transition('Force-Off', batch.map((c) => c.id));
  },
};
