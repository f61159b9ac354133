/** Component endpoints and applystaged (docs/api.md, "Components"). */
import { attachStatus } from '../../common/status.js';
import type { BootArtifactsRecord, Component, ComponentPatch, Session } from '../../common/types.js';
import {
  checkParam,
  jsonBody,
  pathParam,
  queryBool,
  queryInt,
  queryParam,
  sendJson,
  sendWritten,
  sendWrittenComponents,
  tenantOf,
  type ServerContext,
} from '../context.js';
import { actualStateConflict, badRequest, recordNotFound } from '../problem.js';
import { applyStaged, type ApplyOutcome } from '../rules/applystaged.js';
import {
  actualStateUpdateAllowed,
  applyAutoFields,
  componentFilter,
  lastWinsById,
  mergeComponent,
  mergeMemo,
  prepareForOutput,
  tokensToResolve,
  type ComponentListQuery,
  type MergeMemo,
} from '../rules/components.js';
import { check, pyRepr } from '../schema.js';
import { compareIds, copyJson } from '../store/memory.js';
import type { RouteTable } from './table.js';
import { UPDATE_GROUP, type Store } from '../store/store.js';
import { sendListing } from '../listing.js';

/** Times applystaged reads what its change needs before it runs the change with what it has. */
const APPLY_STAGED_ROUNDS = 3;

/**
 * The ids a bulk PATCH may change (docs/api.md, "Bulk changes"): without skip_bad_ids, the first id
 * outside the tenant set is a 404; with it, such ids are dropped.
 */
function tenantIds(ids: string[], tenantSet: Set<string> | undefined, skipBadIds: boolean): string[] {
  if (!tenantSet) return ids;
  if (skipBadIds) return ids.filter((id) => tenantSet.has(id));
  const outside = ids.find((id) => !tenantSet.has(id));
  if (outside !== undefined) throw recordNotFound('Component', outside);
  return ids;
}

/**
 * Merge `patchOf(id)` into each stored record of `ids`, each atomically (docs/api.md, "Bulk changes"):
 * without skip_bad_ids an id not stored is a 404 with nothing written (checked first for lists longer
 * than the store changes at once); with it, such ids are left out. Returns the records written, in
 * order.
 */
async function mergeEach(store: Store, ids: readonly string[], skipBadIds: boolean, patchOf: (id: string) => ComponentPatch, memo?: MergeMemo): Promise<Component[]> {
  if (!skipBadIds && ids.length > UPDATE_GROUP) {
    const stored = await store.components.getManyShared(ids);
    const missing = stored.findIndex((c) => c === undefined);
    if (missing >= 0) throw recordNotFound('Component', ids[missing]!);
  }
  const written = await store.components.update(ids, (rec, id) => {
    if (rec) return mergeComponent(rec, patchOf(id), memo);
    if (!skipBadIds) throw recordNotFound('Component', id);
    return undefined;
  });
  return written.filter((c): c is Component => !!c);
}

function listQuery(req: Parameters<typeof queryParam>[0]): ComponentListQuery {
  const q: ComponentListQuery = {
    ids: queryParam(req, 'ids'),
    enabled: queryBool(req, 'enabled'),
    session: queryParam(req, 'session'),
    staged_session: queryParam(req, 'staged_session'),
    phase: queryParam(req, 'phase'),
    status: queryParam(req, 'status'),
    start_after_id: queryParam(req, 'start_after_id'),
    page_size: queryInt(req, 'page_size'),
  };
  // `ids` is a comma list: only its non-emptiness is checked (long lists are legitimate).
  if (q.ids === '') throw badRequest("'' is too short - 'ids'");
  checkParam('session', q.session, 'V2SessionName');
  checkParam('staged_session', q.staged_session, 'V2SessionName');
  checkParam('phase', q.phase, 'V2ComponentPhase');
  if (q.status !== undefined && q.status.length > 512) throw badRequest(`${pyRepr(q.status, 60)} is too long - 'status'`);
  checkParam('start_after_id', q.start_after_id, 'V2ComponentId');
  if (q.page_size !== undefined && (q.page_size < 0 || q.page_size > 1048576)) {
    throw badRequest(`${q.page_size} is ${q.page_size < 0 ? 'less than the minimum of 0' : 'greater than the maximum of 1048576'} - 'page_size'`);
  }
  return q;
}

/**
 * Every write of these routes hands its records over to the store: they are new objects (parsed from
 * the request, copied, or merged by mergeComponent()) that nothing changes afterwards, so the store
 * keeps them instead of copies. Every read-merge-write is one atomic update of the store.
 */
export function componentRoutes(ctx: ServerContext, routes: RouteTable): void {
  const { store } = ctx;

  routes.add('GET', '/v2/components', async (req, reply) => {
    const tenant = tenantOf(req);
    const q = listQuery(req);
    const tenantSet = await ctx.tenantSet(req, tenant);
    await ctx.options();
    const filter = componentFilter(q);
    const limit = q.page_size && q.page_size > 0 ? q.page_size : 0;
    if (q.ids !== undefined || tenantSet) {
      let ids = q.ids !== undefined ? [...new Set(q.ids.split(','))] : [...tenantSet!];
      if (q.ids !== undefined && tenantSet) ids = ids.filter((id) => tenantSet.has(id));
      ids.sort(compareIds);
      if (q.start_after_id !== undefined) {
        const after = q.start_after_id;
        ids = ids.filter((id) => compareIds(id, after) > 0);
      }
      // Shared records and their cached output JSON, as for a full listing (operators re-read by ids).
      const out: Component[] = [];
      const recs = ids.length ? await store.components.getManyShared(ids) : [];
      for (const r of recs) {
        if (r && (!filter || filter(r))) {
          out.push(r);
          if (limit && out.length >= limit) break;
        }
      }
      return sendListing(req, reply, out);
    } else {
      // The store's own records, uncopied (they are only read, through outputPieces, never changed),
      // each shown through its cached output JSON: a record object stands for one stored value, so
      // repeated listings (operators poll them) serialise only what changed since the last one.
      const recs = await store.components.listShared({ startAfter: q.start_after_id, filter, limit });
      return sendListing(req, reply, recs);
    }
  });

  routes.add('PUT', '/v2/components', async (req, reply) => {
    const body = jsonBody<Component[]>(req, 'V2ComponentArrayWithIds');
    if (body.some((c) => !c.id)) throw badRequest("At least one component is missing the required 'id' field");
    await ctx.options();
    const artifacts = await ctx.artifactsFor(body);
    const now = ctx.now();
    const records = [...lastWinsById(body).values()].map((c) => applyAutoFields(c, now, artifacts));
    await store.components.putMany(records, { handover: true });
    return sendWrittenComponents(req, reply, records);
  });

  routes.add('PATCH', '/v2/components', async (req, reply) => {
    const skipBadIds = queryBool(req, 'skip_bad_ids') ?? false;
    const body = jsonBody<unknown>(req, undefined);
    let invalid: string | undefined;
    if (Array.isArray(body)) invalid = check('V2ComponentArrayWithIds', body);
    else if (body !== null && typeof body === 'object') invalid = check('V2ComponentsUpdate', body);
    else invalid = `${pyRepr(body)} is not valid under any of the given schemas`;
    if (invalid) throw badRequest(invalid);
    const tenant = tenantOf(req);
    const tenantSet = await ctx.tenantSet(req, tenant);
    await ctx.options();
    const now = ctx.now();
    let merged: Component[];
    if (Array.isArray(body)) {
      const items = body as Component[];
      const artifacts = await ctx.artifactsFor(items);
      for (const item of items) applyAutoFields(item, now, artifacts);
      const byId = lastWinsById(items);
      merged = await mergeEach(store, tenantIds([...byId.keys()], tenantSet, skipBadIds), skipBadIds, (id) => byId.get(id)!);
    } else {
      const { patch, filters } = body as { patch: ComponentPatch; filters: { ids?: string | null; session?: string | null } };
      delete patch.id;
      if (filters.ids && filters.session) throw badRequest('Multiple filters provided');
      if (!filters.ids && !filters.session) throw badRequest('No filter provided.');
      applyAutoFields(patch, now, await ctx.artifactsFor([patch]));
      if (filters.ids) {
        // One patch for every id: records sharing a part get one merged part (mergeMemo()).
        merged = await mergeEach(store, tenantIds([...new Set(filters.ids.split(','))], tenantSet, skipBadIds), skipBadIds, () => patch, mergeMemo());
      } else {
        const session = filters.session!;
        const inSession = (c: Component) => c.session === session && (!tenantSet || tenantSet.has(c.id));
        const ids = (await store.components.listShared({ filter: inSession })).map((c) => c.id);
        // Records that left the session since the listing are left alone. Upstream writes the status
        // it shows with each record: the patch is merged into the record with its status attached.
        const written = await store.components.update(ids, (c) => (c && inSession(c) ? mergeComponent(attachStatus(copyJson(c)), patch) : undefined));
        merged = written.filter((c): c is Component => !!c);
      }
    }
    return sendWrittenComponents(req, reply, merged);
  });

  routes.add('GET', '/v2/components/:component_id', async (req, reply) => {
    const id = pathParam(req, 'component_id', 'V2ComponentId');
    const tenantSet = await ctx.tenantSet(req, tenantOf(req));
    if (tenantSet && !tenantSet.has(id)) throw recordNotFound('Component', id);
    await ctx.options();
    const rec = await store.components.get(id);
    if (!rec) throw recordNotFound('Component', id);
    return sendJson(reply, 200, prepareForOutput(rec));
  });

  routes.add('PUT', '/v2/components/:component_id', async (req, reply) => {
    const id = pathParam(req, 'component_id', 'V2ComponentId');
    const body = jsonBody<ComponentPatch>(req, 'V2Component');
    await ctx.options();
    const { id: _ignored, ...rest } = body;
    const record: Component = { id, ...rest };
    applyAutoFields(record, ctx.now(), await ctx.artifactsFor([record]));
    await store.components.putMany([record], { handover: true });
    return sendWritten(req, reply, record);
  });

  routes.add('PATCH', '/v2/components/:component_id', async (req, reply) => {
    const id = pathParam(req, 'component_id', 'V2ComponentId');
    const patch = jsonBody<ComponentPatch>(req, 'V2Component');
    const tenantSet = await ctx.tenantSet(req, tenantOf(req));
    if (tenantSet && !tenantSet.has(id)) throw recordNotFound('Component', id);
    await ctx.options();
    delete patch.id;
    const artifacts = await ctx.artifactsFor([patch]);
    // A node's state report changes nothing but its actual state; its change event says so.
    const report = Object.keys(patch).every((k) => k === 'actual_state');
    applyAutoFields(patch, ctx.now(), artifacts);
    const [rec] = await store.components.update(
      [id],
      (stored) => {
        if (!stored) throw recordNotFound('Component', id);
        if ('actual_state' in patch && !actualStateUpdateAllowed(stored)) throw actualStateConflict();
        return mergeComponent(stored, patch);
      },
      report ? { op: 'report' } : {},
    );
    return sendWritten(req, reply, rec);
  });

  routes.add('DELETE', '/v2/components/:component_id', async (req, reply) => {
    const id = pathParam(req, 'component_id', 'V2ComponentId');
    const tenantSet = await ctx.tenantSet(req, tenantOf(req));
    if (tenantSet && !tenantSet.has(id)) throw recordNotFound('Component', id);
    await ctx.options();
    if (!(await store.components.delete(id))) throw recordNotFound('Component', id);
    return reply.code(204).send();
  });

  routes.add('POST', '/v2/applystaged', async (req, reply) => {
    const body = jsonBody<{ xnames?: string[] } | undefined>(req, 'V2ApplyStagedComponents', { optional: true });
    const xnames = body?.xnames ?? [];
    const tenant = tenantOf(req);
    const tenantSet = await ctx.tenantSet(req, tenant);
    const options = await ctx.options();
    const result = { succeeded: [] as string[], failed: [] as string[], ignored: [] as string[] };
    let toProcess = xnames;
    if (tenantSet) {
      const unique = [...new Set(xnames)];
      result.ignored = unique.filter((id) => !tenantSet.has(id));
      toProcess = unique.filter((id) => tenantSet.has(id));
    }
    const distinct = [...new Set(toProcess)];
    const times = new Map<string, number>();
    for (const id of toProcess) times.set(id, (times.get(id) ?? 0) + 1);
    const now = ctx.now();
    // The staged sessions and boot-artifact records the change needs are read before it; a record found
    // naming others (changed since) is left for another round, once those are read too.
    const sessions = new Map<string, Session | undefined>();
    const artifacts = new Map<string, BootArtifactsRecord>();
    const tokensRead = new Set<string>();
    const readFor = async (recs: readonly (Component | undefined)[]) => {
      for (const rec of recs) {
        const staged = rec?.staged_state?.session;
        if (staged && !sessions.has(staged)) sessions.set(staged, await store.sessions.get(tenant, staged));
      }
      const tokens = tokensToResolve(recs.filter((c): c is Component => c !== undefined)).filter((t) => !tokensRead.has(t));
      for (const [t, rec] of await ctx.artifactsFor(tokens.map((t) => ({ actual_state: { bss_token: t } })))) artifacts.set(t, rec);
      for (const t of tokens) tokensRead.add(t);
    };
    const lacks = (rec: Component) =>
      (!!rec.staged_state?.session && !sessions.has(rec.staged_state.session)) || tokensToResolve([rec]).some((t) => !tokensRead.has(t));
    /** Per id, the outcome of each time it was named, in order. */
    const outcomes = new Map<string, ApplyOutcome[]>();
    await readFor(await store.components.getManyShared(distinct));
    let todo = distinct;
    for (let round = 1; todo.length > 0; round++) {
      const lacking = new Map<string, Component>();
      await store.components.update(todo, (rec, id) => {
        lacking.delete(id);
        if (rec && round < APPLY_STAGED_ROUNDS && lacks(rec)) {
          lacking.set(id, rec);
          return undefined;
        }
        // An id named several times is applied that many times, each on the result of the one before.
        let work = rec ? copyJson(rec) : undefined;
        let written: Component | undefined;
        const list: ApplyOutcome[] = [];
        for (let k = 0; k < times.get(id)!; k++) {
          const staged = work?.staged_state?.session;
          const { outcome, record } = applyStaged(work, staged ? sessions.get(staged) : undefined, { tenant, clearStage: options.clear_stage, now, artifacts });
          list.push(outcome);
          if (record) {
            written = record;
            work = copyJson(record);
          }
        }
        outcomes.set(id, list);
        return written;
      });
      todo = [...lacking.keys()];
      await readFor([...lacking.values()]);
    }
    for (const id of toProcess) result[outcomes.get(id)!.shift()!].push(id);
    return sendJson(reply, 200, result);
  });
}

