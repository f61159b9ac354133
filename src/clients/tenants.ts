/** Tenant service (TAPMS) client (docs/services.md, "The tenant service"). */
import { clientWithin, FIXED_READ_TIMEOUT_SECONDS, HttpClient, type HttpClientOptions } from './http.js';
import type { CallDeadline } from './deadline.js';
import { ServiceError, type TenantClient } from './types.js';

const DEFAULT_TENANTS_URL = 'http://cray-tapms/v1alpha3';

export type TenantClientOptions = Omit<HttpClientOptions, 'service' | 'baseUrl'>;

interface TenantBody {
  status?: { tenantresources?: { xnames?: unknown }[] | null } | null;
}

export class HttpTenantClient implements TenantClient {
  readonly http: HttpClient;

  constructor(baseUrl: string = DEFAULT_TENANTS_URL, opts: TenantClientOptions = {}) {
    this.http = new HttpClient({ readTimeoutSeconds: () => FIXED_READ_TIMEOUT_SECONDS, ...opts, service: 'tapms', baseUrl });
  }

  close(): void {
    this.http.close();
  }

  within(deadline: CallDeadline): HttpTenantClient {
    return clientWithin(this, deadline);
  }

  async tenantXnames(tenant: string): Promise<Set<string> | null> {
    const out = new Set<string>();
    if (!tenant) return out;
    let body: TenantBody | null;
    try {
      body = await this.http.get<TenantBody | null>(`/tenants/${encodeURIComponent(tenant)}`);
    } catch (err) {
      if (err instanceof ServiceError && err.status === 404) return null;
      throw err;
    }
    const resources = body?.status?.tenantresources;
    if (Array.isArray(resources)) {
      for (const r of resources) {
        if (r && Array.isArray(r.xnames)) for (const x of r.xnames) if (typeof x === 'string') out.add(x);
      }
    }
    return out;
  }
}
