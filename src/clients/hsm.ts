/** Hardware State Manager client (docs/services.md, "HSM"). */
import { clientWithin, expectArray, HttpClient, jsonType, type HttpClientOptions } from './http.js';
import type { CallDeadline } from './deadline.js';
import { ServiceError, type HsmClient, type HsmComponent, type HsmGroup, type HsmPartition } from './types.js';

export type HsmClientOptions = Omit<HttpClientOptions, 'service' | 'baseUrl'>;

/** Ids per `State/Components/Query` body; a guard so a request body never grows unbounded. */
const HSM_IDS_PER_QUERY = 10_000;

function componentsOf(body: unknown, method: string, path: string): HsmComponent[] {
  const list = body && typeof body === 'object' && !Array.isArray(body) ? (body as { Components?: unknown }).Components : undefined;
  if (!Array.isArray(list)) {
    throw new ServiceError('hsm', method, path, undefined, `The response to ${method} ${path} has no Components list (got ${jsonType(body)})`);
  }
  // A component without an ID string makes the whole list untrustworthy: said, not silently dropped
  // (a node left out would otherwise look absent or disabled in HSM).
  const bad = list.findIndex((e) => !e || typeof e !== 'object' || typeof (e as { ID?: unknown }).ID !== 'string');
  if (bad >= 0) {
    const shown = JSON.stringify(list[bad]) ?? String(list[bad]);
    throw new ServiceError('hsm', method, path, undefined, `The response to ${method} ${path} lists a component without an ID string (entry ${bad}: ${shown.slice(0, 80)})`);
  }
  return list as HsmComponent[];
}

export class HttpHsmClient implements HsmClient {
  readonly http: HttpClient;

  constructor(baseUrl: string, opts: HsmClientOptions = {}) {
    this.http = new HttpClient({ ...opts, service: 'hsm', baseUrl });
  }

  close(): void {
    this.http.close();
  }

  within(deadline: CallDeadline): HttpHsmClient {
    return clientWithin(this, deadline);
  }

  async listComponents(): Promise<HsmComponent[]> {
    return componentsOf(await this.http.get('/State/Components'), 'GET', '/State/Components');
  }

  async queryComponents(ids: readonly string[], opts: { enabled?: boolean } = {}): Promise<HsmComponent[]> {
    const out: HsmComponent[] = [];
    for (let i = 0; i < ids.length; i += HSM_IDS_PER_QUERY) {
      const body: { ComponentIDs: string[]; enabled?: string[] } = { ComponentIDs: ids.slice(i, i + HSM_IDS_PER_QUERY) };
      if (opts.enabled !== undefined) body.enabled = [opts.enabled ? 'True' : 'False'];
      out.push(...componentsOf(await this.http.post('/State/Components/Query', { body }), 'POST', '/State/Components/Query'));
    }
    return out;
  }

  async listGroups(): Promise<HsmGroup[]> {
    return expectArray<HsmGroup>(await this.http.get('/groups'), 'hsm', 'GET', '/groups');
  }

  async listPartitions(): Promise<HsmPartition[]> {
    return expectArray<HsmPartition>(await this.http.get('/partitions'), 'hsm', 'GET', '/partitions');
  }

  async lockedNodes(): Promise<Set<string>> {
    const body = await this.http.get('/locks/status', { query: { type: 'Node', locked: true } });
    const list = body && typeof body === 'object' ? (body as { Components?: unknown }).Components : undefined;
    const out = new Set<string>();
    if (!Array.isArray(list)) return out;
    for (const e of list) {
      if (e && typeof e === 'object' && typeof (e as { ID?: unknown }).ID === 'string') out.add((e as { ID: string }).ID);
    }
    return out;
  }
}
