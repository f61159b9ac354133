import type { OperatorName } from '../operators/types.js';
import type { Runner } from '../operators/runner.js';
import type { ChangeBus, ChangeEvent, ChangeKind } from './bus.js';

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

/**
 * A node's actual-state report gives work to the status operator only: the other operators select
 * by phase, which only the status operator's own writes change. During a boot most component
 * events are reports, so this keeps the others from listing components after every burst.
 */
const WAKE_ON_REPORT: readonly OperatorName[] = ['status'];

/** The operators an event can give work to. */
export function operatorsToWake(event: ChangeEvent): readonly OperatorName[] {
  if (event.kind === 'components' && event.op === 'report') return WAKE_ON_REPORT;
  return WAKE_ON[event.kind] ?? [];
}

/** Subscribe the runners to the bus; returns the function that unsubscribes. */
export function wakeOnChanges(bus: ChangeBus, operators: ReadonlyMap<OperatorName, Runner>): () => void {
  return bus.subscribe((event) => {
    for (const name of operatorsToWake(event)) operators.get(name)?.wake();
  });
}
