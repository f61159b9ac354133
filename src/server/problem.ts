/**
 * RFC 7807 problem answers (docs/api.md, "Errors"): `{type: 'about:blank', title, status, detail}` served as
 * `application/problem+json`. Rules throw a Problem; the app's error handler renders it.
 */
export class Problem extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
    this.name = 'Problem';
  }

  body(): ProblemBody {
    return { type: 'about:blank', title: this.title, status: this.status, detail: this.detail };
  }
}

export interface ProblemBody {
  type: 'about:blank';
  title: string;
  status: number;
  detail: string;
}

export const badRequest = (detail: string) => new Problem(400, 'Bad Request', detail);

export const invalidTenant = (detail: string) => new Problem(400, 'Invalid tenant', detail);

const notFound = (detail: string) => new Problem(404, 'The resource was not found', detail);

export const alreadyExists = (detail: string) => new Problem(409, 'The resource to be created already exists', detail);

export const actualStateConflict = () =>
  new Problem(
    409,
    'Actual state can not be updated.',
    'BOS is currently changing the state of the node, and the actual state can not be accurately recorded',
  );

export const storeUnavailable = (detail: string) => new Problem(503, 'Unable to connect to the Redis database', detail);

export const internalError = () =>
  new Problem(
    500,
    'Internal Server Error',
    'The server encountered an internal error and was unable to complete your request. Either the server is overloaded or there is an error in the application.',
  );

/** `Session 's1'` / `Session for tenant 'acme' 's1'` etc. (docs/api.md, "Errors": the 404 texts). */
export function recordNotFound(type: 'Session' | 'Session template' | 'Component', id: string, tenant = ''): Problem {
  const what = tenant && type !== 'Component' ? `${type} for tenant '${tenant}'` : type;
  return notFound(`${what} '${id}' does not exist`);
}

/**
 * True when an error means the backing store cannot be reached: the store's StoreUnavailableError,
 * or a connection-level error of the Redis client.
 */
export function isStoreUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err.name === 'StoreUnavailableError' || err.name === 'StoreConflictError') return true;
  if (err.name === 'MaxRetriesPerRequestError') return true;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', 'EPIPE'].includes(code)) {
    return true;
  }
  return /Connection is closed|Stream isn't writeable|connect ECONNREFUSED/.test(err.message);
}

/** What to check when a service the API calls fails, by service. */
const SERVICE_HINTS: Record<string, string> = {
  ims: 'that the image service (IMS) is running and reachable from the BOS API at BOS_IMS_URL (--ims-url)',
  tapms: 'that the tenant service (TAPMS) is running and reachable from the BOS API at BOS_TAPMS_URL (--tapms-url)',
  hsm: 'that the Hardware State Manager (HSM) is running and reachable from the BOS API at BOS_HSM_URL (--hsm-url)',
  s3: 'that the S3 endpoint S3_GATEWAY is running and reachable from the BOS API, and the S3 keys',
};

/** 503 for a request that needed another service which failed: names the service and what to check. */
export function serviceUnavailable(err: { service: string; message: string }): Problem {
  const hint = SERVICE_HINTS[err.service] ?? `that ${err.service} is running and reachable from the BOS API`;
  return new Problem(503, 'Service Unavailable', `${err.service}: ${err.message}. Check ${hint}, then repeat the request.`);
}
