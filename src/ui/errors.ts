/**
 * Where failures cluster: the nodes' errors grouped by their exact text, most common first (as the
 * extended status's error_summary groups them). Pure, and free of Node and DOM APIs.
 */
import type { Component } from '../common/types.js';

export interface ErrorGroup {
  text: string;
  count: number;
  /** The first few ids, in the order given (the API lists in id order). */
  ids: string[];
}

/** The groups of non-empty errors, most nodes first, then by text; at most `max` groups. */
export function errorGroups(components: readonly Pick<Component, 'id' | 'error'>[], max = 5, idsPerGroup = 5): ErrorGroup[] {
  const groups = new Map<string, ErrorGroup>();
  for (const c of components) {
    if (!c.error) continue;
    let g = groups.get(c.error);
    if (!g) groups.set(c.error, (g = { text: c.error, count: 0, ids: [] }));
    g.count++;
    if (g.ids.length < idsPerGroup) g.ids.push(c.id);
  }
  return [...groups.values()].sort((a, b) => b.count - a.count || (a.text < b.text ? -1 : a.text > b.text ? 1 : 0)).slice(0, max);
}
