import type { OperatorName } from '../operators/types.js';
import type { Runner } from '../operators/runner.js';
import type { ChangeBus, ChangeKind } from './bus.js';

/**
 * Which operators a change can give work to. Discovery and the two clean-up operators follow
 * their own periods; everything else reacts to component and session writes.
 */
export const WAKE_ON: Readonly<Record<ChangeKind, readonly OperatorName[]>> = {
  components: ['power-on', 'power-off-graceful', 'power-off-forceful', 'configuration', 'status', 'session-completion'],
  sessions: ['session-setup', 'session-completion'],
  templates: [],
  options: [
    'session-setup',
    'power-on',
    'power-off-graceful',
    'power-off-forceful',
    'configuration',
    'status',
    'session-completion',
  ],
};

/** Subscribe the runners to the bus; returns the function that unsubscribes. */
export function wakeOnChanges(bus: ChangeBus, operators: ReadonlyMap<OperatorName, Runner>): () => void {
  return bus.subscribe((event) => {
    for (const name of WAKE_ON[event.kind] ?? []) operators.get(name)?.wake();
  });
}
