/**
 * configuration: enabled components in the configuring phase whose desired configuration CFS does not
 * have yet get it, with CFS enabled for them (spec operators §4.6). Records only `error`.
 */
import { setCfsDesiredConfig } from './cfs.js';
import { bosQuery, desiredConfigurationSetInCfsFilter } from './filters.js';
import type { FilterOperator } from './types.js';

export const configuration: FilterOperator = {
  kind: 'filter',
  name: 'configuration',
  filters: () => [bosQuery({ enabled: true, status: 'configuring' }), desiredConfigurationSetInCfsFilter(true)],
  async act(ctx, batch) {
    await setCfsDesiredConfig(ctx, batch, { enabled: true });
  },
};
