/**
 * configuration: enabled components in the configuring phase whose desired configuration CFS does not
 * have yet get it, with CFS enabled for them (docs/operators.md, "configuration"); so do those for
 * which CFS holds it but was left disabled after they booted (cfsLeftDisabled). Records only `error`.
 */
import { setCfsDesiredConfig } from './cfs.js';
import { bosQuery, cfsNeedsDesiredConfigurationFilter } from './filters.js';
import type { FilterOperator } from './types.js';

export const configuration: FilterOperator = {
  kind: 'filter',
  name: 'configuration',
  filters: () => [bosQuery({ enabled: true, status: 'configuring' }), cfsNeedsDesiredConfigurationFilter()],
  async act(ctx, batch) {
    await setCfsDesiredConfig(ctx, batch, { enabled: true });
  },
};
