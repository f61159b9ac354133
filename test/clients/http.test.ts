import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import {
  bodyText,
  backoffMs,
  chunk,
  compactBody,
  describeError,
  HttpClient,
  joinUrl,
  renderQuery,
  TokenFile,
  type HttpClientOptions,
} from '../../src/clients/http.js';
import { bounded, callDeadline } from '../../src/clients/deadline.js';
import { lateClients } from '../../src/system.js';
import { HttpTenantClient } from '../../src/clients/tenants.js';
import { ServiceError, type TenantClient } from '../../src/clients/types.js';
import { deadPort, FAST_RETRY, startFake, type Fake, type Handler } from './fake-server.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function fake(handler: Handler): Promise<Fake> {
  const f = await startFake(handler);
  cleanups.push(() => f.close());
  return f;
}

function client(baseUrl: string, opts: Partial<HttpClientOptions> = {}): HttpClient {
  const c = new HttpClient({ service: 'hsm', baseUrl, retry: FAST_RETRY, readTimeoutSeconds: () => 5, ...opts });
  cleanups.push(() => c.close());
  return c;
}

async function failure(p: Promise<unknown>): Promise<ServiceError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(ServiceError);
    return err as ServiceError;
  }
  throw new Error('expected the call to fail');
}

describe('helpers', () => {
  it('joinUrl puts exactly one slash between base and path', () => {
    const seg = fc.stringMatching(/^[a-z0-9]{1,6}$/);
    fc.assert(
      fc.property(
        fc.array(seg, { minLength: 0, maxLength: 3 }),
        fc.nat(3),
        fc.array(seg, { minLength: 1, maxLength: 3 }),
        fc.nat(3),
        (baseSegs, trailing, pathSegs, leading) => {
          const base = `http://h:1${baseSegs.map((s) => '/' + s).join('')}${'/'.repeat(trailing)}`;
          const path = `${'/'.repeat(leading)}${pathSegs.join('/')}`;
          const u = joinUrl(base, path);
          expect(u.slice('http://'.length)).not.toContain('//');
          expect(u).toBe(`http://h:1${baseSegs.map((s) => '/' + s).join('')}/${pathSegs.join('/')}`);
        },
      ),
    );
    expect(joinUrl('http://h/v2/', '')).toBe('http://h/v2');
  });

  it('bodyText gives the text of any UTF-8 body, ASCII or not (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        expect(bodyText(Buffer.from(text, 'utf8'))).toBe(Buffer.from(text, 'utf8').toString('utf8'));
      }),
      { numRuns: 500 },
    );
    expect(bodyText(Buffer.from('{"error":"naïve ✓"}'))).toBe('{"error":"naïve ✓"}');
  });

  it('compactBody trims every line and joins the non-empty ones with single spaces', () => {
    expect(compactBody('  {\n   "a": 1,\n\n   "b": "x y"\n }  \n')).toBe('{ "a": 1, "b": "x y" }');
    expect(compactBody('x'.repeat(2000)).length).toBe(1001);
  });

  it('renderQuery renders booleans as Python does and drops null/undefined', () => {
    expect(renderQuery({ enabled: true, locked: false, a: undefined, b: null, page_size: 0, ids: 'x,y' })).toBe(
      '?enabled=True&locked=False&page_size=0&ids=x%2Cy',
    );
    expect(renderQuery({})).toBe('');
  });

  it('backoff: no wait before the first retry, then factor × 2^(n−1), capped', () => {
    const p = { backoffFactorMs: 500, maxBackoffMs: 120_000 };
    expect([1, 2, 3, 4, 5].map((n) => backoffMs(n, p))).toEqual([0, 1000, 2000, 4000, 8000]);
    expect(backoffMs(20, p)).toBe(120_000);
  });

  it('chunk splits in order, keeps every item, and treats size ≤ 0 as one piece', () => {
    fc.assert(
      fc.property(fc.array(fc.integer(), { maxLength: 50 }), fc.integer({ min: -2, max: 12 }), (xs, size) => {
        const parts = chunk(xs, size);
        expect(parts.flat()).toEqual(xs);
        if (xs.length === 0) expect(parts).toEqual([]);
        else if (size <= 0) expect(parts.length).toBe(1);
        else {
          expect(parts.length).toBe(Math.ceil(xs.length / size));
          for (const p of parts) expect(p.length).toBeLessThanOrEqual(size);
        }
      }),
    );
  });

  it('describeError gives "<service or kind>: <message>" on one line', () => {
    expect(describeError(new ServiceError('pcs', 'POST', '/x', 500, 'boom\nsecond line'))).toBe('pcs: boom second line');
    class ArtifactNotFound extends Error {
      override name = 'ArtifactNotFound';
    }
    expect(describeError(new ArtifactNotFound('none'))).toBe('ArtifactNotFound: none');
  });
});

describe('HttpClient', () => {
  it('joins base and path, sends JSON, parses JSON, and an empty body parses to null', async () => {
    const f = await fake((req) => (req.method === 'DELETE' ? { status: 204 } : { body: { echo: req.body } }));
    const c = client(`${f.url}/apis/smd/hsm/v2/`);
    expect(await c.post('/State/Components/Query', { body: { ComponentIDs: ['x1'] } })).toEqual({ echo: { ComponentIDs: ['x1'] } });
    expect(await c.delete('sessions')).toBeNull();
    expect(f.seen.map((s) => `${s.method} ${s.path}`)).toEqual(['POST /apis/smd/hsm/v2/State/Components/Query', 'DELETE /apis/smd/hsm/v2/sessions']);
    expect(f.seen[0]!.headers['content-type']).toBe('application/json');
  });

  it('retries GET, PUT and DELETE on 500/502/503/504 until they succeed', async () => {
    const codes = [500, 502, 503, 504];
    for (const method of ['GET', 'PUT', 'DELETE']) {
      let calls = 0;
      const f = await fake(() => {
        calls++;
        return calls <= 3 ? { status: codes[calls - 1]! } : { body: { ok: method } };
      });
      const c = client(f.url, { retry: { ...FAST_RETRY, retries: 5 } });
      const res = await c.request(method, '/thing');
      expect(res.body).toEqual({ ok: method });
      expect(f.seen.length).toBe(4);
    }
  });

  it('does not retry POST or PATCH on a 5xx and reports the upstream error text', async () => {
    for (const method of ['POST', 'PATCH']) {
      const f = await fake(() => ({ status: 503, raw: '{\n  "title": "busy",\n  "detail": "try later"\n}\n', headers: { 'content-type': 'application/problem+json' } }));
      const c = client(f.url, { retry: { ...FAST_RETRY, retries: 5 } });
      const err = await failure(c.request(method, '/State/Components/Query', { body: {} }));
      expect(f.seen.length).toBe(1);
      expect(err.status).toBe(503);
      expect(err.service).toBe('hsm');
      expect(err.method).toBe(method);
      expect(err.path).toBe('/State/Components/Query');
      expect(err.message).toBe(
        `Non-2XX response (503) to ${method} /State/Components/Query; Service Unavailable { "title": "busy", "detail": "try later" }`,
      );
    }
  });

  it('gives up after retries + 1 attempts and says so', async () => {
    const f = await fake(() => ({ status: 500, body: { detail: 'down' } }));
    const c = client(f.url, { retry: { ...FAST_RETRY, retries: 2 } });
    const err = await failure(c.get('/groups'));
    expect(f.seen.length).toBe(3);
    expect(err.status).toBe(500);
    expect(err.message).toBe('Non-2XX response (500) to GET /groups; Internal Server Error {"detail":"down"} (gave up after 3 attempts)');
  });

  it('honours Retry-After: 429 with the header is retried for GET, not for POST, and not without the header', async () => {
    let n = 0;
    const f = await fake((req) => {
      n++;
      if (req.path === '/plain') return { status: 429 };
      return n % 2 === 1 ? { status: 429, headers: { 'retry-after': '0' } } : { body: { ok: true } };
    });
    const c = client(f.url);
    expect(await c.get('/limited')).toEqual({ ok: true });
    expect(f.seen.length).toBe(2);
    n = 0;
    expect((await failure(c.post('/limited', { body: {} }))).status).toBe(429);
    expect(f.seen.length).toBe(3);
    expect((await failure(c.get('/plain'))).status).toBe(429);
    expect(f.seen.length).toBe(4);
  });

  it('does not retry a 4xx', async () => {
    const f = await fake(() => ({ status: 404, body: { detail: 'no such thing' } }));
    const c = client(f.url);
    const err = await failure(c.get('/x'));
    expect(f.seen.length).toBe(1);
    expect(err.status).toBe(404);
  });

  it('a read timeout fails the attempt; GET is retried, POST is not', async () => {
    const f = await fake(() => ({ delayMs: 3000, body: {} }));
    const c = client(f.url, { readTimeoutSeconds: () => 0.1, retry: { ...FAST_RETRY, retries: 2 } });
    const getErr = await failure(c.get('/slow'));
    expect(f.seen.length).toBe(3);
    expect(getErr.status).toBeUndefined();
    expect(getErr.message).toBe('Read timed out after 0.1 s waiting for GET /slow (gave up after 3 attempts)');
    const postErr = await failure(c.post('/slow', { body: {} }));
    expect(f.seen.length).toBe(4);
    expect(postErr.message).toBe('Read timed out after 0.1 s waiting for POST /slow');
  });

  it('asks the read-timeout function at every request', async () => {
    const f = await fake(() => ({ delayMs: 300, body: { ok: true } }));
    let timeout = 0.05;
    const c = client(f.url, { readTimeoutSeconds: () => timeout, retry: { ...FAST_RETRY, retries: 0 } });
    await failure(c.get('/a'));
    timeout = 5;
    expect(await c.get('/a')).toEqual({ ok: true });
  });

  it('retries every method, POST included, when the connection cannot be made', async () => {
    const port = await deadPort();
    const outcomes: string[] = [];
    const c = client(`http://127.0.0.1:${port}/v1`, {
      retry: { ...FAST_RETRY, retries: 2 },
      onRequest: (service, method, outcome) => outcomes.push(`${service} ${method} ${outcome}`),
    });
    const err = await failure(c.post('/transitions', { body: { a: 1 } }));
    expect(outcomes).toEqual(['hsm POST connect_error', 'hsm POST connect_error', 'hsm POST connect_error']);
    expect(err.status).toBeUndefined();
    expect(err.message).toMatch(/^Cannot connect to 127\.0\.0\.1:\d+ \(ECONNREFUSED\) for POST \/transitions \(gave up after 3 attempts\)$/);
  });

  it('a connect timeout fails the attempt and is retried for every method', async () => {
    // A listener that never accepts (its process is blocked): once its accept queue is full, further
    // connection attempts get no answer at all.
    const child = spawn(
      process.execPath,
      [
        '-e',
        `const s = require('net').createServer();
         s.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
           console.log(s.address().port);
           setTimeout(() => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20000), 20);
         });`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    cleanups.push(() => {
      child.kill('SIGKILL');
    });
    const port = await new Promise<number>((resolve) => child.stdout!.once('data', (d: Buffer) => resolve(Number(String(d).trim()))));
    await new Promise((r) => setTimeout(r, 100));
    const fillers = Array.from({ length: 8 }, () => connect({ host: '127.0.0.1', port }).on('error', () => undefined));
    cleanups.push(() => fillers.forEach((f) => f.destroy()));
    await new Promise((r) => setTimeout(r, 100));
    const outcomes: string[] = [];
    const c = client(`http://127.0.0.1:${port}`, {
      connectTimeoutSeconds: 0.2,
      retry: { ...FAST_RETRY, retries: 1 },
      onRequest: (_s, m, o) => outcomes.push(`${m} ${o}`),
    });
    const err = await failure(c.post('/transitions', { body: {} }));
    expect(err.message).toBe(`Connection to 127.0.0.1:${port} timed out after 0.2 s (POST /transitions) (gave up after 2 attempts)`);
    expect(outcomes).toEqual(['POST timeout', 'POST timeout']);
  });

  it('turns a malformed JSON answer into a ServiceError', async () => {
    const f = await fake(() => ({ raw: '{"Components": [', headers: { 'content-type': 'application/json' } }));
    const c = client(f.url);
    const err = await failure(c.get('/State/Components'));
    expect(err.status).toBe(200);
    expect(err.message).toMatch(/^Malformed JSON in the 200 response to GET \/State\/Components: /);
    expect(f.seen.length).toBe(1);
  });

  it('reports each attempt to onRequest with its outcome', async () => {
    let n = 0;
    const f = await fake(() => (++n === 1 ? { status: 503 } : { body: [] }));
    const seen: [string, string, string, number][] = [];
    const c = client(f.url, { onRequest: (s, m, o, secs) => seen.push([s, m, o, secs]) });
    await c.get('/groups');
    expect(seen.map(([s, m, o]) => `${s} ${m} ${o}`)).toEqual(['hsm GET 503', 'hsm GET 200']);
    for (const [, , , secs] of seen) expect(secs).toBeGreaterThanOrEqual(0);
  });

  it('a throwing onRequest hook does not fail the request', async () => {
    const f = await fake(() => ({ body: { ok: 1 } }));
    const c = client(f.url, {
      onRequest: () => {
        throw new Error('metrics broke');
      },
    });
    expect(await c.get('/x')).toEqual({ ok: 1 });
  });

  it('sends the bearer token from a file, follows changes, and never shows it in an error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bos-token-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'token');
    writeFileSync(file, 'first-secret-token\n');
    const f = await fake((req) => ({ status: 500, raw: `you sent ${String(req.headers.authorization)}` }));
    const c = client(f.url, { token: new TokenFile(file), retry: { ...FAST_RETRY, retries: 0 } });
    const err = await failure(c.post('/x', { body: {} }));
    expect(f.seen[0]!.headers.authorization).toBe('Bearer first-secret-token');
    expect(err.message).not.toContain('first-secret-token');
    expect(err.message).toContain('<redacted>');
    expect(describeError(err)).not.toContain('first-secret-token');

    writeFileSync(file, 'second-secret-token-longer\n');
    await failure(c.post('/x', { body: {} }));
    expect(f.seen[1]!.headers.authorization).toBe('Bearer second-secret-token-longer');
  });

  it('names the token file (not its content) when it cannot be read', async () => {
    const f = await fake(() => ({ body: {} }));
    const c = client(f.url, { token: new TokenFile('/nonexistent/bos-token') });
    const err = await failure(c.get('/x'));
    expect(err.message).toBe('cannot read the token file /nonexistent/bos-token (ENOENT); check the tokenFile setting');
    expect(f.seen.length).toBe(0);
  });

  it('sends no Authorization header without a token', async () => {
    const f = await fake(() => ({ body: {} }));
    await client(f.url).get('/x');
    expect(f.seen[0]!.headers.authorization).toBeUndefined();
  });
});

describe('clients bound to a request deadline', () => {
  it('a bound view asks a failed service once per request; the client and other requests still ask', async () => {
    const f = await fake(() => ({ status: 503, body: { detail: 'down' } }));
    const base = client(f.url, { retry: { ...FAST_RETRY, retries: 0 } });
    const first = base.within(callDeadline());
    expect((await failure(first.get('/x'))).status).toBe(503);
    expect(f.seen.length).toBe(1);
    // The same request does not ask again: it fails at once with the earlier error.
    expect((await failure(first.get('/x'))).message).toMatch(/not asked again in this request after: .*503/);
    expect(f.seen.length).toBe(1);
    // The client itself and another request's view are not affected.
    await failure(base.get('/x'));
    await failure(base.within(callDeadline()).get('/x'));
    expect(f.seen.length).toBe(3);
  });

  it('a service client bound to a request shares its connections and carries the request deadline', async () => {
    const f = await fake((req) => (req.path === '/tenants/t1' ? { status: 500, body: {} } : { status: 200, body: { status: { tenantresources: [{ xnames: ['x1'] }] } } }));
    const tenants = new HttpTenantClient(f.url, { retry: { ...FAST_RETRY, retries: 0 } });
    cleanups.push(() => tenants.close());
    const view = tenants.within(callDeadline());
    expect(view).toBeInstanceOf(HttpTenantClient);
    expect(view.http).not.toBe(tenants.http);
    await expect(view.tenantXnames('t1')).rejects.toThrow(/500/);
    // t2 answers, but this request already saw the tenant service fail.
    await expect(view.tenantXnames('t2')).rejects.toThrow(/not asked again in this request/);
    expect(await tenants.tenantXnames('t2')).toEqual(new Set(['x1']));
    expect(f.seen.map((s) => s.path)).toEqual(['/tenants/t1', '/tenants/t2']);
  });

  it('bounded() leaves a client without within() (a fake) as it is', () => {
    const fakeTenants: TenantClient = { tenantXnames: async () => new Set<string>() };
    expect(bounded(fakeTenants, callDeadline())).toBe(fakeTenants);
    expect(bounded(undefined, callDeadline())).toBeUndefined();
  });
});

describe("bos up's clients, made before their services", () => {
  it('bound to a request, each reaches the bound view of the service client made later', async () => {
    const f = await fake(() => ({ status: 503, body: {} }));
    const tenants = new HttpTenantClient(f.url, { retry: { ...FAST_RETRY, retries: 0 } });
    cleanups.push(() => tenants.close());
    let made: typeof tenants | undefined;
    const late = lateClients(() => {
      if (!made) throw new Error('not yet');
      return { tenants: made, s3: {} as never, ims: {} as never, hsm: {} as never };
    });
    made = tenants;
    const view = bounded(late.tenants, callDeadline());
    await expect(view.tenantXnames('t')).rejects.toThrow(/503/);
    // The request's deadline remembers the failure: the late client was bound, not called as it is.
    await expect(view.tenantXnames('t')).rejects.toThrow(/not asked again in this request/);
    expect(f.seen.length).toBe(1);
    await expect(late.tenants.tenantXnames('t')).rejects.toThrow(/503/);
    expect(f.seen.length).toBe(2);
  });
});
