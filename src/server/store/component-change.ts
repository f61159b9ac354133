/**
 * Running component changes (ComponentTable.update) against the records read for them, the part both
 * stores share: each change sees what the changes before it in the same group wrote, and a change
 * that throws writes nothing.
 */
import type { Component } from '../../common/types.js';
import type { ComponentChange } from './store.js';

export interface ChangeJob {
  ids: readonly string[];
  change: ComponentChange;
}

/** Per id, what a job wrote (record, null: deleted, undefined: left), or what its change threw. */
type ChangeOutcome = { ok: true; written: (Component | null | undefined)[] } | { ok: false; error: unknown };

export interface ChangesRun {
  /** Per job, in order. */
  outcomes: ChangeOutcome[];
  /** What to store, per id: the record to write, or null to delete. */
  writes: Map<string, Component | null>;
}

/** Apply `jobs` in order to the records `read` gives (undefined where absent); returns what to store. */
export function runChanges(jobs: readonly ChangeJob[], read: (id: string) => Component | undefined): ChangesRun {
  const state = new Map<string, Component | undefined>();
  const writes = new Map<string, Component | null>();
  const outcomes = jobs.map((job): ChangeOutcome => {
    let written: (Component | null | undefined)[];
    try {
      written = job.ids.map((id) => {
        const out = job.change(state.has(id) ? state.get(id) : read(id), id);
        if (out && out.id !== id) throw new Error(`a change of component '${id}' gave a record of '${String(out.id)}'`);
        return out;
      });
    } catch (error) {
      return { ok: false, error };
    }
    job.ids.forEach((id, i) => {
      const w = written[i];
      if (w === undefined) return;
      state.set(id, w ?? undefined);
      writes.set(id, w);
    });
    return { ok: true, written };
  });
  return { outcomes, writes };
}
