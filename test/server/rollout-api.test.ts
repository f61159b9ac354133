/**
 * Rolling sessions and session previews in the API (docs/rollouts.md), over real HTTP on loopback.
 * Every answer is checked against the OpenAPI document by the helper.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { HsmClient, HsmComponent } from '../../src/clients/types.js';
import { FakeClock } from '../../src/common/clock.js';
import type { Component } from '../../src/common/types.js';
import { startServer, type RunningServer } from '../../src/server/app.js';
import { MemoryStore } from '../../src/server/store/memory.js';
import { addBootImage, Api, FakeIms, FakeS3, FakeTenants } from '../helpers/api.js';

const NODES = ['x1', 'x2', 'x3', 'x4', 'x5', 'x6'];

/** An HSM of the six nodes: x5 locked, x6 disabled, x4 ARM. */
class Hsm implements HsmClient {
  calls = 0;
  private readonly components: HsmComponent[] = NODES.map((ID) => ({ ID, Type: 'Node', State: 'Ready', Enabled: ID !== 'x6', Arch: ID === 'x4' ? 'ARM' : 'X86', Role: 'Compute' }));
  async listComponents() {
    this.calls++;
    return structuredClone(this.components);
  }
  async queryComponents(ids: readonly string[], opts?: { enabled?: boolean }) {
    this.calls++;
    return structuredClone(this.components.filter((c) => ids.includes(c.ID) && (opts?.enabled === undefined || c.Enabled === opts.enabled)));
  }
  async listGroups() {
    this.calls++;
    return [{ label: 'rack1', members: { ids: ['x1', 'x2', 'x3', 'x4', 'x5', 'x6'] } }];
  }
  async listPartitions() {
    return [];
  }
  async lockedNodes() {
    this.calls++;
    return new Set(['x5']);
  }
}

let store: MemoryStore;
let srv: RunningServer;
let api: Api;
let s3: FakeS3;
let hsm: Hsm;

beforeEach(async () => {
  store = new MemoryStore();
  s3 = new FakeS3();
  const ims = new FakeIms();
  hsm = new Hsm();
  srv = await startServer({ store, clock: new FakeClock(Date.UTC(2026, 0, 1, 12)), tenants: new FakeTenants({ acme: ['x1'] }), s3, ims, hsm, logger: false });
  api = new Api(srv.url);
  const path = addBootImage(s3, ims, 'img1');
  expect((await api.put('/v2/sessiontemplates/t1', { boot_sets: { compute: { path, type: 's3', node_groups: ['rack1'] } } })).status).toBe(200);
  expect((await api.put('/v2/components', NODES.slice(0, 5).map((id) => ({ id, enabled: false })))).status).toBe(200);
});
afterEach(async () => {
  await srv.close();
  await store.close();
});

describe('rolling session fields', () => {
  it('are stored when given and absent otherwise (an upstream session record, key for key)', async () => {
    const plain = await api.post('/v2/sessions', { name: 'plain', template_name: 't1', operation: 'boot' });
    expect(plain.status).toBe(201);
    expect(Object.keys(plain.body)).toEqual(['name', 'tenant', 'operation', 'template_name', 'limit', 'stage', 'components', 'include_disabled', 'status']);
    const rolling = await api.post('/v2/sessions', { name: 'roll', template_name: 't1', operation: 'reboot', max_in_flight: 2, max_failed: 1, canary: 1 });
    expect(rolling.status).toBe(201);
    expect(rolling.body).toMatchObject({ max_in_flight: 2, max_failed: 1, canary: 1 });
    expect((await api.get('/v2/sessions/roll')).body).toMatchObject({ max_in_flight: 2, max_failed: 1, canary: 1 });
  });

  it('refuses a staged rolling session and limits out of range, naming what is wrong', async () => {
    const staged = await api.post('/v2/sessions', { template_name: 't1', operation: 'boot', stage: true, max_in_flight: 2 });
    expect(staged.status).toBe(400);
    expect(staged.body.detail).toMatch(/a staged session cannot roll out/);
    const zero = await api.post('/v2/sessions', { template_name: 't1', operation: 'boot', max_in_flight: 0 });
    expect(zero.status).toBe(400);
    expect(zero.body.detail).toMatch(/max_in_flight/);
    expect(await store.sessions.list()).toEqual([]);
  });

  it('can be changed by a PATCH (a resume sets failures_forgiven)', async () => {
    await api.post('/v2/sessions', { name: 'roll', template_name: 't1', operation: 'boot', max_in_flight: 2 });
    const r = await api.patch('/v2/sessions/roll', { max_in_flight: 5, failures_forgiven: 3, status: { error: null } });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ max_in_flight: 5, failures_forgiven: 3 });
  });

  it('show in the extended status where the nodes stand, and stay out of a session that does not roll', async () => {
    await api.post('/v2/sessions', { name: 'roll', template_name: 't1', operation: 'boot', max_in_flight: 2, max_failed: 0 });
    await api.post('/v2/sessions', { name: 'plain', template_name: 't1', operation: 'boot' });
    const staged = { boot_artifacts: { kernel: 'k', kernel_parameters: '', initrd: 'i' }, configuration: '', session: 'roll' };
    const records: Partial<Component>[] = [
      { id: 'x1', session: 'roll', enabled: false, status: { phase: '', status_override: '' } as never },
      { id: 'x2', session: 'roll', enabled: true, status: { phase: 'powering_on', status_override: '' } as never },
      { id: 'x3', session: 'roll', enabled: false, status: { phase: '', status_override: 'failed' } as never },
      { id: 'x4', staged_state: staged },
      { id: 'x5', staged_state: staged },
    ];
    expect((await api.put('/v2/components', records)).status).toBe(200);
    const st = await api.get('/v2/sessions/roll/status');
    expect(st.body.rollout).toMatchObject({ waiting: 2, in_flight: 1, done: 1, failed: 1, max_in_flight: 2, max_failed: 0, canary: 0, failures_forgiven: 0 });
    expect(st.body.rollout.stopped).toMatch(/^failure budget exceeded: 1 node\(s\) failed, max_failed is 0; 2 node\(s\) not started/);
    expect((await api.get('/v2/sessions/plain/status')).body.rollout).toBeUndefined();
  });

  it('a deleted rolling session lets go of its waiting nodes, and only of those', async () => {
    await api.post('/v2/sessions', { name: 'roll', template_name: 't1', operation: 'boot', max_in_flight: 2 });
    await api.post('/v2/sessions', { name: 'staged', template_name: 't1', operation: 'boot', stage: true });
    const staged = (session: string) => ({ boot_artifacts: { kernel: 'k', kernel_parameters: '', initrd: 'i' }, configuration: 'c', session });
    await api.put('/v2/components', [
      { id: 'x1', session: 'roll', enabled: true },
      { id: 'x2', staged_state: staged('roll') },
      { id: 'x3', staged_state: staged('staged') },
    ]);
    expect((await api.delete('/v2/sessions/roll')).status).toBe(204);
    expect((await store.components.get('x2'))!.staged_state).toMatchObject({ session: '', configuration: '', boot_artifacts: { kernel: '' } });
    expect((await store.components.get('x3'))!.staged_state).toMatchObject({ session: 'staged', configuration: 'c' });
    expect((await store.components.get('x1'))!.enabled).toBe(true);
  });
});

describe('session previews', () => {
  it('answer per boot set the nodes, those left out and why, and the state, writing nothing', async () => {
    const before = JSON.stringify(await store.components.list());
    const r = await api.post('/v2/sessionpreview', { name: 'p', template_name: 't1', operation: 'reboot', limit: 'rack1,!x2' });
    expect(r.status).toBe(200);
    expect(r.body.error).toBeNull();
    expect(r.body.session).toMatchObject({ name: 'p', operation: 'reboot', limit: 'rack1,!x2', status: { status: 'pending' } });
    expect(r.body.nodes).toEqual(['x1', 'x3']);
    expect(r.body.boot_sets.compute.nodes).toEqual(['x1', 'x3']);
    expect(r.body.boot_sets.compute.excluded).toEqual([
      { id: 'x2', reason: 'not_in_limit' },
      { id: 'x4', reason: 'wrong_arch' },
      { id: 'x5', reason: 'locked' },
      { id: 'x6', reason: 'disabled_in_hsm' },
    ]);
    expect(r.body.boot_sets.compute.state).toMatchObject({ configuration: '', boot_artifacts: { kernel: 's3://boot-images/img1/kernel', initrd: 's3://boot-images/img1/initrd' } });
    expect(r.body.not_in_bos).toEqual([]);
    expect(JSON.stringify(await store.components.list())).toBe(before);
    expect(await store.sessions.list()).toEqual([]);
  });

  it('say which selected nodes BOS does not have, and why a session would not start', async () => {
    const r = await api.post('/v2/sessionpreview', { template_name: 't1', operation: 'boot', include_disabled: true, limit: 'x6' });
    expect(r.body).toMatchObject({ nodes: ['x6'], not_in_bos: ['x6'], error: 'All nodes found to act upon do not exist as BOS components' });
    const none = await api.post('/v2/sessionpreview', { template_name: 't1', operation: 'boot', limit: 'x5' });
    expect(none.status).toBe(200);
    expect(none.body).toMatchObject({ error: 'No nodes were found to act upon.', nodes: [] });
  });

  it('give a rolling session staged states named for it, and refuse what creation refuses', async () => {
    const r = await api.post('/v2/sessionpreview', { name: 'roll', template_name: 't1', operation: 'boot', max_in_flight: 1 });
    expect(r.body.boot_sets.compute.state).toMatchObject({ session: 'roll' });
    expect((await api.post('/v2/sessionpreview', { template_name: 'nope', operation: 'boot' })).status).toBe(400);
    expect((await api.post('/v2/sessionpreview', { template_name: 't1', operation: 'boot', stage: true, canary: 1 })).status).toBe(400);
    expect(hsm.calls).toBeGreaterThan(0);
  });

  it('answer 503 naming HSM when the API has no HSM client', async () => {
    const bare = await startServer({ store, s3, tenants: new FakeTenants({}), logger: false });
    try {
      const r = await new Api(bare.url).post('/v2/sessionpreview', { template_name: 't1', operation: 'shutdown' });
      expect(r.status).toBe(503);
      expect(r.body.detail).toMatch(/^hsm: .*BOS_HSM_URL/);
    } finally {
      await bare.close();
    }
  });
});
