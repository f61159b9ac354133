/**
 * Upstream's own callers, replayed: the requests upstream BOS's operators, its on-node state reporter
 * (bos-reporter), the `cray` CLI and SAT send, written out from their source as they go on the wire
 * (python-requests' headers, the in-cluster service names in the Host header, the exact paths and
 * bodies, down to HSM's doubled slash and BSS's body without a Content-Type), sent to `bos up`'s port
 * without a proxy. Each answer must have the shape the caller reads.
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningSystem } from '../../src/system.js';
import { bootTemplate, bos, startFaultSystem, startSession, waitComplete, waitDiscovered } from '../faults/harness.js';

type Json = any;

/** What python-requests sends with every request. */
const PYTHON_REQUESTS = { 'user-agent': 'python-requests/2.32.3', 'accept-encoding': 'gzip, deflate', accept: '*/*', connection: 'keep-alive' };

interface Recorded {
  /** Who sends it, and where in its source. */
  who: string;
  host: string;
  method: string;
  path: string;
  /** `json`: python-requests' `json=` (Content-Type set); `data`: `data=json.dumps(...)` (no Content-Type). */
  json?: unknown;
  data?: unknown;
  headers?: Record<string, string>;
  /** The status and what the caller reads from the answer. */
  expect: (status: number, body: Json, headers: http.IncomingHttpHeaders) => void;
}

let sys: RunningSystem;
let port: number;
let session: string;
let xnames: string[];

function send(r: Recorded): Promise<{ status: number; body: Json; headers: http.IncomingHttpHeaders }> {
  let payload: Buffer | undefined;
  const headers: Record<string, string | number> = { ...PYTHON_REQUESTS, host: r.host, ...r.headers };
  if (r.json !== undefined) {
    payload = Buffer.from(JSON.stringify(r.json));
    headers['content-type'] = 'application/json';
  } else if (r.data !== undefined) {
    payload = Buffer.from(JSON.stringify(r.data));
  }
  if (payload) headers['content-length'] = payload.length;
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: r.method, path: r.path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: Json = text;
        try {
          body = text ? JSON.parse(text) : undefined;
        } catch {
          // not JSON: the expectation says whether that is right
        }
        resolve({ status: res.statusCode ?? 0, body, headers: res.headers });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

beforeAll(async () => {
  sys = await startFaultSystem({ nodes: 16 });
  port = Number(new URL(sys.url).port);
  const call = bos(sys.bosUrl);
  await waitDiscovered(call, sys.room);
  session = await startSession(call, bootTemplate(), 'boot', 'compat');
  await waitComplete(call, session);
  xnames = (await call('GET', `/components?session=${session}`)).body.map((c: Json) => c.id);
}, 60_000);
afterAll(async () => {
  await sys?.close();
});

const isList = (v: unknown) => Array.isArray(v);

describe("upstream BOS's operators, against the simulated services by their in-cluster names", () => {
  const recorded: () => Recorded[] = () => [
    {
      who: 'hsm.py read_all_node_xnames(): f"{BASE_ENDPOINT}/State/Components/" with BASE_ENDPOINT ending in "/"',
      host: 'cray-smd',
      method: 'GET',
      path: '/hsm/v2//State/Components/',
      expect: (status, body) => {
        expect(status).toBe(200);
        expect(body.Components.filter((c: Json) => c.Type === 'Node').map((c: Json) => c.ID)).toEqual(expect.arrayContaining(xnames));
      },
    },
    {
      who: "hsm.py get_components(): POST State/Components/Query, json={'ComponentIDs': ..., 'enabled': ['True']}",
      host: 'cray-smd',
      method: 'POST',
      path: '/hsm/v2/State/Components/Query',
      json: { ComponentIDs: xnames.slice(0, 3), enabled: ['True'] },
      expect: (status, body) => {
        expect(status).toBe(200);
        expect(body.Components.map((c: Json) => c.ID).sort()).toEqual(xnames.slice(0, 3).sort());
        for (const c of body.Components) expect(c).toMatchObject({ Type: 'Node', Enabled: true });
      },
    },
    {
      who: 'hsm.py Inventory.groups: GET groups',
      host: 'cray-smd',
      method: 'GET',
      path: '/hsm/v2/groups',
      expect: (status, body) => {
        expect(status).toBe(200);
        expect(isList(body)).toBe(true);
        for (const g of body) expect(g).toMatchObject({ label: expect.any(String), members: { ids: expect.any(Array) } });
      },
    },
    {
      who: 'hsm.py Inventory.partitions: GET partitions',
      host: 'cray-smd',
      method: 'GET',
      path: '/hsm/v2/partitions',
      expect: (status, body) => {
        expect(status).toBe(200);
        expect(isList(body)).toBe(true);
      },
    },
    {
      who: 'hsm.py Inventory.roles: GET State/Components',
      host: 'cray-smd',
      method: 'GET',
      path: '/hsm/v2/State/Components',
      expect: (status, body) => {
        expect(status).toBe(200);
        expect(body.Components.some((c: Json) => c.Role === 'Compute')).toBe(true);
      },
    },
    {
      who: "bss.py set_bss(): session.put(url, data=json.dumps(payload)) — no Content-Type",
      host: 'cray-bss',
      method: 'PUT',
      path: '/boot/v1/bootparameters',
      data: { hosts: xnames.slice(0, 2), params: 'console=ttyS0', kernel: 's3://boot-images/k/kernel', initrd: 's3://boot-images/k/initrd' },
      expect: (status, _body, headers) => {
        expect(status).toBe(200);
        expect(headers['bss-referral-token']).toMatch(/\S+/);
      },
    },
    {
      who: "pcs.py _power_status(): POST power-status, json={'xname': [...]}",
      host: 'cray-power-control',
      method: 'POST',
      path: '/power-status',
      json: { xname: xnames.slice(0, 3) },
      expect: (status, body) => {
        expect(status).toBe(200);
        expect(body.status).toHaveLength(3);
        for (const s of body.status) expect(s).toMatchObject({ xname: expect.any(String), powerState: 'on', error: expect.anything() });
      },
    },
    {
      who: "pcs.py _transition_create(): POST transitions, json={'location': [{'xname': ...}], 'operation': 'Soft-Off', 'taskDeadlineMinutes': 1}",
      host: 'cray-power-control',
      method: 'POST',
      path: '/transitions',
      json: { location: [{ xname: xnames[0] }], operation: 'Soft-Off', taskDeadlineMinutes: 1 },
      expect: (status, body) => {
        expect(status).toBe(200);
        expect(body.transitionID).toMatch(/\S+/);
      },
    },
    {
      who: 'cfs/components.py get_components_from_id_list(): GET components?ids=a,b',
      host: 'cray-cfs-api',
      method: 'GET',
      path: `/v3/components?ids=${xnames.slice(0, 2).join(',')}`,
      expect: (status, body) => {
        expect(status).toBe(200);
        expect(body.components.map((c: Json) => c.id).sort()).toEqual(xnames.slice(0, 2).sort());
        expect(body.next).toBeNull();
      },
    },
    {
      who: "cfs/components.py patch_desired_config(): PATCH components, json={'patch': {...}, 'filters': {'ids': 'a,b'}}",
      host: 'cray-cfs-api',
      method: 'PATCH',
      path: '/v3/components',
      json: { patch: { enabled: false, desired_config: 'demo-config', tags: { bos_session: 'compat' } }, filters: { ids: xnames.slice(0, 2).join(',') } },
      expect: (status) => expect(status).toBe(200),
    },
    {
      who: 'ims.py get_image(): GET images/{id}',
      host: 'cray-ims',
      method: 'GET',
      path: `/v3/images/${[...sys.room.images.keys()][0]}`,
      expect: (status, body) => {
        expect(status).toBe(200);
        expect(body).toMatchObject({ id: expect.any(String), arch: expect.stringMatching(/x86_64|aarch64/) });
      },
    },
    {
      who: 'tenant check: GET tenants/{name}',
      host: 'cray-tapms',
      method: 'GET',
      path: `/v1alpha3/tenants/${sys.room.tenants[0]!.name}`,
      expect: (status, body) => {
        expect(status).toBe(200);
        expect(Array.isArray(body.status.tenantresources)).toBe(true);
      },
    },
  ];

  it('every request is answered with the shape its caller reads', async () => {
    for (const r of recorded()) {
      const got = await send(r);
      try {
        r.expect(got.status, got.body, got.headers);
      } catch (err) {
        throw new Error(`${r.who} (${r.method} http://${r.host}${r.path}) → ${got.status} ${JSON.stringify(got.body).slice(0, 300)}: ${(err as Error).message}`);
      }
    }
  });
});

describe('SAT and the cray CLI, against the simulated CFS and the BOS API', () => {
  it('SAT bootprep and its session checks read CFS configurations and sessions', async () => {
    const config = await send({ who: 'sat bootprep', host: 'cray-cfs-api', method: 'GET', path: '/v3/configurations/demo-config', expect: () => undefined });
    expect(config.status).toBe(200);
    expect(config.body).toMatchObject({ name: 'demo-config', layers: expect.any(Array) });
    const sessions = await send({ who: 'sat status', host: 'cray-cfs-api', method: 'GET', path: '/v3/sessions', expect: () => undefined });
    expect(sessions.status).toBe(200);
    expect(Array.isArray(sessions.body.sessions)).toBe(true);
  });

  it('bos-reporter: PATCH components/{xname} with {"id", "actual_state"}', async () => {
    const c = (await bos(sys.bosUrl)('GET', `/components/${xnames[0]}`)).body;
    const r = await send({
      who: 'bos_reporter/components/state.py report_state()',
      host: 'cray-bos',
      method: 'PATCH',
      path: `/v2/components/${xnames[0]}`,
      json: { id: xnames[0], actual_state: { boot_artifacts: c.desired_state.boot_artifacts, bss_token: c.desired_state.bss_token } },
      expect: () => undefined,
    });
    expect(r.status).toBe(200);
    expect(r.body.id).toBe(xnames[0]);
  });

  it("upstream's operators and the cray CLI: listings with python's booleans, bulk PATCH, options, sessions", async () => {
    const list = await send({ who: 'operators', host: 'cray-bos', method: 'GET', path: `/v2/components?enabled=False&session=${session}`, expect: () => undefined });
    expect(list.status).toBe(200);
    expect(list.body.length).toBe(xnames.length);
    const patched = await send({
      who: 'operators update_components()',
      host: 'cray-bos',
      method: 'PATCH',
      path: '/v2/components',
      json: [{ id: xnames[1], error: '', last_action: { action: 'powering_on', failed: false } }],
      expect: () => undefined,
    });
    expect(patched.status).toBe(200);
    expect(patched.body.map((c: Json) => c.id)).toEqual([xnames[1]]);
    const options = await send({ who: 'operators options.py', host: 'cray-bos', method: 'GET', path: '/v2/options', expect: () => undefined });
    expect(options.body).toMatchObject({ polling_frequency: expect.any(Number), default_retry_policy: expect.any(Number) });
    const created = await send({
      who: 'cray bos v2 sessions create --template-name compat --operation shutdown',
      host: 'api-gw-service-nmn.local',
      method: 'POST',
      path: '/apis/bos/v2/sessions',
      json: { template_name: 'compat', operation: 'shutdown', stage: true },
      expect: () => undefined,
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ operation: 'shutdown', template_name: 'compat', stage: true });
    const described = await send({ who: 'cray bos v2 sessions describe', host: 'api-gw-service-nmn.local', method: 'GET', path: `/apis/bos/v2/sessions/${created.body.name}`, expect: () => undefined });
    expect(described.body.name).toBe(created.body.name);
  });
});
