/** Power Control Service client (docs/services.md, "PCS"). */
import { HttpClient, jsonType, type HttpClientOptions } from './http.js';
import { ServiceError, type PcsClient, type PowerOperation, type PowerState } from './types.js';

export type PcsClientOptions = Omit<HttpClientOptions, 'service' | 'baseUrl'>;

/** Ids per power-status body; a guard so a request body never grows unbounded. */
const PCS_IDS_PER_REQUEST = 10_000;

interface PowerStatusEntry {
  xname?: string;
  powerState?: string;
  error?: string | null;
}

export class HttpPcsClient implements PcsClient {
  readonly http: HttpClient;

  constructor(baseUrl: string, opts: PcsClientOptions = {}) {
    this.http = new HttpClient({ ...opts, service: 'pcs', baseUrl });
  }

  close(): void {
    this.http.close();
  }

  async powerStatus(ids: readonly string[]): Promise<Map<string, PowerState>> {
    const out = new Map<string, PowerState>();
    for (let i = 0; i < ids.length; i += PCS_IDS_PER_REQUEST) {
      const body = await this.http.post<{ status?: unknown } | null>('/power-status', {
        body: { xname: ids.slice(i, i + PCS_IDS_PER_REQUEST) },
      });
      const list = body && typeof body === 'object' ? body.status : undefined;
      if (!Array.isArray(list)) {
        throw new ServiceError('pcs', 'POST', '/power-status', undefined, `The response to POST /power-status has no status list (got ${jsonType(body)})`);
      }
      for (const e of list as PowerStatusEntry[]) {
        if (!e || typeof e.xname !== 'string' || !e.xname) continue;
        if (typeof e.error === 'string' && e.error) out.set(e.xname, e.error);
        else out.set(e.xname, String(e.powerState ?? '').toLowerCase());
      }
    }
    return out;
  }

  async transition(operation: PowerOperation, ids: readonly string[]): Promise<{ transitionID?: string }> {
    if (ids.length === 0) {
      throw new ServiceError('pcs', 'POST', '/transitions', undefined, `_transition_create called with no xnames! (operation=${operation})`);
    }
    const body = await this.http.post<{ transitionID?: string } | null>('/transitions', {
      body: { location: ids.map((xname) => ({ xname })), operation, taskDeadlineMinutes: 1 },
    });
    return body && typeof body === 'object' && typeof body.transitionID === 'string' ? { transitionID: body.transitionID } : {};
  }
}
