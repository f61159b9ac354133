/**
 * status: for every enabled component, decide its phase from PCS power state, CFS and its own record
 * (the decision tree is `decideStatus` in rules.ts) and write what changed (docs/operators.md, "status"). It
 * also keeps the `bos_components` gauge: enabled components every pass, disabled ones from a full
 * listing at most once a minute (so a large idle system is not listed every pass).
 */
import { isDeepStrictEqual } from 'node:util';
import type { Component, ComponentPatch } from '../common/types.js';
import { computeStatus } from '../common/status.js';
import { statusView } from '../common/status-view.js';
import { componentPages } from '../clients/bos.js';
import type { PowerState } from '../clients/types.js';
import { CfsRecords, type CfsWait } from './cfs-records.js';
import { componentKey, type OperatorMetrics } from '../metrics.js';
import { applyStatusPatch, buildStatusPatch, decideStatus, PCS_MISSING_ERROR, splitBatches } from './rules.js';
import { patchComponents } from './runner.js';
import { errorText } from './errors.js';
import type { PassContext, PassOperator } from './types.js';

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

/** Least time between two full listings for the component counts. */
const CENSUS_INTERVAL_MS = 60_000;

/** Disabled components from the last full listing, per metrics registry. */
interface Census {
  at: number;
  disabled: Map<string, string>;
}
const censuses = new WeakMap<OperatorMetrics, Census>();

/**
 * Whether two reads of a component agree on what its status decision is made from (besides PCS and
 * CFS). Two full records are compared as they are; a status view (status-view.ts) with anything else
 * is compared as views (a view decides what its full record decides).
 */
export function sameDecisionInputs(a: Component, b: Component): boolean {
  if (a.status_facts || b.status_facts) {
    a = statusView(a);
    b = statusView(b);
    if (!isDeepStrictEqual(a.status_facts, b.status_facts)) return false;
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
 * compare, nothing to parse); else the patched components by id. If BOS cannot be read, all patches.
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
    ctx.log.warn({ err: errorText(err) }, 'could not re-read the components before writing their status; writing anyway');
    return patches;
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

export const status: PassOperator = {
  kind: 'pass',
  name: 'status',
  async pass(ctx) {
    const startMs = ctx.clock.now();
    const previous = censuses.get(ctx.metrics);
    const full = !previous || startMs - previous.at >= CENSUS_INTERVAL_MS;
    const census: Census = full ? { at: startMs, disabled: new Map() } : previous;
    if (full) censuses.set(ctx.metrics, census);
    const keys = new Map<string, string>();
    let selected = 0;
    let updated = 0;
    let errored = 0;
    // CFS is read once per pass, from the first batch's PCS question on, page by page beside the
    // pass (a batch is decided once its components' records have come): every CFS component (no
    // id filter), or only the pass's components when they are few (CFS_BY_ID_MAX). Upstream's once
    // per batch made a pass over n components read n/batch full CFS listings (quadratic: 36
    // listings of 100,000 records at 100,000 components).
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
    const allWritten = async (): Promise<void> => {
      while (writes.length > 0) await writes.shift();
    };
    const decideBatch = async ({ batch, page, power: asked, cfs: records }: Asked): Promise<void> => {
      selected += batch.length;
      const power = await asked;
      await records!.ready;
      const nowMs = ctx.clock.now();
      const patches: ComponentPatch[] = [];
      for (const c of batch) {
        const decision = decideStatus({
          component: c,
          powerState: power.get(c.id),
          cfs: cfs!.get(c.id),
          nowMs,
          maxBootWaitTime: ctx.options.max_boot_wait_time,
          maxPowerOnWaitTime: ctx.options.max_power_on_wait_time,
        });
        const patch = buildStatusPatch(c, decision);
        if (patch) {
          patches.push(patch);
          if (patch.error) {
            errored++;
            ctx.metrics.componentErrors.inc({ operator: ctx.name, service: patch.error === PCS_MISSING_ERROR ? 'pcs' : 'cfs' });
          }
          if (patch.error || patch.last_action?.failed) {
            ctx.log.info(
              { id: c.id, error: patch.error, action_failed: patch.last_action?.failed === true },
              `component ${c.id}: ${patch.error || 'last action failed'}`,
            );
          }
        }
        const after = applyStatusPatch(c, patch);
        keys.set(c.id, componentKey(computeStatus(after), after.status?.phase ?? '', after.enabled === true));
        if (after.enabled !== true) census.disabled.set(c.id, keys.get(c.id)!);
      }
      // The re-read and the write go on while the next batches are read and decided (at most
      // WRITES_IN_FLIGHT batches being written, started in batch order): the API answers this batch's
      // re-read and works on its PATCH while this process parses the next page and decides it, and
      // has the next PATCH at hand when it is done with this one. A failed write fails the pass at a
      // later batch or at the end.
      while (writes.length >= WRITES_IN_FLIGHT) await writes.shift();
      const write = (async () => {
        const current = await stillCurrent(ctx, batch, patches, page);
        await patchComponents(ctx.services, current);
        updated += current.length;
      })();
      write.catch(() => undefined); // awaited later; this only keeps it from being an unhandled rejection meanwhile
      writes.push(write);
    };
    // Page by page where the client can (each page a batch): a pass over 100,000 components then
    // holds one page of them at a time instead of all of them, which bounds the operators' memory.
    // Each batch comes with the page it came from, for its conditional re-read.
    const query = full ? {} : { enabled: true };
    // `short`: the page holds fewer components than asked for, so it is probably the listing's last.
    async function* batches(): AsyncGenerator<{ batch: Component[]; page: Component[]; short: boolean }> {
      for await (const page of componentPages(ctx.services.bos, query, ctx.batchSize, { view: 'status' })) {
        const enabled: Component[] = [];
        for (const c of page) {
          if (c.enabled === true) enabled.push(c);
          else if (full) census.disabled.set(c.id, componentKey(computeStatus(c), c.status?.phase ?? '', false));
        }
        const short = !(ctx.batchSize > 0) || page.length < ctx.batchSize;
        for (const batch of splitBatches(enabled, ctx.batchSize)) yield { batch, page, short };
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
      for await (const { batch, page, short } of batches()) {
        const ids = batch.map((c) => c.id);
        const power = ctx.services.pcs.powerStatus(ids);
        power.catch(() => undefined); // awaited when the batch is decided; a pass that fails first never asks
        asked.push({ batch, ids, page, power, cfs: cfs?.whenHas(ids) });
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
    await allWritten();
    for (const [id, key] of census.disabled) if (!keys.has(id)) keys.set(id, key);
    const counts = new Map<string, number>();
    for (const k of keys.values()) counts.set(k, (counts.get(k) ?? 0) + 1);
    ctx.metrics.setComponentCounts(counts);
    return { selected, acted: updated, errored };
  },
};
