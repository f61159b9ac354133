/** Image Management Service v3 client (docs/services.md, "IMS"). */
import { clientWithin, expectArray, HttpClient, jsonType, type HttpClientOptions } from './http.js';
import type { CallDeadline } from './deadline.js';
import { ServiceError, type ImsClient, type ImsImage } from './types.js';

export type ImsClientOptions = Omit<HttpClientOptions, 'service' | 'baseUrl'>;

/** A 404 from IMS for an image id. `service` stays 'ims'; the name is the error kind upstream uses. */
export class ImageNotFound extends ServiceError {
  constructor(
    readonly imageId: string,
    method: string,
    path: string,
  ) {
    super('ims', method, path, 404, `IMS image id '${imageId}' does not exist in IMS`);
    this.name = 'ImageNotFound';
  }
}

/** Retries as upstream: 8 when `ims_errors_fatal` is true, otherwise 4. */
export function imsRetries(imsErrorsFatal: boolean): number {
  return imsErrorsFatal ? 8 : 4;
}

export class HttpImsClient implements ImsClient {
  readonly http: HttpClient;

  constructor(baseUrl: string, opts: ImsClientOptions = {}) {
    this.http = new HttpClient({ ...opts, service: 'ims', baseUrl });
  }

  close(): void {
    this.http.close();
  }

  within(deadline: CallDeadline): HttpImsClient {
    return clientWithin(this, deadline);
  }

  async getImage(id: string): Promise<ImsImage> {
    const path = `/images/${encodeURIComponent(id)}`;
    try {
      const body = await this.http.get(path);
      if (!body || typeof body !== 'object' || Array.isArray(body)) {
        throw new ServiceError('ims', 'GET', path, undefined, `Expected an image object in the response to GET ${path}, got ${jsonType(body)}`);
      }
      return body as ImsImage;
    } catch (err) {
      if (err instanceof ServiceError && err.status === 404) throw new ImageNotFound(id, 'GET', path);
      throw err;
    }
  }

  async listImages(): Promise<ImsImage[]> {
    return expectArray<ImsImage>(await this.http.get('/images'), 'ims', 'GET', '/images');
  }

  async tagImage(id: string, key: string, value?: string, operation: 'set' | 'remove' = 'set'): Promise<void> {
    const path = `/images/${encodeURIComponent(id)}`;
    const metadata: Record<string, string> = { operation, key };
    if (value !== undefined) metadata.value = value;
    try {
      await this.http.patch(path, { body: { metadata } });
    } catch (err) {
      if (err instanceof ServiceError && err.status === 404) throw new ImageNotFound(id, 'PATCH', path);
      throw err;
    }
  }
}
