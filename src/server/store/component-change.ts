/**
 * Running component changes (ComponentTable.update) against the records read for them, the part both
 * stores share: each change sees what the changes before it in the same batch wrote, and a change
 * that throws writes nothing.
 */
import type { Component } from '../../common/types.js';
import type { ComponentChange } from './store.js';

export interface ChangeJob {
  ids: readonly string[];
  change: ComponentChange<unknown>;
}

export type ChangeOutcome = { ok: true; value: unknown } | { ok: false; error: unknown };

export interface ChangesRun {
  /** Per job, in order: its result, or what it threw. */
  outcomes: ChangeOutcome[];
  /** What to store, per id: the record to write, or null to delete. */
  writes: Map<string, Component | null>;
}

/** Apply `jobs` in order to the records `read` gives (undefined where absent); returns what to store. */
export function runChanges(jobs: readonly ChangeJob[], read: (id: string) => Component | undefined): ChangesRun {
  const state = new Map<string, Component | undefined>();
  const current = (id: string) => (state.has(id) ? state.get(id) : read(id));
  const writes = new Map<string, Component | null>();
  const outcomes = jobs.map((job): ChangeOutcome => {
    try {
      const out = job.change(job.ids.map(current));
      const named = job.ids.length > 8 ? new Set(job.ids) : job.ids;
      const has = (id: string) => (named instanceof Set ? named.has(id) : named.includes(id));
      for (const rec of out.write ?? []) {
        if (!has(rec.id)) throw new Error(`a component change wrote '${rec.id}', which its update did not name`);
      }
      for (const id of out.delete ?? []) {
        if (!has(id)) throw new Error(`a component change deleted '${id}', which its update did not name`);
      }
      for (const rec of out.write ?? []) {
        state.set(rec.id, rec);
        writes.set(rec.id, rec);
      }
      for (const id of out.delete ?? []) {
        state.set(id, undefined);
        writes.set(id, null);
      }
      return { ok: true, value: out.result };
    } catch (error) {
      return { ok: false, error };
    }
  });
  return { outcomes, writes };
}
