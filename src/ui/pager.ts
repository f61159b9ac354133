/**
 * The components the web view draws, read page by page as status views, each page with its entity
 * tag: a poll asks again with If-None-Match and gets 304 for every page none of whose records
 * changed (docs/api.md, "Entity tags on component listings"), so a quiet room of 10,000 nodes costs
 * a few empty answers. A tag of another API replica does not match: that page is read again whole,
 * so it works behind any number of replicas.
 */
import { STATUS_VIEW_MEDIA_TYPE, type ListedComponent } from '../common/status-view.js';
import type { UiApi } from './api.js';

const ACCEPT = `${STATUS_VIEW_MEDIA_TYPE}, application/json;q=0.9`;

interface Page {
  etag?: string;
  items: ListedComponent[];
}

export interface PagerResult {
  components: readonly ListedComponent[];
  /** False when every page was unchanged (304): `components` is then the previous array itself. */
  changed: boolean;
  /** Pages read whole, and pages answered 304, in this refresh. */
  read: number;
  unchanged: number;
}

export class ComponentPager {
  /** Pages by the id they start after ('' for the first). */
  private pages = new Map<string, Page>();
  private last: readonly ListedComponent[] = [];

  /**
   * @param filter listing parameters, e.g. `{ session: 'boot-1' }` (empty: every component)
   */
  constructor(
    private readonly api: UiApi,
    private readonly filter: Readonly<Record<string, string>> = {},
    private readonly pageSize = 1000,
  ) {}

  /** Read every page (again), asking for 304 where it holds a tag. Throws ApiProblem. */
  async refresh(): Promise<PagerResult> {
    const next = new Map<string, Page>();
    const all: ListedComponent[] = [];
    let read = 0;
    let unchanged = 0;
    let after = '';
    for (;;) {
      const q = new URLSearchParams({ ...this.filter, page_size: String(this.pageSize) });
      if (after) q.set('start_after_id', after);
      const cached = this.pages.get(after);
      const res = await this.api.get<ListedComponent[]>(`/components?${q.toString()}`, { etag: cached?.etag, accept: ACCEPT });
      let page: Page;
      if (res.status === 304 && cached) {
        page = cached;
        unchanged++;
      } else if (res.status === 200) {
        page = { etag: res.etag, items: Array.isArray(res.body) ? res.body : [] };
        read++;
      } else {
        // 304 for a page this pager never held cannot happen; read it again without a tag.
        this.pages.delete(after);
        continue;
      }
      next.set(after, page);
      for (const c of page.items) all.push(c);
      if (page.items.length < this.pageSize) break;
      after = page.items[page.items.length - 1]!.id;
    }
    const changed = read > 0 || next.size !== this.pages.size;
    this.pages = next;
    if (changed) this.last = all;
    return { components: this.last, changed, read, unchanged };
  }
}
