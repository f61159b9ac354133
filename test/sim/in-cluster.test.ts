/**
 * The in-cluster layout (services told apart by their Host header, as `http://cray-smd/hsm/v2/...`),
 * the per-service ports, and what the real services accept: merged and trailing slashes on HSM
 * paths, JSON bodies without a Content-Type, JSON 404s in each service's error shape.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/common/clock.js';
import { INSTANT_KNOBS, SERVICE_PORT_ORDER, startSimulator, serviceForHost, type RunningSimulator } from '../../src/sim/index.js';
import { call, raw } from './helpers.js';

let sim: RunningSimulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

const X = 'x1000c0s0b0n0';
type Problem = { type: string; title: string; status: number; detail: string };
type Components = { Components: { ID: string }[] };

function expectProblem(r: { status: number; headers: Record<string, unknown>; json: unknown }, status = 404) {
  expect(r.status).toBe(status);
  expect(String(r.headers['content-type'])).toMatch(/^application\/problem\+json/);
  const p = r.json as Problem;
  expect(p).toMatchObject({ type: 'about:blank', status });
  expect(typeof p.title).toBe('string');
  expect(typeof p.detail).toBe('string');
}

async function start(servicePorts?: number) {
  sim = await startSimulator({ nodes: 8, clock: new FakeClock(), knobs: INSTANT_KNOBS, servicePorts });
  return sim;
}

describe('service names by Host header (the in-cluster layout)', () => {
  it('knows the in-cluster names, with a port or fully qualified', () => {
    expect(serviceForHost('cray-smd')).toBe('hsm');
    expect(serviceForHost('cray-smd:80')).toBe('hsm');
    expect(serviceForHost('cray-smd.services.svc.cluster.local')).toBe('hsm');
    expect(serviceForHost('CRAY-CFS-API.services:8080')).toBe('cfs');
    expect(serviceForHost('cray-power-control')).toBe('pcs');
    expect(serviceForHost('cray-bss')).toBe('bss');
    expect(serviceForHost('cray-ims')).toBe('ims');
    expect(serviceForHost('cray-tapms')).toBe('tapms');
    expect(serviceForHost('127.0.0.1:8080')).toBeUndefined();
    expect(serviceForHost('cray-smd-other')).toBeUndefined();
    expect(serviceForHost('[::1]:80')).toBeUndefined();
  });

  it('answers every service at its in-cluster paths, CFS and IMS both at /v3 told apart by Host', async () => {
    const s = await start();
    const hsm = await raw<Components>(s.url, '/hsm/v2/State/Components', { host: 'cray-smd' });
    expect(hsm.status).toBe(200);
    expect(hsm.json.Components).toHaveLength(s.room.size);
    const one = await raw<{ ID: string }>(s.url, `/hsm/v2/State/Components/${X}`, { host: 'cray-smd.services.svc.cluster.local:80' });
    expect(one.json.ID).toBe(X);

    const pcs = await raw<{ status: { xname: string }[] }>(s.url, '/power-status', {
      method: 'POST',
      host: 'cray-power-control',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ xname: [X] }),
    });
    expect(pcs.status).toBe(200);
    expect(pcs.json.status.map((e) => e.xname)).toEqual([X]);
    const tr = await raw<{ transitionID: string }>(s.url, '/transitions', {
      method: 'POST',
      host: 'cray-power-control',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ operation: 'On', location: [{ xname: X }] }),
    });
    expect(tr.status).toBe(200);
    expect((await raw(s.url, `/transitions/${tr.json.transitionID}`, { host: 'cray-power-control' })).status).toBe(200);

    const bss = await raw<{ hosts: string[] }[]>(s.url, `/boot/v1/bootparameters?name=${X}`, { host: 'cray-bss' });
    expect(bss.status).toBe(200);
    expect(bss.json[0]!.hosts).toEqual([X]);

    const cfs = await raw<{ components: { id: string }[]; next: unknown }>(s.url, `/v3/components?ids=${X}`, { host: 'cray-cfs-api' });
    expect(cfs.status).toBe(200);
    expect(cfs.json.components.map((c) => c.id)).toEqual([X]);
    const ims = await raw<{ id: string }[]>(s.url, '/v3/images', { host: 'cray-ims' });
    expect(ims.status).toBe(200);
    expect(ims.json.map((i) => i.id).sort()).toEqual([...s.room.images.keys()].sort());
    // the same path, the other service: CFS has no /images, IMS has no /components
    expectProblem(await raw(s.url, '/v3/images', { host: 'cray-cfs-api' }));
    expectProblem(await raw(s.url, `/v3/components?ids=${X}`, { host: 'cray-ims' }));

    const tenant = await raw<{ metadata: { name: string } }>(s.url, '/v1alpha3/tenants/tenant-a', { host: 'cray-tapms' });
    expect(tenant.status).toBe(200);
    expect(tenant.json.metadata.name).toBe('tenant-a');
  });

  it('keeps the gateway prefixes on any Host, and S3 path style on an unknown Host', async () => {
    const s = await start();
    const r = await raw<{ components: unknown[] }>(s.url, `/apis/cfs/v3/components?ids=${X}`, { host: 'cray-smd' });
    expect(r.status).toBe(200);
    expect(r.json.components).toHaveLength(1);
    expect((await raw(s.url, '/apis/smd/hsm/v2/State/Components', { host: 'api-gw-service-nmn.local' })).status).toBe(200);
    expect((await raw(s.url, '/apis/sim/v1/summary', { host: 'cray-bss' })).status).toBe(200);
    const image = [...s.room.images.keys()][0]!;
    const obj = await raw(s.url, `/boot-images/${image}/manifest.json`, { method: 'HEAD', host: 'rgw-vip' });
    expect(obj.status).toBe(200);
    expect((await raw(s.url, `/boot-images/${image}/manifest.json`, { host: 'localhost' })).status).toBe(200);
  });

  it('routes an absolute-form request target (a client using the simulator as its HTTP proxy) by its host', async () => {
    const s = await start();
    const r = await raw<Components>(s.url, 'http://cray-smd/hsm/v2//State/Components/', { host: '127.0.0.1' });
    expect(r.status).toBe(200);
    expect(r.json.Components).toHaveLength(s.room.size);
    const c = await raw(s.url, 'http://cray-cfs-api.services.svc.cluster.local/v3/configurations');
    expect(c.json).toEqual({ configurations: [], next: null });
  });
});

describe('one port per service (--service-ports)', () => {
  it('serves each service at its in-cluster paths on its own port, whatever the Host header says', async () => {
    const s = await start(0);
    const l = s.servicePorts!;
    expect(Object.keys(l.ports).sort()).toEqual([...SERVICE_PORT_ORDER].sort());
    expect(new Set(Object.values(l.ports)).size).toBe(SERVICE_PORT_ORDER.length);
    expect(l.urls.hsm).toBe(`http://127.0.0.1:${l.ports.hsm}/hsm/v2`);
    expect(l.urls.pcs).toBe(`http://127.0.0.1:${l.ports.pcs}`);

    expect((await call<Components>(`${l.urls.hsm}/State/Components`)).body.Components).toHaveLength(s.room.size);
    const ps = await call<{ status: unknown[] }>(`${l.urls.pcs}/power-status`, 'POST', { xname: [X] });
    expect(ps.body.status).toHaveLength(1);
    const put = await call(`${l.urls.bss}/bootparameters`, 'PUT', { hosts: [X], params: 'p', kernel: 'k', initrd: 'i' });
    expect(put.headers.get('bss-referral-token')).toBeTruthy();
    expect((await call<{ components: unknown[] }>(`${l.urls.cfs}/components?ids=${X}`)).body.components).toHaveLength(1);
    expect((await call<unknown[]>(`${l.urls.ims}/images`)).body).toHaveLength(s.room.images.size);
    expect((await call(`${l.urls.tapms}/tenants/tenant-b`)).status).toBe(200);
    const image = [...s.room.images.keys()][0]!;
    expect((await call(`${l.urls.s3}/boot-images/${image}/manifest.json`)).status).toBe(200);

    // The port decides, not the Host header: the CFS port asked as cray-ims still answers CFS.
    const cfsPort = `http://127.0.0.1:${l.ports.cfs}`;
    expect((await raw(cfsPort, `/v3/components?ids=${X}`, { host: 'cray-ims' })).status).toBe(200);
    expectProblem(await raw(cfsPort, '/v3/images', { host: 'cray-ims' }));
    // No gateway prefixes on a service port.
    expectProblem(await raw(`http://127.0.0.1:${l.ports.hsm}`, '/apis/smd/hsm/v2/State/Components'));

    await s.close();
    sim = undefined;
    await expect(call(`${l.urls.hsm}/State/Components`)).rejects.toThrow();
  });

  it('uses the block from the base port in the documented order, and refuses a block that does not fit', async () => {
    // Find a free block by trying a few bases in a high range.
    let s: RunningSimulator | undefined;
    let base = 0;
    for (let attempt = 0; attempt < 20 && !s; attempt++) {
      base = 40000 + Math.floor(Math.random() * 20000);
      try {
        s = await startSimulator({ nodes: 2, knobs: INSTANT_KNOBS, servicePorts: base });
      } catch {
        s = undefined;
      }
    }
    expect(s).toBeDefined();
    sim = s;
    expect(SERVICE_PORT_ORDER).toEqual(['hsm', 'pcs', 'bss', 'cfs', 'ims', 'tapms', 's3']);
    SERVICE_PORT_ORDER.forEach((svc, i) => expect(s!.servicePorts!.ports[svc]).toBe(base + i));
    expect((await call(`http://127.0.0.1:${base + 3}/v3/components?limit=1`)).status).toBe(200);
    await expect(startSimulator({ nodes: 2, servicePorts: 65532 })).rejects.toThrow(/do not fit/);
  });
});

describe('what the real services accept', () => {
  it('HSM answers merged and trailing slashes (upstream discovery asks for /hsm/v2//State/Components/)', async () => {
    const s = await start();
    for (const [target, host] of [
      ['/hsm/v2//State/Components/', 'cray-smd'],
      ['/hsm/v2//State//Components', 'cray-smd'],
      ['/apis/smd/hsm/v2//State/Components/', undefined],
      ['//apis/smd/hsm/v2/State/Components//', undefined],
    ] as const) {
      const r = await raw<Components>(s.url, target, { host });
      expect(r.status, target).toBe(200);
      expect(r.json.Components, target).toHaveLength(s.room.size);
    }
    const q = await raw<Components>(s.url, '/hsm/v2//State/Components/Query/', {
      method: 'POST',
      host: 'cray-smd',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ComponentIDs: [X] }),
    });
    expect(q.json.Components.map((c) => c.ID)).toEqual([X]);
    const filtered = await raw<Components>(s.url, `/hsm/v2//State/Components/?id=${X}`, { host: 'cray-smd' });
    expect(filtered.json.Components.map((c) => c.ID)).toEqual([X]);
    expect((await raw(s.url, '/hsm/v2//groups/', { host: 'cray-smd' })).status).toBe(200);
    expect((await raw(s.url, '/hsm/v2//locks/status/?type=Node&locked=True', { host: 'cray-smd' })).status).toBe(200);
  });

  it('BSS, PCS and HSM read a JSON body without a Content-Type (upstream power-on sends one); CFS needs application/json', async () => {
    const s = await start();
    const body = JSON.stringify({ hosts: [X], params: 'quiet', kernel: 's3://boot-images/k', initrd: 's3://boot-images/i' });
    const put = await raw(s.url, '/boot/v1/bootparameters', { method: 'PUT', host: 'cray-bss', body });
    expect(put.status).toBe(200);
    const token = put.headers['bss-referral-token'];
    expect(token).toBeTruthy();
    expect(s.room.bootParameters(X)).toMatchObject({ params: 'quiet', kernel: 's3://boot-images/k', token });
    // the gateway layout and other content types too
    const post = await raw(s.url, '/apis/bss/boot/v1/bootparameters', { method: 'POST', headers: { 'content-type': 'text/plain' }, body });
    expect(post.status).toBe(200);
    const pcs = await raw<{ status: unknown[] }>(s.url, '/power-status', { method: 'POST', host: 'cray-power-control', body: JSON.stringify({ xname: [X] }) });
    expect(pcs.json.status).toHaveLength(1);
    const hsm = await raw<Components>(s.url, '/hsm/v2/State/Components/Query', { method: 'POST', host: 'cray-smd', body: JSON.stringify({ ComponentIDs: [X] }) });
    expect(hsm.json.Components).toHaveLength(1);
    // not JSON at all: a problem, not a crash
    expectProblem(await raw(s.url, '/boot/v1/bootparameters', { method: 'PUT', host: 'cray-bss', body: '{"hosts": [' }), 400);
    // invalid JSON with a JSON content type: a problem too
    expectProblem(await raw(s.url, '/boot/v1/bootparameters', { method: 'PUT', host: 'cray-bss', headers: { 'content-type': 'application/json' }, body: '{' }), 400);
    // CFS (connexion) does not read a body it was not told is JSON
    const cfs = await raw(s.url, '/v3/components', {
      method: 'PATCH',
      host: 'cray-cfs-api',
      body: JSON.stringify({ patch: { enabled: true }, filters: { ids: X } }),
    });
    expectProblem(cfs, 400);
  });

  it('answers unknown routes with a JSON problem in every layout, S3 with its XML', async () => {
    const s = await start(0);
    const l = s.servicePorts!;
    const inCluster: [string, string][] = [
      ['cray-smd', '/hsm/v2/nope'],
      ['cray-smd', '/nope'],
      ['cray-smd', '/v2/options'],
      ['cray-power-control', '/nope'],
      ['cray-power-control', '/'],
      ['cray-bss', '/boot/v1/nope'],
      ['cray-bss', '/'],
      ['cray-cfs-api', '/v3/nope'],
      ['cray-cfs-api', '/v2/components'],
      ['cray-ims', '/v3/nope'],
      ['cray-tapms', '/v1alpha3/nope'],
    ];
    for (const [host, path] of inCluster) expectProblem(await raw(s.url, path, { host }));
    for (const path of ['/apis/smd/hsm/v2/nope', '/apis/power-control/v1/nope', '/apis/bss/boot/v1/nope', '/apis/cfs/v3/nope', '/apis/ims/v3/nope', '/apis/tapms/v1alpha3/nope', '/apis/sim/v1/nope', '/apis/nope', '/apis/smd/hsm/v2']) {
      const r = await raw<Problem>(s.url, path);
      expectProblem(r);
      expect(r.json.detail).toContain(path);
    }
    // methods no route has, in a JSON service's space
    expectProblem(await raw(s.url, '/apis/smd/hsm/v2/State/Components', { method: 'DELETE' }));
    expectProblem(await raw(s.url, '/hsm/v2/State/Components', { method: 'DELETE', host: 'cray-smd' }));
    expectProblem(await raw(s.url, '/apis/bss/boot/v1/bootscript', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }));
    // the per-service ports
    for (const svc of ['hsm', 'pcs', 'bss', 'cfs', 'ims', 'tapms'] as const) {
      expectProblem(await raw(`http://127.0.0.1:${l.ports[svc]}`, '/definitely/not/here'));
    }
    // S3 keeps S3's XML errors
    const key = await raw(s.url, '/boot-images/no/such/key');
    expect(key.status).toBe(404);
    expect(String(key.headers['content-type'])).toMatch(/xml/);
    expect(key.text).toContain('<Code>NoSuchKey</Code>');
    const bucket = await raw(`http://127.0.0.1:${l.ports.s3}`, '/no-bucket/key');
    expect(bucket.text).toContain('<Code>NoSuchBucket</Code>');
    const del = await raw(s.url, '/boot-images/x', { method: 'DELETE' });
    expect(del.status).toBe(405);
    expect(del.text).toContain('<Code>MethodNotAllowed</Code>');
  });
});
