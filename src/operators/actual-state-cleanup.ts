/**
 * actual-state-cleanup: a component whose actual boot state has not been reported for longer than
 * `component_actual_state_ttl` has its actual state emptied (docs/operators.md, "actual-state-cleanup").
 */
import { emptyActualState } from '../common/constants.js';
import { parseDuration } from '../common/duration.js';
import { actualBootStateIsSetFilter, actualStateAgeFilter, bosQuery } from './filters.js';
import { patchComponents } from './runner.js';
import type { FilterOperator } from './types.js';

export const actualStateCleanup: FilterOperator = {
  kind: 'filter',
  name: 'actual-state-cleanup',
  gateTurn: 'last',
  action: 'actual_state_cleanup',
  filters: (ctx) => [
    bosQuery(),
    actualBootStateIsSetFilter(),
    actualStateAgeFilter(parseDuration(ctx.options.component_actual_state_ttl)),
  ],
  async act(ctx, batch) {
    await patchComponents(
      ctx.services,
      batch.map((c) => ({ id: c.id, actual_state: emptyActualState() })),
    );
  },
};
