/** BOS v2 API client (docs/services.md, "The BOS API"). */
import type { Component, Session, SessionTemplate } from '../common/types.js';
import { chunk, expectArray, FIXED_READ_TIMEOUT_SECONDS, HttpClient, jsonType, type HttpClientOptions, type Query } from './http.js';
import { ServiceError, type BosClient, type ComponentQuery, type ListPagesOptions } from './types.js';
import pLimit from 'p-limit';
import { IDS_MEDIA_TYPE, TENANT_HEADER } from '../common/constants.js';
import { DESIRED_VIEW_MEDIA_TYPE, STATUS_VIEW_MEDIA_TYPE, type ListingView } from '../common/status-view.js';

/**
 * The longest `ids` query value upstream's API accepts (the parameter's schema is a component id,
 * `maxLength: 127`): a longer list goes as several GETs, sent at once (at most IDS_QUERIES_AT_ONCE).
 */
export const IDS_QUERY_MAX_LENGTH = 127;
const IDS_QUERIES_AT_ONCE = 32;
/** The longest `filters.ids` of an id-filter PATCH upstream's API accepts (`maxLength: 65535`). */
const IDS_FILTER_MAX_LENGTH = 65_535;

/** Comma lists of `ids`, in order, each at most `maxLength` characters (an id longer than that alone). */
export function idLists(ids: readonly string[], maxLength: number): string[] {
  const out: string[] = [];
  let current = '';
  for (const id of ids) {
    if (current !== '' && current.length + 1 + id.length > maxLength) {
      out.push(current);
      current = '';
    }
    current = current === '' ? id : `${current},${id}`;
  }
  if (current !== '') out.push(current);
  return out;
}
/**
 * When no answer is wanted, identical patches (apart from their id) of at least this many
 * components go as one `{"patch", "filters": {"ids"}}` PATCH instead of as items of a list: a status
 * pass that disables 100,000 booted nodes then sends their ids, not 100,000 copies of one patch for
 * the API to parse and check.
 */
export const FILTER_PATCH_MIN = 32;

/** A patch shared by several components, and their ids in the order given. */
interface SharedPatch {
  patch: Partial<Component>;
  ids: string[];
}

/**
 * Split patches into groups of identical ones (at least FILTER_PATCH_MIN) and the rest, in their
 * order. Patches naming one id twice are left as they are (a list's later item wins; split over
 * requests, which one did would depend on the order they were sent in).
 */
export function groupPatches(patches: readonly Partial<Component>[]): { shared: SharedPatch[]; rest: Partial<Component>[] } {
  const byText = new Map<string, SharedPatch>();
  const keyOf: string[] = new Array(patches.length);
  const seen = new Set<string>();
  for (let i = 0; i < patches.length; i++) {
    const { id, ...patch } = patches[i]!;
    if (typeof id !== 'string' || seen.has(id)) return { shared: [], rest: patches.slice() };
    seen.add(id);
    const key = (keyOf[i] = JSON.stringify(patch));
    const group = byText.get(key);
    if (group) group.ids.push(id);
    else byText.set(key, { patch, ids: [id] });
  }
  const shared = [...byText.values()].filter((g) => g.ids.length >= FILTER_PATCH_MIN);
  if (shared.length === 0) return { shared, rest: patches.slice() };
  const rest = patches.filter((_, i) => byText.get(keyOf[i]!)!.ids.length < FILTER_PATCH_MIN);
  return { shared, rest };
}

/** Bulk PATCH bodies for `patches`, each through `send`: identical ones by id filter, the rest as lists (chunked). */
async function sendGrouped(patches: readonly Partial<Component>[], chunkSize: number, send: (body: unknown) => Promise<void>): Promise<void> {
  const { shared, rest } = groupPatches(patches);
  for (const { patch, ids } of shared) {
    for (const part of chunk(ids, chunkSize)) {
      for (const list of idLists(part, IDS_FILTER_MAX_LENGTH)) await send({ patch, filters: { ids: list } });
    }
  }
  for (const part of chunk(rest, chunkSize)) await send(part);
}

export type BosClientOptions = Omit<HttpClientOptions, 'service' | 'baseUrl' | 'readTimeoutSeconds'> & {
  readTimeoutSeconds?: () => number;
};

const VIEW_MEDIA_TYPES: Record<ListingView, string> = { status: STATUS_VIEW_MEDIA_TYPE, desired: DESIRED_VIEW_MEDIA_TYPE };

/** An Accept header asking for an extension's media type, and plain JSON from an API without it. */
function preferring(type: string): string {
  return `${type}, application/json;q=0.9`;
}

function tenantHeaders(tenant: string | null | undefined): Record<string, string> | undefined {
  return tenant ? { [TENANT_HEADER]: tenant } : undefined;
}

function seg(name: string): string {
  return encodeURIComponent(name);
}

export class HttpBosClient implements BosClient {
  readonly http: HttpClient;
  /** Where each page listComponentPages() yielded came from, and the API's entity tag for it (if it sent one). */
  private readonly pageSources = new WeakMap<Component[], { query: Query; etag: string; headers: Record<string, string> }>();

  constructor(baseUrl: string, opts: BosClientOptions = {}) {
    this.http = new HttpClient({
      readTimeoutSeconds: () => FIXED_READ_TIMEOUT_SECONDS,
      ...opts,
      service: 'bos',
      baseUrl,
    });
  }

  close(): void {
    this.http.close();
  }

  async getOptions(): Promise<Record<string, unknown>> {
    const body = await this.http.get('/options');
    if (!body || typeof body !== 'object' || Array.isArray(body)) {
      throw new ServiceError('bos', 'GET', '/options', undefined, `Expected a JSON object in the response to GET /options, got ${jsonType(body)}`);
    }
    return body as Record<string, unknown>;
  }

  async listComponents(query: ComponentQuery, pageSize: number, opts: { limit?: number; view?: ListingView } = {}): Promise<Component[]> {
    const limit = Math.max(0, Math.floor(opts.limit ?? 0));
    const view = { view: opts.view };
    const ids = query.ids === undefined ? undefined : query.ids.split(',').filter((s) => s.length > 0);
    const lists = ids ? idLists(ids, IDS_QUERY_MAX_LENGTH) : [];
    if (lists.length > 1) {
      const at = pLimit(IDS_QUERIES_AT_ONCE);
      const parts = await Promise.all(lists.map((list) => at(() => this.listPaged({ ...query, ids: list }, pageSize, 0, view))));
      const seen = new Map<string, Component>();
      for (const part of parts) for (const c of part) seen.set(c.id, c);
      const all = [...seen.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      return limit > 0 ? all.slice(0, limit) : all;
    }
    return this.listPaged(query, pageSize, limit, view);
  }

  private async *pages(query: ComponentQuery, pageSize: number, limit: number, opts: ListPagesOptions = {}): AsyncGenerator<Component[]> {
    let size = Math.max(0, Math.floor(pageSize));
    if (limit > 0 && (size === 0 || size > limit)) size = limit;
    const base: Query = { ...query, page_size: size };
    // Views where the API makes them; full records (application/json) from one that does not.
    const headers: Record<string, string> = opts.view ? { accept: preferring(VIEW_MEDIA_TYPES[opts.view]) } : {};
    // Look-ahead: from the second page on, the next page is asked for as soon as a page's text has
    // arrived, with the cursor read from the text (the last `{"id":"…"`), so the API serialises
    // page k+1 while this process parses page k. The cursor is checked against the parsed page; a
    // look-ahead that guessed wrong (or an API whose records do not start with their id) is
    // simply not used.
    const lookAhead = size > 0 && limit === 0;
    // Look-aheads by cursor: a page that arrives while the caller still works on an earlier one
    // asks for its own successor, so more than one can be waiting, but never more than
    // LOOK_AHEAD_PAGES past the page the caller holds: a caller slower than the API (an operator
    // acting on each page) would otherwise have the whole listing fetched and parsed ahead of it,
    // which is the memory that paging is there to save. A successor held back is asked for as soon
    // as the caller takes the next page.
    const ahead = new Map<string, ReturnType<typeof fetchPage>>();
    let generation = 0; // bumped when a look-ahead guessed wrong: its chain stops there
    let taken = 0; // pages handed to the caller (page n is the nth of the listing)
    let held: { cursor: string; n: number; gen: number } | undefined;
    const startAhead = (cursor: string, n: number, gen: number): void => {
      if (ahead.has(cursor)) return;
      const page = fetchPage(cursor, n, gen);
      page.catch(() => undefined); // a look-ahead nobody uses must not be an unhandled rejection
      ahead.set(cursor, page);
    };
    const fetchPage = async (cursor: string | undefined, n: number, gen: number): Promise<{ body: unknown; query: Query; etag: unknown }> => {
      const pageQuery = cursor === undefined ? base : { ...base, start_after_id: cursor };
      const res = await this.http.request('GET', '/components', {
        query: pageQuery,
        headers,
        beforeParse:
          lookAhead && cursor !== undefined
            ? (text) => {
                if (gen !== generation) return;
                // Only after a full page (as the pager itself would ask again), so no request is added.
                const { count, lastId: next } = scanPage(text);
                if (next === undefined || count !== size) return;
                if (n + 1 - taken > LOOK_AHEAD_PAGES) held = { cursor: next, n: n + 1, gen };
                else startAhead(next, n + 1, gen);
              }
            : undefined,
      });
      return { body: res.body, query: pageQuery, etag: res.headers.etag };
    };
    let read = 0;
    let startAfter: string | undefined;
    let pending = fetchPage(opts.startAfter, 1, generation);
    for (;;) {
      const answer = await pending;
      const page = expectArray<Component>(answer.body, 'bos', 'GET', '/components');
      if (typeof answer.etag === 'string' && answer.etag !== '') this.pageSources.set(page, { query: answer.query, etag: answer.etag, headers });
      taken++;
      if (held && held.gen === generation && held.n - taken <= LOOK_AHEAD_PAGES) {
        startAhead(held.cursor, held.n, held.gen);
        held = undefined;
      }
      read += page.length;
      if (limit > 0 && read >= limit) {
        yield page.slice(0, page.length - (read - limit));
        return;
      }
      yield page;
      if (size === 0 || page.length !== size) return;
      const last = page[page.length - 1]!.id;
      if (typeof last !== 'string' || last === startAfter) {
        throw new ServiceError('bos', 'GET', '/components', undefined, `Paging did not advance past component ${JSON.stringify(last)}`);
      }
      startAfter = last;
      const guessed = ahead.get(last);
      if (guessed) {
        pending = guessed;
        ahead.delete(last);
      } else {
        generation++;
        ahead.clear();
        held = undefined;
        pending = fetchPage(last, taken + 1, generation);
      }
    }
  }

  private async listPaged(query: ComponentQuery, pageSize: number, limit: number, opts: ListPagesOptions = {}): Promise<Component[]> {
    const out: Component[] = [];
    for await (const page of this.pages(query, pageSize, limit, opts)) out.push(...page);
    return out;
  }

  listComponentPages(query: Omit<ComponentQuery, 'ids'>, pageSize: number, opts: ListPagesOptions = {}): AsyncIterable<Component[]> {
    return this.pages(query, pageSize, 0, opts);
  }

  async rereadPage(page: Component[]): Promise<Component[] | 'unchanged' | undefined> {
    const source = this.pageSources.get(page);
    if (!source) return undefined;
    const res = await this.http.request('GET', '/components', { query: source.query, headers: { ...source.headers, 'if-none-match': source.etag }, notModified: true });
    if (res.status === 304) return 'unchanged';
    return expectArray<Component>(res.body, 'bos', 'GET', '/components');
  }

  async patchComponents(
    patches: Partial<Component>[],
    opts: { skipBadIds?: boolean; chunkSize?: number; discardAnswer?: boolean; idsOnly?: boolean } = {},
  ): Promise<Component[]> {
    const out: Component[] = [];
    const query: Query | undefined = opts.skipBadIds ? { skip_bad_ids: true } : undefined;
    if (opts.discardAnswer) {
      // The updated records are not wanted (see discarding()). Identical patches go by id filter, the rest as a list.
      await sendGrouped(patches, opts.chunkSize ?? 0, (body) => this.discarding('PATCH', body, query));
      return [];
    }
    if (opts.idsOnly) {
      // Only which ids were written matters, not their order: identical patches (a boot set's
      // desired state) go by id filter, one patch for thousands of ids instead of a copy each. The
      // answers are asked for as ids alone (an extension); an API without it (upstream BOS) answers
      // the records, each let go as soon as its id is read.
      const headers = { accept: preferring(IDS_MEDIA_TYPE) };
      const send = async (body: unknown): Promise<void> => {
        const answer = expectArray<Component | string>(await this.http.patch('/components', { body, query, headers }), 'bos', 'PATCH', '/components');
        for (const c of answer) out.push({ id: typeof c === 'string' ? c : c?.id } as Component);
      };
      await sendGrouped(patches, opts.chunkSize ?? 0, send);
      return out;
    }
    for (const part of chunk(patches, opts.chunkSize ?? 0)) {
      const answer = expectArray<Component>(await this.http.patch('/components', { body: part, query }), 'bos', 'PATCH', '/components');
      for (const c of answer) out.push(c);
    }
    return out;
  }

  async patchComponentsByFilter(
    patch: Partial<Component>,
    filters: { ids: string } | { session: string },
    opts: { skipBadIds?: boolean } = {},
  ): Promise<Component[]> {
    const query: Query | undefined = opts.skipBadIds ? { skip_bad_ids: true } : undefined;
    const body = await this.http.patch('/components', { body: { patch, filters }, query });
    return expectArray<Component>(body, 'bos', 'PATCH', '/components');
  }

  async putComponents(records: Component[], opts: { discardAnswer?: boolean } = {}): Promise<Component[]> {
    if (records.length === 0) return [];
    if (opts.discardAnswer) {
      await this.discarding('PUT', records, undefined);
      return [];
    }
    return expectArray<Component>(await this.http.put('/components', { body: records }), 'bos', 'PUT', '/components');
  }

  /**
   * A bulk write whose answer is not wanted: asks for none (RFC 7240; this API answers 204); an API
   * that sends the records anyway (upstream BOS) has its answer checked to be a JSON array, not parsed.
   */
  private async discarding(method: 'PUT' | 'PATCH', body: unknown, query: Query | undefined): Promise<void> {
    const res = await this.http.request<string>(method, '/components', { body, query, unparsed: true, headers: { prefer: 'return=minimal' } });
    if (res.status === 204) return;
    const t = res.body.trim();
    if (!t.startsWith('[') || !t.endsWith(']')) {
      throw new ServiceError('bos', method, '/components', undefined, `Expected a JSON array in the response to ${method} /components, got ${JSON.stringify(t.slice(0, 80))}`);
    }
  }

  async listSessions(query: { status?: string; min_age?: string; max_age?: string } = {}): Promise<Session[]> {
    return expectArray<Session>(await this.http.get('/sessions', { query }), 'bos', 'GET', '/sessions');
  }

  async patchSession(
    name: string,
    tenant: string | null,
    patch: { status?: Partial<Session['status']>; components?: string },
  ): Promise<Session> {
    return (await this.http.patch(`/sessions/${seg(name)}`, { body: patch, headers: tenantHeaders(tenant) })) as Session;
  }

  async saveSessionStatus(name: string, tenant: string | null): Promise<unknown> {
    return this.http.post(`/sessions/${seg(name)}/status`, { headers: tenantHeaders(tenant) });
  }

  async deleteSessions(query: { status?: string; min_age?: string; max_age?: string }): Promise<void> {
    await this.http.delete('/sessions', { query });
  }

  async getSessionTemplate(name: string, tenant: string | null): Promise<SessionTemplate> {
    const body = await this.http.get(`/sessiontemplates/${seg(name)}`, { headers: tenantHeaders(tenant) });
    if (!body || typeof body !== 'object' || Array.isArray(body)) {
      throw new ServiceError('bos', 'GET', `/sessiontemplates/${seg(name)}`, undefined, `Expected a session template object, got ${jsonType(body)}`);
    }
    return body as SessionTemplate;
  }
}

/** Pages a listing may have asked for beyond the one its caller holds (see pages()). */
export const LOOK_AHEAD_PAGES = 2;

/**
 * A component listing page by page where the client pages (listComponentPages), else as one page
 * holding the whole listing: for callers that work through a listing without needing all of it.
 */
export async function* componentPages(bos: BosClient, query: Omit<ComponentQuery, 'ids'>, pageSize: number, opts: ListPagesOptions = {}): AsyncGenerator<Component[]> {
  if (bos.listComponentPages) yield* bos.listComponentPages(query, pageSize, opts);
  else yield await bos.listComponents(query, pageSize, { view: opts.view });
}

/**
 * What can be read off a page's text without parsing it, for records that begin with their id (as
 * this project's API writes them): how many records begin `{"id":"`, and the last one's id.
 * Only a guess: the pager checks it against the parsed page.
 */
export function scanPage(text: string): { count: number; lastId?: string } {
  const marker = '{"id":"';
  let count = 0;
  let last = -1;
  for (let at = text.indexOf(marker); at >= 0; at = text.indexOf(marker, at + marker.length)) {
    count++;
    last = at;
  }
  if (last < 0) return { count };
  const from = last + marker.length;
  const end = text.indexOf('"', from);
  if (end <= from) return { count };
  const id = text.slice(from, end);
  return id.includes('\\') ? { count } : { count, lastId: id };
}
