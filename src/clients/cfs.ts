/** Configuration Framework Service v3 client (docs/services.md, "CFS"). */
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

/** A page of a listing, with the next page when it was asked for ahead (the `next` it was asked with, as JSON). */
interface Page {
  body: CfsPage | null;
  guess?: { key: string; page: Promise<Page> };
}

/** What one listing has asked for ahead, and whether it is over. */
interface Chain {
  asked: Set<string>;
  stopped: boolean;
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

  /** Every CFS component, page by page as CFS pages its listing (GET /components following `next`). */
  componentPages(): AsyncIterable<CfsComponent[]> {
    return this.pages({});
  }

  /** GET /components with `params`, then again with exactly each `next` object until it is null/absent. */
  private async follow(params: Query): Promise<CfsComponent[]> {
    const out: CfsComponent[] = [];
    for await (const page of this.pages(params)) for (const c of page) out.push(c);
    return out;
  }

  /**
   * The pages of GET /components with `params`, following each `next` object exactly. Each next
   * page is asked for as soon as a page's text has arrived, with the `next` object read off the end
   * of the text (where CFS writes it), so CFS answers page k+1 while this process parses page k.
   * The guess is checked against the parsed page: a wrong one is not used.
   */
  private async *pages(params: Query): AsyncGenerator<CfsComponent[]> {
    const chain: Chain = { asked: new Set(), stopped: false };
    try {
      const seen = new Set<string>();
      let pending = this.page(params, chain);
      for (let page = 0; page < MAX_PAGES; page++) {
        const { body, guess } = await pending;
        if (!body || typeof body !== 'object' || !Array.isArray(body.components)) {
          throw new ServiceError('cfs', 'GET', '/components', undefined, `The response to GET /components has no components list (got ${jsonType(body)})`);
        }
        yield body.components as CfsComponent[];
        const next = body.next;
        if (!next || typeof next !== 'object') return;
        const key = JSON.stringify(next);
        if (seen.has(key)) {
          throw new ServiceError('cfs', 'GET', '/components', undefined, `Paging repeated the same next page ${compactNext(key)}`);
        }
        seen.add(key);
        pending = guess?.key === key ? guess.page : this.page(toQuery(next), chain);
      }
      throw new ServiceError('cfs', 'GET', '/components', undefined, `Paging did not end after ${MAX_PAGES} pages`);
    } finally {
      chain.stopped = true; // no page asked for after the listing ended, failed or was left
    }
  }

  /**
   * One page, and the next one already asked for when its `next` could be read off the text (once
   * per distinct `next` of the listing: a server repeating itself is not asked again and again).
   */
  private async page(query: Query, chain: Chain): Promise<Page> {
    let guess: Page['guess'];
    const res = await this.http.request<CfsPage | null>('GET', '/components', {
      query,
      beforeParse: (text) => {
        const next = chain.stopped ? undefined : trailingNext(text);
        if (!next) return;
        const key = JSON.stringify(next);
        if (chain.asked.has(key)) return;
        chain.asked.add(key);
        const page = this.page(toQuery(next), chain);
        page.catch(() => undefined); // a guess nobody uses must not be an unhandled rejection
        guess = { key, page };
      },
    });
    return { body: res.body, guess };
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

/**
 * The `next` object of a CFS page, read off the end of its text without parsing the rest (CFS writes
 * `{"components": [...], "next": {...}}`); undefined when the text does not end that way.
 */
export function trailingNext(text: string): Record<string, unknown> | undefined {
  const at = text.lastIndexOf('"next"');
  const end = text.lastIndexOf('}');
  if (at < 0 || end < at || end - at > 4096) return undefined; // a `next` object is short
  const colon = text.indexOf(':', at + 6);
  if (colon < 0 || colon >= end || text.slice(at + 6, colon).trim() !== '') return undefined;
  try {
    const next: unknown = JSON.parse(text.slice(colon + 1, end));
    return next !== null && typeof next === 'object' && !Array.isArray(next) ? (next as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function compactNext(key: string): string {
  return key.length > 200 ? `${key.slice(0, 200)}…` : key;
}
