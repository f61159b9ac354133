/** Boot Script Service client (docs/services.md, "BSS"). */
import { HttpClient, type HttpClientOptions } from './http.js';
import { ServiceError, type BssClient } from './types.js';

export type BssClientOptions = Omit<HttpClientOptions, 'service' | 'baseUrl'>;

const BSS_TOKEN_HEADER = 'bss-referral-token';

export class HttpBssClient implements BssClient {
  readonly http: HttpClient;

  constructor(baseUrl: string, opts: BssClientOptions = {}) {
    // Upstream does not verify BSS's certificate.
    this.http = new HttpClient({ verifyTls: false, ...opts, service: 'bss', baseUrl });
  }

  close(): void {
    this.http.close();
  }

  async setBootParameters(hosts: readonly string[], params: string, kernel: string, initrd: string): Promise<string> {
    if (hosts.length === 0) {
      throw new ServiceError('bss', 'PUT', '/bootparameters', undefined, 'set_bss called with empty node_set');
    }
    const res = await this.http.request('PUT', '/bootparameters', { body: { hosts: [...hosts], params, kernel, initrd } });
    // node:http lower-cases header names, so this lookup is case-insensitive.
    const raw = res.headers[BSS_TOKEN_HEADER];
    const token = Array.isArray(raw) ? raw[0] : raw;
    if (!token) {
      throw new ServiceError('bss', 'PUT', '/bootparameters', res.status, `The response to PUT /bootparameters has no ${BSS_TOKEN_HEADER} header`);
    }
    return token;
  }
}
