/** Configuration Framework Service v3 client (services.md §5). */
import { chunk, HttpClient, jsonType, type HttpClientOptions, type Query } from './http.js';
import { ServiceError, type CfsClient, type CfsComponent } from './types.js';

export type CfsClientOptions = Omit<HttpClientOptions, 'service' | 'baseUrl'>;

/** Ids per `GET /components?ids=...` (URL length). */
export const CFS_GET_BATCH = 200;
/** Ids per `PATCH /components` (`filters.ids`). */
export const CFS_PATCH_BATCH = 1000;
/** A server that keeps answering `next` past this many pages is broken; stop instead of looping. */
const MAX_PAGES = 1_000_000;

interface CfsPage {
  components?: unknown;
  next?: Record<string, unknown> | null;
}

export class HttpCfsClient implements CfsClient {
  readonly http: HttpClient;

  constructor(baseUrl: string, opts: CfsClientOptions = {}) {
    this.http = new HttpClient({ ...opts, service: 'cfs', baseUrl });
  }

  close(): void {
    this.http.close();
  }

  async getComponents(ids?: readonly string[]): Promise<CfsComponent[]> {
    if (ids === undefined) return this.follow({});
    const out: CfsComponent[] = [];
    for (const part of chunk(ids, CFS_GET_BATCH)) out.push(...(await this.follow({ ids: part.join(',') })));
    return out;
  }

  /** GET /components with `params`, then again with exactly each `next` object until it is null/absent. */
  private async follow(params: Query): Promise<CfsComponent[]> {
    const out: CfsComponent[] = [];
    let query: Query = params;
    const seen = new Set<string>();
    for (let page = 0; page < MAX_PAGES; page++) {
      const body = await this.http.get<CfsPage | null>('/components', { query });
      if (!body || typeof body !== 'object' || !Array.isArray(body.components)) {
        throw new ServiceError('cfs', 'GET', '/components', undefined, `The response to GET /components has no components list (got ${jsonType(body)})`);
      }
      out.push(...(body.components as CfsComponent[]));
      const next = body.next;
      if (!next || typeof next !== 'object') return out;
      const key = JSON.stringify(next);
      if (seen.has(key)) {
        throw new ServiceError('cfs', 'GET', '/components', undefined, `Paging repeated the same next page ${compactNext(key)}`);
      }
      seen.add(key);
      query = toQuery(next);
    }
    throw new ServiceError('cfs', 'GET', '/components', undefined, `Paging did not end after ${MAX_PAGES} pages`);
  }

  async setDesiredConfig(
    ids: readonly string[],
    config: string,
    opts: { enabled: boolean; session?: string; clearState?: boolean },
  ): Promise<void> {
    const patch: Record<string, unknown> = {
      enabled: opts.enabled,
      desired_config: config,
      tags: { bos_session: opts.session ?? '' },
    };
    if (opts.clearState) patch.state = [];
    for (const part of chunk(ids, CFS_PATCH_BATCH)) {
      await this.http.patch('/components', { body: { patch, filters: { ids: part.join(',') } } });
    }
  }
}

function toQuery(next: Record<string, unknown>): Query {
  const q: Query = {};
  for (const [k, v] of Object.entries(next)) {
    if (v === null || v === undefined) continue;
    q[k] = typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? v : JSON.stringify(v);
  }
  return q;
}

function compactNext(key: string): string {
  return key.length > 200 ? `${key.slice(0, 200)}…` : key;
}
