/**
 * Who may do what: the access rules (the table of docs/security.md, and properties over generated tokens and
 * requests), and the API's token checks on the wire: 401 without a valid token (signature, issuer,
 * audience, expiry, key rotation), 403 naming what is missing, a refused write changing nothing, the
 * open endpoints, and the audit lines.
 */
import http from 'node:http';
import fc from 'fast-check';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from 'jose';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decide, DEFAULT_ROLES, isOpen, principalOf, type AccessRequest, type Principal } from '../../src/server/auth/access.js';
import { TokenVerifier } from '../../src/server/auth/verifier.js';
import { ALL_NODES, raw, snapshot, startPropServer, TENANT_NODES, type PropServer } from '../props/server.js';

const ROUTES: [string, string][] = [
  ['GET', '/v2/components'],
  ['PUT', '/v2/components'],
  ['PATCH', '/v2/components'],
  ['GET', '/v2/components/:component_id'],
  ['PUT', '/v2/components/:component_id'],
  ['PATCH', '/v2/components/:component_id'],
  ['DELETE', '/v2/components/:component_id'],
  ['POST', '/v2/applystaged'],
  ['GET', '/v2/sessions'],
  ['POST', '/v2/sessions'],
  ['DELETE', '/v2/sessions'],
  ['GET', '/v2/sessions/:session_id'],
  ['PATCH', '/v2/sessions/:session_id'],
  ['DELETE', '/v2/sessions/:session_id'],
  ['GET', '/v2/sessions/:session_id/status'],
  ['POST', '/v2/sessions/:session_id/status'],
  ['GET', '/v2/sessiontemplates'],
  ['GET', '/v2/sessiontemplates/:session_template_id'],
  ['PUT', '/v2/sessiontemplates/:session_template_id'],
  ['PATCH', '/v2/sessiontemplates/:session_template_id'],
  ['DELETE', '/v2/sessiontemplates/:session_template_id'],
  ['GET', '/v2/sessiontemplatetemplate'],
  ['GET', '/v2/sessiontemplatesvalid/:session_template_id'],
  ['GET', '/v2/options'],
  ['PATCH', '/v2/options'],
];

const principal = (roles: string[], extra: Partial<Principal> = {}): Principal => ({ subject: 't', roles, ...extra });
const request = (method: string, route: string, extra: Partial<AccessRequest> = {}): AccessRequest => ({ method, route, params: {}, tenant: '', ...extra });

describe('the access rules (the README table)', () => {
  it('admin does everything; monitor only reads; a token with neither role nor tenant does nothing', () => {
    for (const [method, route] of ROUTES) {
      expect(decide(principal(['admin']), request(method, route)).allow, `admin ${method} ${route}`).toBe(true);
      expect(decide(principal(['monitor']), request(method, route)).allow, `monitor ${method} ${route}`).toBe(method === 'GET');
      expect(decide(principal([]), request(method, route)).allow).toBe(false);
      expect(decide(principal(['operator', 'user']), request(method, route)).allow).toBe(false);
    }
    const d = decide(principal(['monitor']), request('PATCH', '/v2/options'));
    expect(d).toEqual({ allow: false, reason: 'the monitor role may only read (GET); PATCH needs the admin role' });
    // A session preview writes nothing: a monitor may ask for one, a node token may not.
    expect(decide(principal(['monitor']), request('POST', '/v2/sessionpreview')).allow).toBe(true);
    expect(decide(principal(['system-compute'], { xname: 'x1' }), request('POST', '/v2/sessionpreview')).allow).toBe(false);
  });

  it('a tenant claim: only with a Cray-Tenant-Name it names; without a role, as that tenant\'s administrator', () => {
    const acme = principal([], { tenants: ['acme', 'globex'] });
    expect(decide(acme, request('POST', '/v2/sessions', { tenant: 'acme' })).allow).toBe(true);
    expect(decide(acme, request('POST', '/v2/sessions', { tenant: 'globex' })).allow).toBe(true);
    expect(decide(acme, request('POST', '/v2/sessions', { tenant: 'initech' }))).toEqual({ allow: false, reason: 'this token may not act for tenant initech (it names acme, globex)' });
    expect(decide(acme, request('GET', '/v2/components'))).toEqual({ allow: false, reason: 'this token acts for tenant acme, globex only: send the Cray-Tenant-Name header' });
    // An admin with a tenant claim is held to it too; a monitor with one reads its tenant only.
    expect(decide(principal(['admin'], { tenants: ['acme'] }), request('DELETE', '/v2/sessions')).allow).toBe(false);
    expect(decide(principal(['monitor'], { tenants: ['acme'] }), request('GET', '/v2/sessions', { tenant: 'acme' })).allow).toBe(true);
    expect(decide(principal(['monitor'], { tenants: ['acme'] }), request('POST', '/v2/sessions', { tenant: 'acme' })).allow).toBe(false);
  });

  it('a node token: only its own state report', () => {
    const node = principal(['system-compute'], { xname: 'x1' });
    const report = (id: string, body: unknown) => request('PATCH', '/v2/components/:component_id', { params: { component_id: id }, body });
    expect(decide(node, report('x1', { actual_state: { bss_token: 't' } })).allow).toBe(true);
    expect(decide(node, report('x1', { id: 'x1', actual_state: { bss_token: 't' } })).allow).toBe(true);
    expect(decide(node, report('x2', { actual_state: {} })).allow).toBe(false);
    expect(decide(node, report('x1', { id: 'x2', actual_state: {} })).allow).toBe(false);
    expect(decide(node, report('x1', { enabled: true, actual_state: {} }))).toEqual({ allow: false, reason: "a system-compute token may only change its node's actual_state" });
    for (const [method, route] of ROUTES) {
      if (method === 'PATCH' && route === '/v2/components/:component_id') continue;
      expect(decide(node, request(method, route, { params: { component_id: 'x1' } })).allow, `${method} ${route}`).toBe(false);
    }
    expect(decide(principal(['system-compute']), report('x1', { actual_state: {} }))).toEqual({ allow: false, reason: "a system-compute token must carry the node's xname claim" });
  });

  it('reads principals from Keycloak-style claims, at configurable paths', () => {
    expect(principalOf({ sub: 'u', realm_access: { roles: ['admin', 7] }, tenant: 'acme' })).toEqual({ subject: 'u', roles: ['admin'], tenants: ['acme'] });
    expect(principalOf({ client_id: 'c', realm_access: { roles: 'monitor' }, tenant: ['a', 'b'], xname: 'x1' })).toEqual({ subject: 'c', roles: ['monitor'], tenants: ['a', 'b'], xname: 'x1' });
    expect(principalOf({ sub: 'u', groups: { bos: ['admin'] }, org: 'acme' }, { roles: 'groups.bos', tenant: 'org', xname: 'node' })).toEqual({ subject: 'u', roles: ['admin'], tenants: ['acme'] });
    expect(isOpen('GET', '/v2')).toBe(true);
    expect(isOpen('GET', '/v2/healthz')).toBe(true);
    expect(isOpen('GET', '/v2/version')).toBe(true);
    expect(isOpen('GET', '/v2/options')).toBe(false);
    expect(isOpen('POST', '/v2/version')).toBe(false);
  });
});

describe('the access rules (properties)', () => {
  const role = fc.constantFrom('admin', 'monitor', 'system-compute', 'operator');
  const tenantName = fc.constantFrom('acme', 'globex', 'initech');
  const principals = fc.record({
    subject: fc.constant('s'),
    roles: fc.uniqueArray(role, { maxLength: 3 }),
    tenants: fc.option(fc.uniqueArray(tenantName, { minLength: 1, maxLength: 2 }), { nil: undefined }),
    xname: fc.option(fc.constantFrom('x1', 'x2'), { nil: undefined }),
  });
  const requests = fc.record({
    route: fc.constantFrom(...ROUTES),
    tenant: fc.constantFrom('', 'acme', 'globex', 'initech'),
    id: fc.constantFrom('x1', 'x2'),
    body: fc.constantFrom<unknown>(undefined, { actual_state: {} }, { enabled: true }, { id: 'x1', actual_state: {} }),
  }).map(({ route: [method, route], tenant, id, body }) => request(method, route, { tenant, params: { component_id: id }, body }));

  it('nothing is allowed without a role or a tenant claim; a monitor never writes unless it is also admin', () => {
    fc.assert(
      fc.property(principals, requests, (p, r) => {
        const d = decide(p, r, DEFAULT_ROLES);
        const roles = new Set(p.roles);
        if (!roles.has('admin') && !roles.has('monitor') && !roles.has('system-compute') && !(p.tenants && p.tenants.length)) expect(d.allow).toBe(false);
        if (d.allow && r.method !== 'GET' && !roles.has('admin') && !(p.tenants && p.tenants.length)) {
          // Only a node's own report remains.
          expect(roles.has('system-compute') && r.method === 'PATCH' && r.params.component_id === p.xname).toBe(true);
        }
        if (!d.allow) expect(d.reason).toMatch(/\S/);
      }),
      { numRuns: 2000 },
    );
  });

  it('a token naming tenants never acts for another tenant or none; a node token never acts but for its node', () => {
    fc.assert(
      fc.property(principals, requests, (p, r) => {
        const d = decide(p, r, DEFAULT_ROLES);
        if (!d.allow) return;
        const nodeOnly = p.roles.includes('system-compute') && !p.roles.includes('admin');
        if (nodeOnly) {
          expect(r.method).toBe('PATCH');
          expect(r.route).toBe('/v2/components/:component_id');
          expect(r.params.component_id).toBe(p.xname);
        } else if (p.tenants && p.tenants.length) {
          expect(p.tenants).toContain(r.tenant);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('adding the admin role to a token that is not a node token never refuses what it allowed', () => {
    fc.assert(
      fc.property(principals, requests, (p, r) => {
        if (!decide(p, r).allow || p.roles.includes('system-compute')) return;
        expect(decide({ ...p, roles: [...p.roles, 'admin'] }, r).allow).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });
});

// ------------------------------------------------------------------ on the wire

interface Issuer {
  url: string;
  sign(claims: JWTPayload, opts?: { exp?: string; nbf?: number; aud?: string; iss?: string; key?: 'current' | 'next' | 'foreign' }): Promise<string>;
  /** Publish the next key too (a rotation). */
  rotate(): void;
  jwksFetches: number;
  close(): Promise<void>;
}

/** An issuer with OpenID discovery and a JWKS endpoint, whose keys the test controls. */
async function startIssuer(): Promise<Issuer> {
  const make = async (kid: string) => {
    const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
    return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } };
  };
  const [current, next, foreign] = await Promise.all([make('k1'), make('k2'), make('k1')]);
  let published = [current.jwk];
  const state = { fetches: 0 };
  const server = http.createServer((req, res) => {
    if (req.url === '/.well-known/openid-configuration') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ issuer: url, jwks_uri: `${url}/jwks` }));
    }
    state.fetches++;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: published }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const addr = server.address();
  const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  return {
    url,
    get jwksFetches() {
      return state.fetches;
    },
    async sign(claims, o = {}) {
      const k = o.key === 'next' ? next : o.key === 'foreign' ? foreign : current;
      let jwt = new SignJWT(claims)
        .setProtectedHeader({ alg: 'RS256', kid: k.kid })
        .setIssuer(o.iss ?? url)
        .setAudience(o.aud ?? 'bos')
        .setSubject(String(claims.sub ?? 'tester'))
        .setIssuedAt()
        .setExpirationTime(o.exp ?? '10m');
      if (o.nbf !== undefined) jwt = jwt.setNotBefore(o.nbf);
      return jwt.sign(k.privateKey as CryptoKey);
    },
    rotate() {
      published = [current.jwk, next.jwk];
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('the API with token verification', () => {
  let issuer: Issuer;
  let srv: PropServer;
  const lines: Record<string, unknown>[] = [];
  const admin = () => issuer.sign({ sub: 'alice', realm_access: { roles: ['admin'] } });
  const call = async (method: string, path: string, token?: string, body?: unknown, tenant?: string) =>
    raw(srv.url, method, path, {
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(tenant ? { 'cray-tenant-name': tenant } : {}) },
      ...(body === undefined ? {} : { body: JSON.stringify(body), contentType: 'application/json' }),
    });

  beforeAll(async () => {
    issuer = await startIssuer();
    const logger = pino({ level: 'warn' }, { write: (l: string) => lines.push(JSON.parse(l)) });
    srv = await startPropServer({ auth: new TokenVerifier({ issuer: issuer.url, audience: 'bos' }), logger });
  });
  afterAll(async () => {
    await srv?.close();
    await issuer?.close();
  });

  it('answers the open endpoints without a token, everything else 401 with WWW-Authenticate: Bearer', async () => {
    for (const path of ['/v2', '/v2/version', '/v2/healthz', '/']) expect((await call('GET', path)).status, path).toBe(200);
    for (const [method, path] of [['GET', '/v2/components'], ['GET', '/v2/options'], ['DELETE', '/v2/sessions'], ['POST', '/v2/applystaged']]) {
      const r = await fetch(`${srv.url}${path}`, { method });
      expect(r.status, `${method} ${path}`).toBe(401);
      expect(r.headers.get('www-authenticate')).toBe('Bearer realm="bos"');
      expect(r.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(((await r.json()) as { detail: string }).detail).toBe('this request needs a bearer token: send Authorization: Bearer <token>');
    }
  });

  it('refuses tokens that do not verify: 401 saying why, never echoing the token', async () => {
    const cases: [string, string, RegExp][] = [
      ['expired', await issuer.sign({ sub: 'a', realm_access: { roles: ['admin'] } }, { exp: '-1m' }), /the token has expired/],
      ['not yet valid', await issuer.sign({ sub: 'a', realm_access: { roles: ['admin'] } }, { nbf: Math.floor(Date.now() / 1000) + 600 }), /not valid yet/],
      ['another audience', await issuer.sign({ sub: 'a' }, { aud: 'cfs' }), /not for this service \(aud is not bos\)/],
      ['another issuer', await issuer.sign({ sub: 'a' }, { iss: 'https://elsewhere' }), /was not issued by/],
      ['a key nobody publishes', await issuer.sign({ sub: 'a' }, { key: 'foreign' }), /signature does not verify/],
      ['garbage', 'not.a.jwt', /not a valid JWT/],
    ];
    for (const [what, token, reason] of cases) {
      const r = await fetch(`${srv.url}/v2/options`, { headers: { authorization: `Bearer ${token}` } });
      expect(r.status, what).toBe(401);
      expect(r.headers.get('www-authenticate'), what).toMatch(/^Bearer realm="bos", error="invalid_token", error_description="[^"]*"$/);
      const body = (await r.json()) as { detail: string };
      expect(body.detail, what).toMatch(reason);
      expect(body.detail).not.toContain(token);
    }
  });

  it('fetches the keys again for a key it does not know yet (rotation), at most once per cool-down', async () => {
    const before = issuer.jwksFetches;
    const rotated = await issuer.sign({ sub: 'a', realm_access: { roles: ['admin'] } }, { key: 'next' });
    expect((await call('GET', '/v2/options', rotated)).status).toBe(401);
    issuer.rotate();
    // jose refetches on an unknown key id after its 30 s cool-down; a fresh verifier shows the rotation at once.
    const fresh = await startPropServer({ auth: new TokenVerifier({ issuer: issuer.url, audience: 'bos' }) });
    try {
      expect((await raw(fresh.url, 'GET', '/v2/options', { headers: { authorization: `Bearer ${rotated}` } })).status).toBe(200);
    } finally {
      await fresh.close();
    }
    expect(issuer.jwksFetches).toBeGreaterThan(before);
  });

  it('403 names what is missing, and a refused write changes nothing', async () => {
    const before = await snapshot(srv.store);
    const monitor = await issuer.sign({ sub: 'mon', realm_access: { roles: ['monitor'] } });
    const node = await issuer.sign({ sub: 'n', realm_access: { roles: ['system-compute'] }, xname: ALL_NODES[0] });
    const acme = await issuer.sign({ sub: 't', tenant: 'tenant-a' });
    const refused: [string, string, string | undefined, unknown, string | undefined, RegExp][] = [
      ['PATCH', '/v2/options', monitor, { polling_frequency: 1 }, undefined, /monitor role may only read/],
      ['DELETE', '/v2/sessions', monitor, undefined, undefined, /monitor role may only read/],
      ['PATCH', `/v2/components/${ALL_NODES[1]}`, node, { actual_state: {} }, undefined, /may only report its own node's state/],
      ['PATCH', `/v2/components/${ALL_NODES[0]}`, node, { enabled: true }, undefined, /may only change its node's actual_state/],
      ['GET', '/v2/components', node, undefined, undefined, /may only report/],
      ['DELETE', '/v2/sessions', acme, undefined, undefined, /acts for tenant tenant-a only: send the Cray-Tenant-Name header/],
      ['DELETE', '/v2/sessions', acme, undefined, 'tenant-b', /may not act for tenant tenant-b/],
      ['PUT', '/v2/components', await issuer.sign({ sub: 'nobody' }), [{ id: 'x9' }], undefined, /grants neither the admin nor the monitor role/],
    ];
    for (const [method, path, token, body, tenant, reason] of refused) {
      const r = await call(method, path, token, body, tenant);
      expect(r.status, `${method} ${path}`).toBe(403);
      expect(r.body.detail, `${method} ${path}`).toMatch(reason);
    }
    expect(await snapshot(srv.store)).toBe(before);
    // What they may do, they do.
    expect((await call('GET', '/v2/options', monitor)).status).toBe(200);
    expect((await call('PATCH', `/v2/components/${ALL_NODES[0]}`, node, { actual_state: { bss_token: '' } })).status).toBe(200);
    expect((await call('GET', '/v2/components', acme, undefined, 'tenant-a')).body.map((c: { id: string }) => c.id)).toEqual(TENANT_NODES['tenant-a']);
    expect((await call('PATCH', '/v2/options', await admin(), { polling_frequency: 7 })).status).toBe(200);
  });

  it('logs one audit line per write and per refused request, with the subject and never the token', async () => {
    lines.length = 0;
    const token = await admin();
    await call('PATCH', '/v2/sessiontemplates/t0', token, { description: 'audited' });
    await call('GET', '/v2/options', token); // a read: not audited
    await call('DELETE', '/v2/sessions/s0', undefined);
    const audit = lines.filter((l) => l.audit === true);
    expect(audit).toHaveLength(2);
    expect(audit[0]).toMatchObject({ subject: 'alice', method: 'PATCH', path: '/v2/sessiontemplates/t0', status: 200, template: 't0', tenant: null, msg: 'audit' });
    expect(audit[1]).toMatchObject({ subject: null, method: 'DELETE', path: '/v2/sessions/s0', status: 401, session: 's0' });
    expect(JSON.stringify(lines)).not.toContain(token);
  });
});
