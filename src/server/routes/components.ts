/** Component endpoints and applystaged (api.md §2). */
import { createHash, randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { attachStatus, shownStatus } from '../../common/status.js';
import { STATUS_VIEW_MEDIA_TYPE, statusViewShowing } from '../../common/status-view.js';
import type { Component, ComponentPatch, Session } from '../../common/types.js';
import {
  checkParam,
  jsonBody,
  pathParam,
  queryBool,
  queryInt,
  queryParam,
  sendJson,
  sendWritten,
  sendJsonArray,
  sendJsonItems,
  tenantOf,
  type ServerContext,
} from '../context.js';
import { actualStateConflict, badRequest, recordNotFound } from '../problem.js';
import { outputPieces } from '../record-json.js';
import { applyStaged } from '../rules/applystaged.js';
import {
  actualStateUpdateAllowed,
  applyAutoFields,
  componentFilter,
  lastWinsById,
  mergeComponent,
  prepareForOutput,
  type ComponentListQuery,
} from '../rules/components.js';
import { check, pyRepr } from '../schema.js';
import { compareIds, copyJson } from '../store/memory.js';
import type { RouteTable } from './table.js';
import type { Store, WriteMeta } from '../store/store.js';

/**
 * Load the records a bulk PATCH names (api.md §2.3): without skip_bad_ids, the first id outside the
 * tenant set, then the first id not stored, is a 404; with it, such ids are dropped. The store's
 * own records (read-only): mergeComponent() leaves them as they are.
 */
async function loadTargets(ctx: ServerContext, ids: string[], tenantSet: Set<string> | undefined, skipBadIds: boolean): Promise<readonly Component[]> {
  if (tenantSet) {
    if (!skipBadIds) {
      const outside = ids.find((id) => !tenantSet.has(id));
      if (outside !== undefined) throw recordNotFound('Component', outside);
    } else {
      ids = ids.filter((id) => tenantSet.has(id));
    }
  }
  const recs = await ctx.store.components.getManyShared(ids);
  const out: Component[] = [];
  for (let i = 0; i < ids.length; i++) {
    const r = recs[i];
    if (r) out.push(r);
    else if (!skipBadIds) throw recordNotFound('Component', ids[i]!);
  }
  return out;
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
 * What the listings know of each record object listShared() gives: its output JSON and its revision
 * number. Sound because a store never changes such a record in place: a changed value is a new
 * object, so a new key here (and the old entry is collected with the old object). Repeated full
 * listings (operators poll them) then cost little more than fetching the values and joining their
 * texts. Kept as strings, not buffers: a buffer per record is an ArrayBuffer per record, whose
 * allocation and collection cost more than encoding the text once per answer. The strings are the
 * pieces outputPieces() gives: the record's small fields around the remembered texts of its states,
 * which a changed record shares with the one it replaced (record-json.ts).
 *
 * Entity tags of component listings (an extension: upstream sends none) come from the revision
 * numbers. A listing's tag names the exact record objects it shows, in order: each record object
 * gets a revision number when first seen (a changed record is a new object, so a new revision), and
 * the tag is a digest of those numbers and this process's own random prefix (another API process
 * numbers its records on its own, so its tags never match ours). Equal tags therefore mean equal
 * answers, and a GET with `If-None-Match` naming the tag is answered 304 Not Modified, with no body
 * to send or parse: an operator re-reading a page before it writes decisions made from it (the
 * status operator) learns in one small answer that nothing on the page changed.
 */
interface Shown {
  rec: Component;
  revision: number;
  json?: string[];
  /** The status view's JSON (status-view.ts), for listings that ask for it. */
  view?: string[];
}
const shown = new WeakMap<Component, Shown>();
let lastRevision = 0;
const TAG_PREFIX = randomBytes(6).toString('base64url');

function shownOf(c: Component): Shown {
  let s = shown.get(c);
  if (s === undefined) shown.set(c, (s = { rec: c, revision: ++lastRevision }));
  return s;
}

function outputJson(s: Shown): string[] {
  return (s.json ??= outputPieces(s.rec));
}

/** The status view's JSON: `JSON.stringify(statusView(outputView(rec)))`, with one copy of the record instead of two. */
function statusViewJson(s: Shown): string[] {
  return (s.view ??= [JSON.stringify(statusViewShowing(s.rec, shownStatus(s.rec)))]);
}

/** The tag of a listing of these records; a listing of their status views has another one. */
function listingTag(records: readonly Shown[], view: boolean): string {
  const numbers = new Float64Array(records.length);
  for (let i = 0; i < records.length; i++) numbers[i] = records[i]!.revision;
  return `"${TAG_PREFIX}${view ? '.sv' : ''}.${records.length}.${createHash('sha1').update(numbers).digest('base64url')}"`;
}

/** Whether the Accept header asks for status views (with any quality above 0). */
function wantsStatusView(req: FastifyRequest): boolean {
  const accept = req.headers.accept;
  if (!accept || !accept.includes(STATUS_VIEW_MEDIA_TYPE)) return false;
  return accept.split(',').some((range) => {
    const [type, ...params] = range.split(';').map((p) => p.trim());
    if (type !== STATUS_VIEW_MEDIA_TYPE) return false;
    const q = params.find((p) => p.startsWith('q='));
    return q === undefined || Number(q.slice(2)) > 0;
  });
}

/** Whether an If-None-Match header (a list of tags, or `*`) names `tag`; weak tags compare equal to strong ones. */
function noneMatchHas(header: string | string[] | undefined, tag: string): boolean {
  if (header === undefined) return false;
  const list = (Array.isArray(header) ? header.join(',') : header).split(',').map((t) => t.trim().replace(/^W\//, ''));
  return list.includes('*') || list.includes(tag);
}

/** A listing: 304 when the client already holds it (If-None-Match), else the records' cached JSON; with its tag either way. */
function sendListing(req: FastifyRequest, reply: FastifyReply, recs: readonly Component[]): FastifyReply {
  const records = recs.map(shownOf);
  const view = wantsStatusView(req);
  const tag = listingTag(records, view);
  reply.header('etag', tag);
  reply.header('vary', 'Accept');
  if (noneMatchHas(req.headers['if-none-match'], tag)) return reply.code(304).send();
  if (!view) return sendJsonItems(reply, 200, records, outputJson);
  return sendJsonItems(reply, 200, records, statusViewJson, STATUS_VIEW_MEDIA_TYPE);
}

/**
 * Write components. Every write of these routes hands its records over to the store: they are new
 * objects (parsed from the request, copied, or merged by mergeComponent()) that nothing changes
 * afterwards, so the store keeps them instead of copies.
 */
function writeComponents(store: Store, records: Component[], meta: WriteMeta = {}): Promise<void> {
  return store.components.putMany(records, { ...meta, handover: true });
}

/**
 * Per-component write locks: a request that reads, merges and writes components holds the ids it
 * touches, so concurrent PATCHes of one component (an operator's bulk update and the node's state
 * report) are applied one after the other instead of the later write dropping the earlier one.
 * Registration is synchronous, so requests queue in arrival order and cannot deadlock.
 */
class ComponentLocks {
  private readonly tails = new Map<string, Promise<void>>();

  async hold(ids: Iterable<string>): Promise<() => void> {
    const keys = [...new Set(ids)];
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const earlier: Promise<void>[] = [];
    for (const id of keys) {
      const prev = this.tails.get(id);
      if (prev) earlier.push(prev);
      this.tails.set(id, mine);
    }
    await Promise.all(earlier);
    return () => {
      for (const id of keys) if (this.tails.get(id) === mine) this.tails.delete(id);
      release();
    };
  }

  /** Run `fn` holding `ids`. */
  async with<T>(ids: Iterable<string>, fn: () => Promise<T>): Promise<T> {
    const release = await this.hold(ids);
    try {
      return await fn();
    } finally {
      release();
    }
  }
}

export function componentRoutes(ctx: ServerContext, routes: RouteTable): void {
  const { store } = ctx;
  const locks = new ComponentLocks();

  routes.add('GET', '/v2/components', async (req, reply) => {
    const tenant = tenantOf(req);
    const q = listQuery(req);
    const tenantSet = await ctx.tenantSet(tenant);
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
    await writeComponents(store, records);
    return sendWritten(req, reply, records);
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
    const tenantSet = await ctx.tenantSet(tenant);
    await ctx.options();
    const now = ctx.now();
    const merged: Component[] = [];
    if (Array.isArray(body)) {
      const items = body as Component[];
      const artifacts = await ctx.artifactsFor(items);
      for (const item of items) applyAutoFields(item, now, artifacts);
      const byId = lastWinsById(items);
      await locks.with(byId.keys(), async () => {
        const targets = await loadTargets(ctx, [...byId.keys()], tenantSet, skipBadIds);
        for (const rec of targets) merged.push(mergeComponent(rec, byId.get(rec.id)!));
        if (merged.length) await writeComponents(store, merged);
      });
    } else {
      const { patch, filters } = body as { patch: ComponentPatch; filters: { ids?: string | null; session?: string | null } };
      delete patch.id;
      if (filters.ids && filters.session) throw badRequest('Multiple filters provided');
      if (!filters.ids && !filters.session) throw badRequest('No filter provided.');
      applyAutoFields(patch, now, await ctx.artifactsFor([patch]));
      if (filters.ids) {
        const ids = [...new Set(filters.ids.split(','))];
        await locks.with(ids, async () => {
          const targets = await loadTargets(ctx, ids, tenantSet, skipBadIds);
          for (const rec of targets) merged.push(mergeComponent(rec, patch));
          if (merged.length) await writeComponents(store, merged);
        });
      } else {
        const session = filters.session!;
        const inSession = (c: Component) => c.session === session && (!tenantSet || tenantSet.has(c.id));
        const listed = await store.components.list({ filter: inSession });
        const ids = listed.map((c) => c.id);
        await locks.with(ids, async () => {
          // Read again under the locks: the listing may predate a write that was waited for.
          const targets = (await store.components.getMany(ids)).filter((c): c is Component => c !== undefined && inSession(c));
          for (const c of targets) attachStatus(c);
          for (const rec of targets) merged.push(mergeComponent(rec, patch));
          if (merged.length) await writeComponents(store, merged);
        });
      }
    }
    return sendWritten(req, reply, merged);
  });

  routes.add('GET', '/v2/components/:component_id', async (req, reply) => {
    const id = pathParam(req, 'component_id', 'V2ComponentId');
    const tenantSet = await ctx.tenantSet(tenantOf(req));
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
    await locks.with([id], () => writeComponents(store, [record]));
    return sendWritten(req, reply, record);
  });

  routes.add('PATCH', '/v2/components/:component_id', async (req, reply) => {
    const id = pathParam(req, 'component_id', 'V2ComponentId');
    const patch = jsonBody<ComponentPatch>(req, 'V2Component');
    const tenantSet = await ctx.tenantSet(tenantOf(req));
    if (tenantSet && !tenantSet.has(id)) throw recordNotFound('Component', id);
    await ctx.options();
    delete patch.id;
    const artifacts = await ctx.artifactsFor([patch]);
    const rec = await locks.with([id], async () => {
      const [stored] = await store.components.getManyShared([id]);
      if (!stored) throw recordNotFound('Component', id);
      if ('actual_state' in patch && !actualStateUpdateAllowed(stored)) throw actualStateConflict();
      // A node's state report changes nothing but its actual state; its change event says so.
      const report = Object.keys(patch).every((k) => k === 'actual_state');
      applyAutoFields(patch, ctx.now(), artifacts);
      const rec = mergeComponent(stored, patch);
      await writeComponents(store, [rec], report ? { op: 'report' } : {});
      return rec;
    });
    return sendWritten(req, reply, rec);
  });

  routes.add('DELETE', '/v2/components/:component_id', async (req, reply) => {
    const id = pathParam(req, 'component_id', 'V2ComponentId');
    const tenantSet = await ctx.tenantSet(tenantOf(req));
    if (tenantSet && !tenantSet.has(id)) throw recordNotFound('Component', id);
    await ctx.options();
    if (!(await locks.with([id], () => store.components.delete(id)))) throw recordNotFound('Component', id);
    return reply.code(204).send();
  });

  routes.add('POST', '/v2/applystaged', async (req, reply) => {
    const body = jsonBody<{ xnames?: string[] } | undefined>(req, 'V2ApplyStagedComponents', { optional: true });
    const xnames = body?.xnames ?? [];
    const tenant = tenantOf(req);
    const tenantSet = await ctx.tenantSet(tenant);
    const options = await ctx.options();
    const result = { succeeded: [] as string[], failed: [] as string[], ignored: [] as string[] };
    let toProcess = xnames;
    if (tenantSet) {
      const unique = [...new Set(xnames)];
      result.ignored = unique.filter((id) => !tenantSet.has(id));
      toProcess = unique.filter((id) => tenantSet.has(id));
    }
    const distinct = [...new Set(toProcess)];
    const release = await locks.hold(distinct);
    try {
      const loaded = await store.components.getMany(distinct);
      const current = new Map<string, Component>();
      distinct.forEach((id, i) => {
        if (loaded[i]) current.set(id, loaded[i]!);
      });
      const artifacts = await ctx.artifactsFor(current.values());
      const sessions = new Map<string, Session | undefined>();
      const toWrite = new Map<string, Component>();
      const now = ctx.now();
      for (const id of toProcess) {
        const rec = current.get(id);
        const staged = rec?.staged_state?.session;
        let session: Session | undefined;
        if (rec && staged) {
          if (!sessions.has(staged)) sessions.set(staged, await store.sessions.get(tenant, staged));
          session = sessions.get(staged);
        }
        const work = rec ? copyJson(rec) : undefined;
        const { outcome, record } = applyStaged(work, session, { tenant, clearStage: options.clear_stage, now, artifacts });
        result[outcome].push(id);
        if (record) {
          current.set(id, record);
          toWrite.set(id, record);
        }
      }
      if (toWrite.size) await writeComponents(store, [...toWrite.values()]);
    } finally {
      release();
    }
    return sendJson(reply, 200, result);
  });
}

