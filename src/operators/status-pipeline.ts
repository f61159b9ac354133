/**
 * The I/O of a status pass, pipelined (docs/operators.md, "status"): the enabled components listed
 * page by page (status views where the API makes them), each batch's PCS power states asked one batch
 * ahead, CFS read once per pass beside it, the decision of each batch made as soon as its inputs are
 * here, and its patches re-read and written while the next batches are decided. The decision itself
 * is the caller's (status.ts).
 */
import { isDeepStrictEqual } from 'node:util';
import type { Component, ComponentPatch } from '../common/types.js';
import { statusView, type ListedComponent } from '../common/status-view.js';
import { componentPages } from '../clients/bos.js';
import type { ComponentQuery, PowerState } from '../clients/types.js';
import { CfsRecords, type CfsWait } from './cfs-records.js';
import { splitBatches } from './rules.js';
import { patchComponents } from './runner.js';
import { errorText } from './errors.js';
import type { PassContext } from './types.js';

/** A batch to decide, with the page it came from, PCS's answer for it (asked ahead) and the wait for its CFS records. */
interface Asked {
  batch: Component[];
  ids: string[];
  page: Component[];
  power: Promise<Map<string, PowerState>>;
  cfs?: CfsWait;
}

/** Batches a status pass has being re-read and written at once, while it goes on deciding the next. */
export const WRITES_IN_FLIGHT = 2;

/**
 * A pass whose enabled components all came in its first page, and are at most this many, asks CFS
 * for them by id (CFS_GET_BATCH ids per request) instead of reading every CFS component: a pass over
 * a few components of a large system then reads a few CFS records, not the whole system's.
 */
export const CFS_BY_ID_MAX = 1000;

/** Batches a status pass lists and asks PCS about while the oldest one waits for its CFS records. */
export const AHEAD_WHILE_CFS = 4;

/**
 * Whether two reads of a component agree on what its status decision is made from (besides PCS and
 * CFS). Two full records are compared as they are; a status view (status-view.ts) with anything else
 * is compared as views (a view decides what its full record decides).
 */
export function sameDecisionInputs(a: ListedComponent, b: ListedComponent): boolean {
  if (a.status_facts || b.status_facts) {
    const [va, vb] = [statusView(a), statusView(b)];
    if (!isDeepStrictEqual(va.status_facts, vb.status_facts)) return false;
    a = va;
    b = vb;
  }
  return (
    (a.enabled === true) === (b.enabled === true) &&
    (a.session ?? '') === (b.session ?? '') &&
    (a.status?.status_override ?? '') === (b.status?.status_override ?? '') &&
    (a.status?.phase ?? '') === (b.status?.phase ?? '') &&
    isDeepStrictEqual(a.last_action ?? null, b.last_action ?? null) &&
    isDeepStrictEqual(a.desired_state ?? null, b.desired_state ?? null) &&
    isDeepStrictEqual(a.actual_state ?? null, b.actual_state ?? null)
  );
}

/**
 * The patches whose component is still as this pass read it. A session that sets a component up
 * while PCS and CFS are being asked would otherwise have its fresh desired state silently
 * disabled (or its phase overwritten) by a decision made from the old record; a changed component
 * is decided again next pass. When most of the batch's page is patched, the page is read again
 * conditionally where the API tags its pages (a 304 says no record on it changed: nothing to
 * compare, nothing to parse); else the patched components by id. If BOS cannot be read, none.
 */
async function stillCurrent(ctx: PassContext, batch: readonly Component[], patches: ComponentPatch[], page?: Component[]): Promise<ComponentPatch[]> {
  if (patches.length === 0) return patches;
  let fresh: Component[];
  try {
    // Only when at least half the page is patched: a page whose other records changed (node reports
    // during a boot) is answered in full, which must not cost much more than reading the patched ones.
    const conditional = page && ctx.services.bos.rereadPage && patches.length * 2 >= page.length;
    const again = conditional ? await ctx.services.bos.rereadPage!(page) : undefined;
    if (again === 'unchanged') return patches;
    fresh = again ?? (await ctx.services.bos.listComponents({ ids: patches.map((p) => p.id).join(',') }, ctx.batchSize));
  } catch (err) {
    // A decision written unchecked could disable a component a new session has just set up.
    ctx.log.warn({ err: errorText(err), count: patches.length }, 'could not re-read the components before writing their status; they are decided again next pass');
    return [];
  }
  const read = new Map(batch.map((c) => [c.id, c]));
  const now = new Map(fresh.map((c) => [c.id, c]));
  const kept = patches.filter((p) => {
    const before = read.get(p.id!);
    const after = now.get(p.id!);
    return before !== undefined && after !== undefined && sameDecisionInputs(before, after);
  });
  if (kept.length < patches.length) {
    const keptIds = new Set(kept.map((p) => p.id));
    const skipped = patches.filter((p) => !keptIds.has(p.id)).map((p) => p.id);
    ctx.log.info({ count: skipped.length, ids: skipped.slice(0, 20) }, `${skipped.length} component(s) changed during the pass; decided again next pass`);
  }
  return kept;
}

/** What a pass's decision of one batch is given. */
export interface BatchInputs {
  batch: readonly Component[];
  power: ReadonlyMap<string, PowerState>;
  cfs: CfsRecords;
}

/**
 * Run a status pass's I/O over the components `query` lists: `page` sees every listed page (the
 * census of disabled components), `decide` each batch of enabled ones with their PCS and CFS inputs,
 * and gives the patches to write. Resolves once every write is done; the first failure fails it.
 */
export async function pipelinedPass(
  ctx: PassContext,
  query: ComponentQuery,
  page: (components: readonly Component[]) => void,
  decide: (inputs: BatchInputs) => ComponentPatch[],
): Promise<{ selected: number; updated: number }> {
  let selected = 0;
  let updated = 0;
  // CFS is read once per pass, from the first batch's PCS question on, page by page beside the
  // pass (a batch is decided once its components' records have come): every CFS component (no
  // id filter), or only the pass's components when they are few (CFS_BY_ID_MAX). Reading it once per
  // batch made a pass over n components read n/batch full CFS listings (quadratic: 36 listings of
  // 100,000 records at 100,000 components).
  let cfs: CfsRecords | undefined;
  const readCfs = (ids?: string[]): CfsRecords => {
    const { cfs: client } = ctx.services;
    if (ids === undefined && client.componentPages) return new CfsRecords(client.componentPages());
    return new CfsRecords((async function* () {
      yield await client.getComponents(ids);
    })());
  };
  // Batches being re-read and written, oldest first (at most WRITES_IN_FLIGHT).
  const writes: Promise<void>[] = [];
  const decideBatch = async ({ batch, page: from, power: asked, cfs: records }: Asked): Promise<void> => {
    selected += batch.length;
    const power = await asked;
    await records!.ready;
    const patches = decide({ batch, power, cfs: cfs! });
    // The re-read and the write go on while the next batches are read and decided (at most
    // WRITES_IN_FLIGHT batches being written, started in batch order): the API answers this batch's
    // re-read and works on its PATCH while this process parses the next page and decides it, and
    // has the next PATCH at hand when it is done with this one. A failed write fails the pass at a
    // later batch or at the end.
    while (writes.length >= WRITES_IN_FLIGHT) await writes.shift();
    const write = (async () => {
      const current = await stillCurrent(ctx, batch, patches, from);
      await patchComponents(ctx.services, current);
      updated += current.length;
    })();
    write.catch(() => undefined); // awaited later; this only keeps it from being an unhandled rejection meanwhile
    writes.push(write);
  };
  // Page by page where the client can (each page a batch): a pass over 100,000 components then
  // holds one page of them at a time instead of all of them, which bounds the operators' memory.
  // Each batch comes with the page it came from, for its conditional re-read.
  // `short`: the page holds fewer components than asked for, so it is probably the listing's last.
  async function* batches(): AsyncGenerator<{ batch: Component[]; page: Component[]; short: boolean }> {
    for await (const listed of componentPages(ctx.services.bos, query, ctx.batchSize, { view: 'status' })) {
      page(listed);
      const enabled = listed.filter((c) => c.enabled === true);
      const short = !(ctx.batchSize > 0) || listed.length < ctx.batchSize;
      for (const batch of splitBatches(enabled, ctx.batchSize)) yield { batch, page: listed, short };
    }
  }
  const startCfs = (ids?: string[]): void => {
    cfs = readCfs(ids);
    for (const a of asked) a.cfs = cfs.whenHas(a.ids);
  };
  // PCS is asked for the next batch's power states while this one is decided and written (one
  // batch ahead; up to AHEAD_WHILE_CFS batches while the oldest waits for its CFS records): PCS
  // answers and the API lists while this process works instead of in between.
  const asked: Asked[] = [];
  try {
    for await (const { batch, page: from, short } of batches()) {
      const ids = batch.map((c) => c.id);
      const power = ctx.services.pcs.powerStatus(ids);
      power.catch(() => undefined); // awaited when the batch is decided; a pass that fails first never asks
      asked.push({ batch, ids, page: from, power, cfs: cfs?.whenHas(ids) });
      // CFS for everything when the pass has more than one batch; a first page that looks like
      // the last waits to see whether it is (the pass's only batch is then asked for by id).
      if (!cfs && (asked.length > 1 || !short)) startCfs();
      while (asked.length > 1 && (asked.length > AHEAD_WHILE_CFS || asked[0]!.cfs?.here)) await decideBatch(asked.shift()!);
    }
    if (!cfs && asked.length > 0) startCfs(asked.length === 1 && asked[0]!.ids.length <= CFS_BY_ID_MAX ? asked[0]!.ids : undefined);
    while (asked.length > 0) await decideBatch(asked.shift()!);
  } catch (err) {
    await Promise.allSettled(writes); // no write of this pass outlives it
    throw err;
  } finally {
    (cfs as CfsRecords | undefined)?.close();
  }
  while (writes.length > 0) await writes.shift();
  return { selected, updated };
}
