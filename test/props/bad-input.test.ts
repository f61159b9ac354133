/**
 * Invalid requests at every endpoint: unparsable or wrongly typed bodies, bodies with unknown or
 * wrongly typed fields, wrong content types, invalid query values, unknown ids and unknown tenants.
 * Every one must be answered promptly with a 4xx problem+json document, and the store must be
 * unchanged byte for byte. Options get the same treatment value by value.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contractSchemas } from '../../src/common/contract.js';
import { OPTION_NAMES, optionRule, type OptionName } from '../../src/common/options.js';
import { checkResponse } from '../helpers/api.js';
import { ALL_NODES, raw, snapshot, startPropServer, type PropServer, type RawResponse } from './server.js';

let srv: PropServer;
beforeAll(async () => {
  srv = await startPropServer();
});
afterAll(async () => {
  await srv?.close();
});

const RUNS = { numRuns: 60 };

function expectProblem(method: string, path: string, r: RawResponse): void {
  expect(r.status, `${method} ${path} → ${r.status} ${r.text.slice(0, 300)}`).toBeGreaterThanOrEqual(400);
  expect(r.status, `${method} ${path} → ${r.status} ${r.text.slice(0, 300)}`).toBeLessThan(500);
  checkResponse(method, path, r.status, r.contentType, r.body);
}

/** Send, then check: a 4xx problem answer and an untouched store. */
async function rejected(method: string, path: string, opts: { body?: string; contentType?: string; headers?: Record<string, string> }): Promise<void> {
  const before = await snapshot(srv.store);
  const r = await raw(srv.url, method, path, opts);
  expectProblem(method, path, r);
  expect(await snapshot(srv.store), `${method} ${path} changed the store`).toBe(before);
}

// ---------------------------------------------------------------- endpoints that take a body

interface BodyEndpoint {
  method: string;
  path: string;
  /** Top-level JSON shape the endpoint takes. */
  shape: 'object' | 'array' | 'either';
  /** Fields of the body with values of the wrong type or out of their enum. */
  wrong: Record<string, fc.Arbitrary<unknown>>;
  /** Wrap a bad object into the body (e.g. inside an array). */
  wrap?: (o: Record<string, unknown>) => unknown;
  /** Extra keys are allowed (options). */
  open?: boolean;
}

const notBool = fc.oneof(fc.integer(), fc.string(), fc.constant(null), fc.array(fc.boolean(), { maxLength: 2 }));
const notString = fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.dictionary(fc.string({ maxLength: 3 }), fc.integer(), { maxKeys: 2 }));
const notObject = fc.oneof(fc.integer(), fc.boolean(), fc.string(), fc.array(fc.integer(), { maxLength: 2 }));
const notInt = fc.oneof(fc.double({ noInteger: true, noNaN: true }), fc.string(), fc.boolean(), fc.constant(null));
const badOperation = fc.string({ maxLength: 12 }).filter((s) => !['boot', 'reboot', 'shutdown'].includes(s));

const componentWrong = {
  enabled: notBool,
  error: notString,
  session: notString,
  desired_state: notObject,
  actual_state: notObject,
  retry_policy: notInt,
  status: notObject,
};

const ENDPOINTS: BodyEndpoint[] = [
  { method: 'PUT', path: '/v2/components', shape: 'array', wrong: componentWrong, wrap: (o) => [{ id: ALL_NODES[0], ...o }] },
  { method: 'PATCH', path: '/v2/components', shape: 'either', wrong: componentWrong, wrap: (o) => [{ id: ALL_NODES[0], ...o }] },
  { method: 'PATCH', path: '/v2/components', shape: 'either', wrong: componentWrong, wrap: (o) => ({ patch: o, filters: { ids: ALL_NODES[0] } }) },
  { method: 'PUT', path: `/v2/components/${ALL_NODES[1]}`, shape: 'object', wrong: componentWrong },
  { method: 'PATCH', path: `/v2/components/${ALL_NODES[1]}`, shape: 'object', wrong: componentWrong },
  { method: 'POST', path: '/v2/applystaged', shape: 'object', wrong: { xnames: fc.oneof(fc.integer(), fc.string(), fc.boolean(), fc.array(fc.integer(), { minLength: 1, maxLength: 2 })) } },
  { method: 'POST', path: '/v2/sessions', shape: 'object', wrong: { template_name: notString, operation: badOperation, limit: fc.oneof(fc.integer(), fc.boolean()), stage: notBool, include_disabled: notBool } , wrap: (o) => ({ template_name: 't0', operation: 'boot', ...o }) },
  { method: 'PATCH', path: '/v2/sessions/s0', shape: 'object', wrong: { components: fc.oneof(fc.integer(), fc.boolean()), status: notObject } },
  { method: 'PUT', path: '/v2/sessiontemplates/t0', shape: 'object', wrong: { boot_sets: fc.oneof(fc.integer(), fc.string(), fc.boolean(), fc.array(fc.integer(), { maxLength: 2 })), enable_cfs: notBool, cfs: notObject, description: fc.oneof(fc.integer(), fc.boolean()) } },
  { method: 'PATCH', path: '/v2/sessiontemplates/t0', shape: 'object', wrong: { boot_sets: fc.oneof(fc.integer(), fc.string(), fc.boolean()), enable_cfs: notBool, cfs: notObject } },
  { method: 'PATCH', path: '/v2/options', shape: 'object', open: true, wrong: { default_retry_policy: notInt, clear_stage: notBool, polling_frequency: notInt, logging_level: fc.integer() } },
];

/** Text that JSON.parse refuses (whitespace alone counts as no body, which applystaged accepts). */
const unparsable = fc.string({ minLength: 1, maxLength: 40 }).filter((s) => {
  if (s.trim() === '') return false;
  try {
    JSON.parse(s);
    return false;
  } catch {
    return true;
  }
});

/** Valid JSON whose top level is the wrong shape for the endpoint. */
function wrongShape(shape: BodyEndpoint['shape']): fc.Arbitrary<unknown> {
  const scalars = fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.string({ maxLength: 10 }));
  if (shape === 'object') return fc.oneof(scalars, fc.array(fc.integer(), { maxLength: 3 }));
  if (shape === 'array') return fc.oneof(scalars, fc.dictionary(fc.string({ maxLength: 4 }), fc.integer(), { maxKeys: 2 }));
  return scalars;
}

describe('bad bodies: 4xx problem+json, store unchanged', () => {
  for (const ep of ENDPOINTS) {
    describe(`${ep.method} ${ep.path}${ep.wrap && ep.method === 'PATCH' && ep.path === '/v2/components' ? (JSON.stringify(ep.wrap({})).startsWith('[') ? ' (list)' : ' (filter)') : ''}`, () => {
      it('unparsable JSON', async () => {
        await fc.assert(fc.asyncProperty(unparsable, (text) => rejected(ep.method, ep.path, { body: text, contentType: 'application/json' })), RUNS);
      });

      it('JSON of the wrong shape', async () => {
        await fc.assert(
          fc.asyncProperty(wrongShape(ep.shape), (v) => rejected(ep.method, ep.path, { body: JSON.stringify(v), contentType: 'application/json' })),
          RUNS,
        );
      });

      it('a field of the wrong type', async () => {
        const field = fc.constantFrom(...Object.keys(ep.wrong)).chain((k) => ep.wrong[k]!.map((v) => ({ [k]: v })));
        await fc.assert(
          fc.asyncProperty(field, (o) => rejected(ep.method, ep.path, { body: JSON.stringify(ep.wrap ? ep.wrap(o) : o), contentType: 'application/json' })),
          RUNS,
        );
      });

      if (!ep.open) {
        it('an unknown field', async () => {
          const extra = fc.tuple(fc.stringMatching(/^[a-z_]{1,10}$/), fc.jsonValue({ maxDepth: 1 })).map(([k, v]) => ({ [`zz_${k}`]: v }));
          await fc.assert(
            fc.asyncProperty(extra, (o) => rejected(ep.method, ep.path, { body: JSON.stringify(ep.wrap ? ep.wrap(o) : o), contentType: 'application/json' })),
            RUNS,
          );
        });
      }

      it('deeply nested JSON (at the top or inside a field)', async () => {
        const depth = fc.integer({ min: 100, max: 20_000 });
        const nest = fc.tuple(depth, fc.constantFrom('[]', '{}'), fc.boolean()).map(([d, kind, inField]) => {
          const inner = kind === '[]' ? '['.repeat(d) + ']'.repeat(d) : '{"a":'.repeat(d) + '1' + '}'.repeat(d);
          if (!inField) return inner;
          const key = Object.keys(ep.wrong)[0]!;
          return JSON.stringify(ep.wrap ? ep.wrap({ [key]: '@nest@' }) : { [key]: '@nest@' }).replace('"@nest@"', inner);
        });
        await fc.assert(fc.asyncProperty(nest, (text) => rejected(ep.method, ep.path, { body: text, contentType: 'application/json' })), { numRuns: 15 });
      });

      it('a content type that is not JSON', async () => {
        const ct = fc.constantFrom('text/plain', 'application/xml', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/octet-stream', 'text/html');
        // An empty body is no body (applystaged takes that as no ids): only non-empty ones here.
        const body = fc.oneof(fc.constant('{}'), fc.constant('[]'), fc.string({ minLength: 1, maxLength: 30 }));
        await fc.assert(fc.asyncProperty(ct, body, (c, b) => rejected(ep.method, ep.path, { body: b, contentType: c })), RUNS);
      });
    });
  }
});

// ---------------------------------------------------------------- ids, query strings, tenants

/** Path segments that name no record (arbitrary printable text, percent-encoded). */
const unknownId = fc
  .string({ minLength: 1, maxLength: 40, unit: 'grapheme-ascii' })
  .filter((s) => !ALL_NODES.includes(s) && !/^(s|t|done)[0ab]$/.test(s) && s !== '.' && s !== '..')
  .map(encodeURIComponent);

describe('unknown or malformed ids: 4xx, store unchanged', () => {
  const byId: [string, (id: string) => string, string?][] = [
    ['GET', (id) => `/v2/components/${id}`],
    ['DELETE', (id) => `/v2/components/${id}`],
    ['PATCH', (id) => `/v2/components/${id}`, '{"enabled":true}'],
    ['GET', (id) => `/v2/sessions/${id}`],
    ['DELETE', (id) => `/v2/sessions/${id}`],
    ['PATCH', (id) => `/v2/sessions/${id}`, '{"components":"x"}'],
    ['GET', (id) => `/v2/sessions/${id}/status`],
    ['POST', (id) => `/v2/sessions/${id}/status`],
    ['GET', (id) => `/v2/sessiontemplates/${id}`],
    ['DELETE', (id) => `/v2/sessiontemplates/${id}`],
    ['PATCH', (id) => `/v2/sessiontemplates/${id}`, '{"enable_cfs":false}'],
    ['GET', (id) => `/v2/sessiontemplatesvalid/${id}`],
  ];
  for (const [method, path, body] of byId) {
    it(`${method} ${path(':id')}`, async () => {
      await fc.assert(
        fc.asyncProperty(unknownId, (id) => rejected(method, path(id), body ? { body, contentType: 'application/json' } : {})),
        RUNS,
      );
    });
  }
});

describe('invalid query values: 4xx, store unchanged', () => {
  const notBoolText = fc.string({ maxLength: 8 }).filter((s) => s !== 'true' && s !== 'false');
  const notIntText = fc.string({ minLength: 1, maxLength: 8 }).filter((s) => !/^\s*[+-]?\d+\s*$/.test(s));
  const AGE_PATTERN = new RegExp((contractSchemas().AgeString as { pattern: string }).pattern);
  const notAge = fc.string({ minLength: 1, maxLength: 8 }).filter((s) => !AGE_PATTERN.test(s));
  const notStatus = fc.string({ minLength: 1, maxLength: 10 }).filter((s) => !['pending', 'running', 'complete'].includes(s));
  const cases: [string, string, string, fc.Arbitrary<string>][] = [
    ['GET', '/v2/components', 'enabled', notBoolText],
    ['GET', '/v2/components', 'page_size', fc.oneof(notIntText, fc.constantFrom('-1', '1048577', '99999999999'))],
    ['GET', '/v2/components', 'phase', fc.string({ minLength: 1, maxLength: 10 }).filter((s) => !['powering_on', 'powering_off', 'configuring', ''].includes(s))],
    ['PATCH', '/v2/components', 'skip_bad_ids', notBoolText],
    ['GET', '/v2/sessions', 'status', notStatus],
    ['GET', '/v2/sessions', 'min_age', notAge],
    ['GET', '/v2/sessions', 'max_age', notAge],
    ['DELETE', '/v2/sessions', 'status', notStatus],
    ['DELETE', '/v2/sessions', 'min_age', notAge],
  ];
  for (const [method, path, param, values] of cases) {
    it(`${method} ${path}?${param}=<invalid>`, async () => {
      const body = method === 'PATCH' ? { body: JSON.stringify([{ id: ALL_NODES[0], enabled: true }]), contentType: 'application/json' } : {};
      await fc.assert(
        fc.asyncProperty(values, (v) => rejected(method, `${path}?${param}=${encodeURIComponent(v)}`, body)),
        RUNS,
      );
    });
  }

  it('a query string or headers larger than the server accepts: 4xx problem answer', async () => {
    const size = fc.integer({ min: 17_000, max: 200_000 });
    const where = fc.constantFrom('query', 'header');
    await fc.assert(
      fc.asyncProperty(size, where, async (n, w) => {
        const ids = Array.from({ length: Math.ceil(n / 14) }, (_, i) => `x${1000 + (i % 9000)}c0s0b0n${i % 2}`).join(',');
        const path = w === 'query' ? `/v2/components?ids=${ids}` : '/v2/components';
        const before = await snapshot(srv.store);
        const r = await raw(srv.url, 'GET', path, w === 'header' ? { headers: { 'x-filler': ids } } : {});
        expectProblem('GET', '/v2/components', r);
        expect(await snapshot(srv.store)).toBe(before);
      }),
      { numRuns: 10 },
    );
  });

  it('unknown query parameters and junk headers never cause a 5xx or change anything on reads', async () => {
    const reads = fc.constantFrom('/v2/components', '/v2/sessions', '/v2/sessiontemplates', '/v2/options', '/v2/version', '/v2/healthz', '/v2/sessiontemplatetemplate', '/v2/sessions/s0/status');
    const params = fc.dictionary(fc.stringMatching(/^zz[a-z]{0,6}$/), fc.string({ maxLength: 10 }), { maxKeys: 3 });
    const headers = fc.dictionary(fc.stringMatching(/^x-[a-z]{1,8}$/), fc.stringMatching(/^[ -~]{0,20}$/), { maxKeys: 3 });
    await fc.assert(
      fc.asyncProperty(reads, params, headers, async (path, q, h) => {
        const before = await snapshot(srv.store);
        const r = await raw(srv.url, 'GET', `${path}?${new URLSearchParams(q)}`, { headers: h });
        expect(r.status, `${path} → ${r.status} ${r.text.slice(0, 200)}`).toBe(200);
        expect(await snapshot(srv.store)).toBe(before);
      }),
      RUNS,
    );
  });
});

describe('unknown tenants on tenant-checked endpoints: 4xx, store unchanged', () => {
  const tenant = fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,15}$/).filter((t) => t !== 'tenant-a' && t !== 'tenant-b');
  const writes: [string, string, unknown?][] = [
    ['GET', '/v2/components'],
    ['PATCH', '/v2/components', [{ id: ALL_NODES[0], enabled: true }]],
    ['PATCH', '/v2/components', { patch: { enabled: true }, filters: { ids: ALL_NODES.join(',') } }],
    ['GET', `/v2/components/${ALL_NODES[0]}`],
    ['PATCH', `/v2/components/${ALL_NODES[0]}`, { enabled: true }],
    ['DELETE', `/v2/components/${ALL_NODES[0]}`],
    ['POST', '/v2/applystaged', { xnames: ALL_NODES }],
    ['PUT', '/v2/sessiontemplates/new', { boot_sets: { b: { path: 's3://boot-images/img-1/manifest.json', type: 's3', node_list: [ALL_NODES[0]] } } }],
    ['POST', '/v2/sessions', { template_name: 't0', operation: 'boot' }],
    ['DELETE', '/v2/sessions/s0'],
    ['PATCH', '/v2/sessiontemplates/t0', { enable_cfs: true }],
    ['DELETE', '/v2/sessiontemplates/t0'],
  ];
  for (const [method, path, body] of writes) {
    it(`${method} ${path}`, async () => {
      await fc.assert(
        fc.asyncProperty(tenant, (t) =>
          rejected(method, path, { headers: { 'Cray-Tenant-Name': t }, ...(body !== undefined ? { body: JSON.stringify(body), contentType: 'application/json' } : {}) }),
        ),
        { numRuns: 25 },
      );
    });
  }
});

// ---------------------------------------------------------------- options, value by value

/** A value the option's rule refuses. */
function invalidValue(name: OptionName): fc.Arbitrary<unknown> {
  const rule = optionRule(name);
  const notJsonType = (t: string) => fc.jsonValue({ maxDepth: 1 }).filter((v) => (t === 'integer' ? !(typeof v === 'number' && Number.isInteger(v)) : typeof v !== t));
  switch (rule.type) {
    case 'integer':
      return fc.oneof(notJsonType('integer'), fc.integer({ min: -1e9, max: rule.min - 1 }), fc.integer({ min: rule.max + 1, max: rule.max + 1e9 }), fc.double({ noInteger: true, noNaN: true, noDefaultInfinity: true }));
    case 'boolean':
      return notJsonType('boolean');
    case 'string':
      return fc.oneof(
        notJsonType('string'),
        fc.string({ maxLength: 12 }).filter((s) => {
          if (name === 'logging_level') return !['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'].includes(s.toUpperCase());
          return !(rule.pattern?.test(s) ?? true) || (rule.minLength !== undefined && s.length < rule.minLength) || (rule.maxLength !== undefined && s.length > rule.maxLength);
        }),
      );
  }
}

describe('PATCH /v2/options with invalid values', () => {
  it('every option: an invalid value is refused with 400 naming the option, options unchanged', async () => {
    const arb = fc.constantFrom(...OPTION_NAMES).chain((name) => invalidValue(name).map((v) => ({ name, v })));
    await fc.assert(
      fc.asyncProperty(arb, async ({ name, v }) => {
        const before = await snapshot(srv.store);
        const body = JSON.stringify({ [name]: v });
        const r = await raw(srv.url, 'PATCH', '/v2/options', { body, contentType: 'application/json' });
        expectProblem('PATCH', '/v2/options', r);
        expect(r.status).toBe(400);
        expect(r.body.detail).toContain(name);
        expect(await snapshot(srv.store)).toBe(before);
      }),
      { numRuns: 200 },
    );
  });

  it('a valid option next to an invalid one is not applied either', async () => {
    const before = await snapshot(srv.store);
    const r = await raw(srv.url, 'PATCH', '/v2/options', { body: JSON.stringify({ polling_frequency: 99, default_retry_policy: 'three' }), contentType: 'application/json' });
    expectProblem('PATCH', '/v2/options', r);
    expect(await snapshot(srv.store)).toBe(before);
  });
});
