/**
 * discovery: every HSM node BOS does not know yet becomes a disabled BOS component with empty states
 * (docs/operators.md, "discovery"). Never deletes components HSM no longer lists. Runs every
 * `discovery_frequency` seconds.
 */
import { componentPages } from '../clients/bos.js';
import { emptyActualState, emptyDesiredState } from '../common/constants.js';
import type { Component } from '../common/types.js';
import { splitBatches } from './rules.js';
import type { PassOperator } from './types.js';

/** The record a newly discovered node gets. */
function newComponentRecord(id: string): Component {
  return {
    id,
    actual_state: emptyActualState(),
    desired_state: emptyDesiredState(),
    staged_state: {},
    last_action: { action: 'newly_discovered', failed: false },
    enabled: false,
    error: '',
    session: '',
  };
}

export const discovery: PassOperator = {
  kind: 'pass',
  name: 'discovery',
  // Last at the gate: no boot waits on it.
  gateTurn: 'last',
  frequency: 'discovery_frequency',
  async pass(ctx) {
    const hsm = await ctx.services.hsm.listComponents();
    const nodes = new Set(hsm.filter((h) => h && h.Type === 'Node' && typeof h.ID === 'string').map((h) => h.ID));
    // Only the ids of what BOS holds are kept, page by page where the client pages (a listing of
    // 100,000 whole records would otherwise be held at once just for their ids).
    const known = new Set<string>();
    for await (const page of componentPages(ctx.services.bos, {}, ctx.batchSize)) for (const c of page) known.add(c.id);
    const missing = [...nodes].filter((id) => !known.has(id)).sort();
    if (missing.length === 0) return { selected: 0, acted: 0 };
    ctx.log.info({ count: missing.length, ids: missing.slice(0, 20) }, `discovered ${missing.length} new node(s) in HSM`);
    for (const batch of splitBatches(missing, ctx.batchSize)) {
      await ctx.services.bos.putComponents(batch.map(newComponentRecord), { discardAnswer: true });
    }
    return { selected: missing.length, acted: missing.length };
  },
};
