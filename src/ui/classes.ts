/**
 * What colour a node is drawn in: one class per thing an administrator looks for during a boot.
 * Pure, and free of Node and DOM APIs (it runs in the web view's bundle); the status itself comes
 * from the one status rule (src/common/status.ts).
 */
import { computeStatus } from '../common/status.js';
import type { Component } from '../common/types.js';

/** The classes, in the order the legend shows them. */
export const NODE_CLASSES = ['powering_off', 'powering_on', 'configuring', 'stable', 'failed', 'on_hold', 'disabled'] as const;
export type NodeClass = (typeof NODE_CLASSES)[number];

/** Legend texts. */
export const CLASS_LABELS: Readonly<Record<NodeClass, string>> = {
  powering_off: 'powering off',
  powering_on: 'powering on',
  configuring: 'configuring',
  stable: 'stable',
  failed: 'failed',
  on_hold: 'on hold',
  disabled: 'disabled',
};

/** Fill colours (distinct in hue and lightness, on the view's dark background). */
export const CLASS_COLOURS: Readonly<Record<NodeClass, string>> = {
  powering_off: '#a78bfa',
  powering_on: '#facc15',
  configuring: '#38bdf8',
  stable: '#22c55e',
  failed: '#ef4444',
  on_hold: '#fb923c',
  disabled: '#4b5563',
};

/** What the class of a node says, for its tooltip and the legend's title. */
export const CLASS_MEANINGS: Readonly<Record<NodeClass, string>> = {
  powering_off: 'BOS is powering it off',
  powering_on: 'BOS is powering it on and it has not booted the desired image yet',
  configuring: 'booted; its CFS configuration is being applied',
  stable: 'nothing left to do: it reached the desired state of its session',
  failed: 'BOS gave up on it: see its error',
  on_hold: 'held by BOS (just enabled, waiting for the status operator) or an administrator override',
  disabled: 'BOS is not acting on it (in no session, or disabled before it was done)',
};

type Shown = Pick<Component, 'enabled' | 'status' | 'last_action' | 'session'>;

/**
 * The class of a component as the API lists it. Overrides first (failed; any other is a hold), then
 * the phase of an enabled node; a node BOS does not act on is stable when it finished its session,
 * else disabled.
 */
export function nodeClass(c: Shown): NodeClass {
  const status = computeStatus(c);
  if (status === 'failed') return 'failed';
  if (c.status?.status_override) return 'on_hold';
  const phase = c.status?.phase ?? '';
  if (c.enabled !== true) return phase === '' && c.session ? 'stable' : 'disabled';
  if (phase === 'powering_on' || phase === 'powering_off' || phase === 'configuring') return phase;
  return 'stable';
}

/** Index of a class in NODE_CLASSES (what the grid keeps per node). */
export function classIndex(k: NodeClass): number {
  return NODE_CLASSES.indexOf(k);
}

/** Nodes per class, every class present (0 when none). */
export function countClasses(classes: ArrayLike<number>): Record<NodeClass, number> {
  const counts = Object.fromEntries(NODE_CLASSES.map((k) => [k, 0])) as Record<NodeClass, number>;
  for (let i = 0; i < classes.length; i++) {
    const k = NODE_CLASSES[classes[i]!];
    if (k) counts[k]++;
  }
  return counts;
}
