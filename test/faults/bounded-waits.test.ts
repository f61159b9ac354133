/**
 * Bounded waits: with the image service, the tenant service or S3 refusing connections or accepting
 * them and never answering, every API request answers within its target, naming the service and
 * what to check; a request never waits past its deadline.
 */
import fc from 'fast-check';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpImsClient, imsRetries } from '../../src/clients/ims.js';
import { AwsS3ObjectClient } from '../../src/clients/s3.js';
import { HttpTenantClient } from '../../src/clients/tenants.js';
import { OPTION_DEFAULTS, type Options } from '../../src/common/options.js';
import { startServer, type RunningServer } from '../../src/server/app.js';
import { DependencyWatch } from '../../src/server/dependencies.js';
import { MemoryStore } from '../../src/server/store/memory.js';
import { refusedService, silentService, type DeadEnd } from '../helpers/dead-ends.js';

type Json = any;

/** An API whose IMS, tenant service and S3 are `ims`, `tapms` and `s3`, as `bos serve` builds them. */
async function apiWith(deps: { ims: DeadEnd; tapms: DeadEnd; s3: DeadEnd }, deadlineSeconds?: number): Promise<RunningServer & { store: MemoryStore }> {
  let options: Options = { ...OPTION_DEFAULTS };
  const store = new MemoryStore();
  const srv = await startServer({
    store,
    logger: false,
    deadlineSeconds,
    onOptions: (o) => (options = o),
    ims: new HttpImsClient(deps.ims.url, {
      readTimeoutSeconds: () => options.ims_read_timeout,
      retry: () => ({ retries: imsRetries(options.ims_errors_fatal) }),
    }),
    tenants: new HttpTenantClient(deps.tapms.url),
    s3: new AwsS3ObjectClient({ endpoint: deps.s3.url, accessKey: 'a', secretKey: 's' }),
  });
  return Object.assign(srv, { store });
}

async function call(base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: Json; seconds: number }> {
  const t0 = performance.now();
  const r = await fetch(`${base}/v2${path}`, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : undefined, seconds: (performance.now() - t0) / 1000 };
}

/** A template whose boot sets name IMS images by the IMS convention (`s3://boot-images/<image id>/manifest.json`). */
function template(bootSets = 1): Json {
  return {
    boot_sets: Object.fromEntries(
      Array.from({ length: bootSets }, (_, i) => [`set${i}`, { path: `s3://boot-images/img${i}/manifest.json`, type: 's3', node_list: ['x3000c0s19b1n0'] }]),
    ),
  };
}

const closers: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  while (closers.length) await closers.pop()!();
});

describe('an API request with the services it calls refusing connections', () => {
  let api: RunningServer;
  beforeAll(async () => {
    const [ims, tapms, s3] = await Promise.all([refusedService(), refusedService(), refusedService()]);
    api = await apiWith({ ims, tapms, s3 });
    closers.push(() => api.close());
  });

  it('template checks answer within 5 s: a warning with ims_errors_fatal false, a 400 naming IMS otherwise', async () => {
    const warned = await call(api.url, 'PUT', '/sessiontemplates/t1', template(3));
    expect(warned.status).toBe(200);
    expect(warned.seconds).toBeLessThan(5);
    // The validity check of a boot reads the manifest from S3 first: that is the service it names.
    const valid = await call(api.url, 'GET', '/sessiontemplatesvalid/t1');
    expect(valid.seconds).toBeLessThan(5);
    expect(valid.body).toMatch(/Unable to read manifest file .* s3: .*ECONNREFUSED.*check that the S3 endpoint \(S3_GATEWAY\) answers the BOS API/);
    await call(api.url, 'PATCH', '/options', { ims_errors_fatal: true });
    const refused = await call(api.url, 'PUT', '/sessiontemplates/t2', template(3));
    expect(refused.seconds).toBeLessThan(5);
    expect(refused.status).toBe(400);
    expect(refused.body.detail).toMatch(/could not be created: ims: Cannot connect .*ECONNREFUSED.*check that IMS answers the BOS API/);
    await call(api.url, 'PATCH', '/options', { ims_errors_fatal: false });
  });

  it('a tenant header answers 503 within 5 s naming the tenant service and its setting', async () => {
    for (const [method, path, body] of [
      ['GET', '/components', undefined],
      ['PUT', '/sessiontemplates/acme-t', template()],
      ['POST', '/applystaged', { xnames: ['x1'] }],
    ] as const) {
      const r = await call(api.url, method, path, body, { 'cray-tenant-name': 'acme' });
      expect(r.seconds, `${method} ${path}`).toBeLessThan(5);
      expect(r.status, `${method} ${path}`).toBe(503);
      expect(r.body.detail).toMatch(/^tapms: Cannot connect to .*ECONNREFUSED.*Check that the tenant service \(TAPMS\) is running and reachable from the BOS API at BOS_TAPMS_URL/);
    }
  });

  it('a boot session answers within 5 s with the manifest error naming S3', async () => {
    await call(api.url, 'PUT', '/sessiontemplates/boot', template());
    const r = await call(api.url, 'POST', '/sessions', { template_name: 'boot', operation: 'boot' });
    expect(r.seconds).toBeLessThan(5);
    expect(r.status).toBe(400);
    expect(r.body.detail).toMatch(/Unable to read manifest file 's3:\/\/boot-images\/img0\/manifest.json'\. s3: .*check that the S3 endpoint \(S3_GATEWAY\) answers/);
  });
});

describe('an API request with the services it calls silent', () => {
  let api: RunningServer;
  let ims: DeadEnd;
  beforeAll(async () => {
    let tapms: DeadEnd;
    let s3: DeadEnd;
    [ims, tapms, s3] = await Promise.all([silentService(), silentService(), silentService()]);
    closers.push(() => ims.close(), () => tapms.close(), () => s3.close());
    api = await apiWith({ ims, tapms, s3 });
    closers.push(() => api.close());
    await call(api.url, 'PATCH', '/options', { ims_read_timeout: 10 });
  });

  it.concurrent('a template with three boot sets answers within the IMS read timeout plus 5 s, asking IMS once', async () => {
    const r = await call(api.url, 'PUT', '/sessiontemplates/silent', template(3));
    expect(r.status).toBe(200);
    expect(r.seconds).toBeGreaterThan(9);
    expect(r.seconds).toBeLessThan(15);
  });

  it.concurrent('a tenant header answers 503 within the tenant read timeout (10 s) plus 5 s', async () => {
    const r = await call(api.url, 'GET', '/components', undefined, { 'cray-tenant-name': 'acme' });
    expect(r.seconds).toBeLessThan(15);
    expect(r.status).toBe(503);
    expect(r.body.detail).toMatch(/^tapms: Read timed out after 10 s .*Check that the tenant service/);
  });
});

describe('the request deadline', () => {
  it('no route waits on a silent dependency beyond its deadline (property)', async () => {
    const [ims, tapms, s3] = await Promise.all([silentService(), silentService(), silentService()]);
    const api = await apiWith({ ims, tapms, s3 }, 2);
    try {
      await call(api.url, 'PUT', '/sessiontemplates/base', template()); // IMS silent: a warning, after the deadline
      const tenant = fc.option(fc.constant('acme'), { nil: undefined });
      const request = fc.oneof(
        fc.record({ method: fc.constant('PUT'), path: fc.constantFrom('/sessiontemplates/a', '/sessiontemplates/b'), body: fc.integer({ min: 1, max: 3 }).map(template) }),
        fc.record({ method: fc.constant('PATCH'), path: fc.constant('/sessiontemplates/base'), body: fc.constant({ description: 'changed' }) }),
        fc.record({ method: fc.constant('GET'), path: fc.constantFrom('/sessiontemplatesvalid/base', '/sessiontemplates', '/components', '/sessions', '/options') }),
        fc.record({
          method: fc.constant('POST'),
          path: fc.constant('/sessions'),
          body: fc.record({ template_name: fc.constant('base'), operation: fc.constantFrom('boot', 'reboot', 'shutdown') }),
        }),
        fc.record({ method: fc.constant('POST'), path: fc.constant('/applystaged'), body: fc.constant({ xnames: ['x1'] }) }),
      );
      await fc.assert(
        fc.asyncProperty(fc.array(fc.tuple(request, tenant), { minLength: 4, maxLength: 8 }), async (reqs) => {
          const answers = await Promise.all(reqs.map(([r, t]) => call(api.url, r.method, r.path, (r as { body?: unknown }).body, t ? { 'cray-tenant-name': t } : {})));
          answers.forEach((a, i) => {
            const [r] = reqs[i]!;
            expect(a.seconds, `${r.method} ${r.path}`).toBeLessThan(2 + 1.5);
            // Never a bare 500: a dependency's failure is a 503 naming it, or the route's own 4xx.
            expect(a.status, `${r.method} ${r.path}: ${JSON.stringify(a.body)}`).not.toBe(500);
            if (a.status === 503) expect(a.body.detail).toMatch(/^(tapms|ims|s3): /);
          });
        }),
        { numRuns: 8 },
      );
    } finally {
      await api.close();
      await Promise.all([ims.close(), tapms.close(), s3.close()]);
    }
  }, 120_000);
});

describe('bos serve watches the services it calls', () => {
  it('says once which do not answer, and /readyz lists them while the API stays ready', async () => {
    const [refused, silent] = await Promise.all([refusedService(), silentService()]);
    const answering = await startServer({ store: new MemoryStore(), logger: false });
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (l: string) => lines.push(l) });
    const watch = new DependencyWatch(
      [
        { name: 'ims', url: refused.url, affects: 'image checks fail' },
        { name: 'tapms', url: silent.url, affects: 'tenant requests fail' },
        { name: 's3', url: answering.url, affects: 'manifests cannot be read' },
      ],
      logger,
      200,
    );
    await watch.start();
    const api = await startServer({ store: new MemoryStore(), logger: false, dependencies: watch });
    try {
      const warnings = lines.filter((l) => l.includes('does not answer'));
      expect(warnings).toHaveLength(2);
      expect(warnings[0]).toMatch(/ims at http:\/\/127\.0\.0\.1:\d+ does not answer \(connect ECONNREFUSED [^)]*\): image checks fail until it does/);
      expect(warnings[1]).toMatch(/tapms at http:\/\/127\.0\.0\.1:\d+ does not answer \(no answer within 2 s\): tenant requests fail until it does/);
      const r = await fetch(`${api.url}/readyz`);
      expect(r.status).toBe(200);
      const body = (await r.json()) as Json;
      expect(body.ready).toBe(true);
      expect(body.services.map((s: Json) => [s.name, s.state])).toEqual([
        ['ims', 'no answer'],
        ['tapms', 'no answer'],
        ['s3', 'answers'],
      ]);
      expect(body.services[1].error).toMatch(/no answer within 2 s/);
      // Later probes say nothing new while nothing changes.
      await new Promise((res) => setTimeout(res, 2_500));
      expect(lines.filter((l) => l.includes('does not answer'))).toHaveLength(2);
    } finally {
      watch.stop();
      await api.close();
      await answering.close();
      await silent.close();
    }
  }, 30_000);
});
