/**
 * Filters (docs/operators.md, "Filters"). The first filter of an operator queries BOS; each later one narrows
 * its input and keeps input order. A later filter given no input returns [] without any call. A filter
 * that throws fails the pass (the runner records it), it never silently yields "no work".
 */
import type { Component } from '../common/types.js';
import { componentPages } from '../clients/bos.js';
import { describeError } from '../clients/http.js';
import type { CfsComponent, ComponentQuery } from '../clients/types.js';
import type { ListingView } from '../common/status-view.js';
import {
  actualBootStateIsSet,
  actualStateOlderThan,
  cfsLeftDisabled,
  desiredBootStateIsNone,
  desiredBootStateIsOff,
  desiredConfigurationIsNone,
  desiredConfigurationSetInCfs,
  lastActionIs,
  timeSinceLastAction,
} from './rules.js';
import type { Filter, PassContext } from './types.js';

/** A filter that keeps the components a predicate accepts (negate inverts it). */
function predicate(name: string, test: (ctx: PassContext, c: Component) => boolean, negate = false): Filter {
  return {
    name,
    async run(ctx, input) {
      return input.filter((c) => test(ctx, c) !== negate);
    },
  };
}

/**
 * GET /v2/components with `query`, paged by `max_component_batch_size`; with `view`, views where the
 * API makes them (full records from one that does not).
 */
export function bosQuery(query: ComponentQuery = {}, view?: ListingView): Filter {
  const shown = Object.entries(query)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join('&');
  return {
    name: `BOSQuery(${shown})`,
    async run(ctx) {
      return ctx.services.bos.listComponents(query, ctx.batchSize, { view });
    },
    pages(ctx) {
      return componentPages(ctx.services.bos, query, ctx.batchSize, { view });
    },
  };
}

/**
 * Keep the components HSM knows (POST State/Components/Query). With `enabled`, HSM filters on its
 * enabled flag; with `ready`, keep only those whose `State == "Ready"` equals `ready`.
 */
export function hsmState(opts: { enabled?: boolean; ready?: boolean } = {}): Filter {
  return {
    name: `HSMState(${opts.enabled === undefined ? '' : `enabled=${opts.enabled}`}${opts.ready === undefined ? '' : `ready=${opts.ready}`})`,
    async run(ctx, input) {
      if (input.length === 0) return [];
      const found = await ctx.services.hsm.queryComponents(
        input.map((c) => c.id),
        opts.enabled === undefined ? undefined : { enabled: opts.enabled },
      );
      const keep = new Set<string>();
      for (const h of found) {
        if (!h || typeof h.ID !== 'string') continue;
        if (opts.ready !== undefined && (h.State === 'Ready') !== opts.ready) continue;
        keep.add(h.ID);
      }
      return input.filter((c) => keep.has(c.id));
    },
  };
}

/** Last action missing or more than `seconds` ago (negate: within `seconds`). */
export function timeSinceLastActionFilter(seconds: number, negate = false): Filter {
  return predicate(`TimeSinceLastAction(${seconds}s${negate ? ', negate' : ''})`, (ctx, c) => timeSinceLastAction(c, seconds, ctx.clock.now()), negate);
}

/** Last action is one of a comma-separated list. */
export function lastActionIsFilter(actions: string, negate = false): Filter {
  const list = actions.split(',').map((s) => s.trim());
  return predicate(`LastActionIs(${actions})`, (_ctx, c) => lastActionIs(c, list), negate);
}

export function desiredBootStateIsNoneFilter(negate = false): Filter {
  return predicate('DesiredBootStateIsNone', (_ctx, c) => desiredBootStateIsNone(c), negate);
}

export function desiredBootStateIsOffFilter(negate = false): Filter {
  return predicate('DesiredBootStateIsOff', (_ctx, c) => desiredBootStateIsOff(c), negate);
}

export function desiredConfigurationIsNoneFilter(negate = false): Filter {
  return predicate('DesiredConfigurationIsNone', (_ctx, c) => desiredConfigurationIsNone(c), negate);
}

export function actualBootStateIsSetFilter(negate = false): Filter {
  return predicate('ActualBootStateIsSet', (_ctx, c) => actualBootStateIsSet(c), negate);
}

/** Actual state missing or last updated more than `seconds` ago. */
export function actualStateAgeFilter(seconds: number, negate = false): Filter {
  return predicate(`ActualStateAge(${seconds}s)`, (ctx, c) => actualStateOlderThan(c, seconds, ctx.clock.now()), negate);
}

/**
 * Components CFS has to be told their desired configuration: CFS's `desired_config` differs from
 * BOS's (upstream's DesiredConfigurationSetInCFS, negated), or CFS holds it but was left disabled for
 * a node that booted (cfsLeftDisabled; upstream would wait for that node forever). Components CFS
 * does not have are dropped with a warning: the status operator puts them on hold with "Component
 * information was not returned by cfs", and one of them must not stall configuration of every other
 * node.
 */
export function cfsNeedsDesiredConfigurationFilter(): Filter {
  return {
    name: 'CFSNeedsDesiredConfiguration',
    async run(ctx, input) {
      if (input.length === 0) return [];
      const records = await ctx.services.cfs.getComponents(input.map((c) => c.id));
      const byId = new Map<string, CfsComponent>();
      for (const r of records) if (r && typeof r.id === 'string') byId.set(r.id, r);
      const missing: string[] = [];
      const disabled: string[] = [];
      const now = ctx.clock.now();
      const out = input.filter((c) => {
        const r = byId.get(c.id);
        if (!r) {
          missing.push(c.id);
          return false;
        }
        if (!desiredConfigurationSetInCfs(c, r)) return true;
        if (!cfsLeftDisabled(c, r, now, ctx.options.max_boot_wait_time)) return false;
        disabled.push(c.id);
        return true;
      });
      if (missing.length > 0) {
        ctx.log.warn({ count: missing.length, ids: missing.slice(0, 20) }, `${missing.length} component(s) not found in CFS; skipped this pass`);
      }
      if (disabled.length > 0) {
        ctx.log.warn(
          { count: disabled.length, ids: disabled.slice(0, 20) },
          `CFS was disabled for ${disabled.length} booted component(s) whose configuration is still pending; enabling it so CFS configures them`,
        );
      }
      return out;
    },
  };
}

/** Union by id of two filters run on the same input (b's record wins), in a's-then-b's order. */
export function orFilter(a: Filter, b: Filter): Filter {
  return {
    name: `OR(${a.name}, ${b.name})`,
    async run(ctx, input) {
      const byId = new Map<string, Component>();
      for (const c of await a.run(ctx, input)) byId.set(c.id, c);
      for (const c of await b.run(ctx, input)) byId.set(c.id, c);
      return [...byId.values()];
    },
  };
}

/**
 * Run a filter list: the first gets `input` ([] when it is the BOS query), each later one the
 * previous output (skipped when empty).
 */
export async function runFilters(ctx: PassContext, filters: readonly Filter[], input: Component[] = []): Promise<Component[]> {
  let current = input;
  for (const [i, f] of filters.entries()) {
    if (i > 0 && current.length === 0) return [];
    try {
      current = await f.run(ctx, current);
    } catch (err) {
      throw new FilterError(f.name, err);
    }
    ctx.log.debug({ filter: f.name, count: current.length }, `filter ${f.name} kept ${current.length} component(s)`);
  }
  return current;
}

/**
 * The selection of a filter list, page by page where its first filter pages (a BOS query, page by
 * page through the HTTP client): each page of the query goes through the later filters on its own,
 * so a pass over 100,000 components holds a page of them at a time instead of all of them.
 * Otherwise one page: the whole selection. Pages are in the query's id order; a page may be empty.
 */
export async function* selectPages(ctx: PassContext, filters: readonly Filter[]): AsyncGenerator<Component[]> {
  const [first, ...later] = filters;
  if (!first?.pages) {
    yield await runFilters(ctx, filters);
    return;
  }
  const iterator = first.pages(ctx)[Symbol.asyncIterator]();
  try {
    for (;;) {
      let next: IteratorResult<Component[]>;
      try {
        next = await iterator.next();
      } catch (err) {
        throw new FilterError(first.name, err);
      }
      if (next.done) return;
      ctx.log.debug({ filter: first.name, count: next.value.length }, `filter ${first.name} gave a page of ${next.value.length} component(s)`);
      yield next.value.length === 0 ? [] : await runFilters(ctx, later, next.value);
    }
  } finally {
    await iterator.return?.();
  }
}

/** A filter failed; the pass fails with this error. */
export class FilterError extends Error {
  /** Recorded as the message alone. */
  readonly verbatim = true;
  constructor(
    readonly filter: string,
    cause: unknown,
  ) {
    super(`filter ${filter} failed: ${describeError(cause)}`, { cause });
    this.name = 'FilterError';
  }
}
