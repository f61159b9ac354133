/**
 * power-off-graceful: enabled components waiting to power off get a PCS Soft-Off (docs/operators.md,
 * "power-off-graceful").
 */
import { bosQuery, hsmState } from './filters.js';
import type { FilterOperator } from './types.js';

export const powerOffGraceful: FilterOperator = {
  kind: 'filter',
  name: 'power-off-graceful',
  action: 'powering_off_gracefully',
  retryField: 'power_off_graceful_attempts',
  filters: () => [bosQuery({ enabled: true, status: 'power_off_pending' }), hsmState()],
  async act(ctx, batch) {
    await ctx.services.pcs.transition('Soft-Off', batch.map((c) => c.id));
  },
};
