/**
 * Every downstream client call against the simulator over loopback: the clients and the simulated
 * services must agree on paths, payloads and paging.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/common/clock.js';
import { OPTION_DEFAULTS, type Options } from '../../src/common/options.js';
import {
  createServices,
  gatewayUrls,
  ImageNotFound,
  InvalidManifest,
  ManifestNotFound,
  ManifestTooBig,
  MemoryBootArtifacts,
  readBootParameters,
  readManifest,
  summarizeManifest,
  TooManyArtifacts,
  type ClosableServices,
} from '../../src/clients/index.js';
import { type ServiceError } from '../../src/clients/types.js';
import { computeXname, manifestPath, SIM_BROKEN_MANIFESTS, SIM_IMAGES, startSimulator, type RunningSimulator } from '../../src/sim/index.js';

const NODES = 40;
const LOCKED = computeXname(3);
const DISABLED = computeXname(4);

let sim: RunningSimulator;
let services: ClosableServices;
let clock: FakeClock;
const calls: string[] = [];
let options: Options = { ...OPTION_DEFAULTS };

beforeAll(async () => {
  clock = new FakeClock();
  sim = await startSimulator({
    nodes: NODES,
    seed: 7,
    clock,
    knobs: { locked: [LOCKED], disabled: [DISABLED], cfsPageSize: 7, powerOnDelayMs: 1000 },
  });
  services = createServices({
    ...gatewayUrls(sim.url),
    options: () => options,
    retry: { retries: 2, backoffFactorMs: 1, maxBackoffMs: 2 },
    bootArtifacts: new MemoryBootArtifacts(),
    onRequest: (s, m, o) => calls.push(`${s} ${m} ${o}`),
  });
});

afterAll(async () => {
  await services?.close();
  await sim?.close();
  clock?.stop();
});

async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the call to fail');
}

describe('clients against the simulator', () => {
  it('gateway URLs match the simulator layout', () => {
    const u = gatewayUrls(sim.url);
    expect(u.hsmUrl).toBe(sim.urls.hsm);
    expect(u.pcsUrl).toBe(sim.urls.pcs);
    expect(u.bssUrl).toBe(sim.urls.bss);
    expect(u.cfsUrl).toBe(sim.urls.cfs);
    expect(u.imsUrl).toBe(sim.urls.ims);
    expect(u.tenantsUrl).toBe(sim.urls.tapms);
  });

  it('HSM: components, query with enabled filter, groups, partitions, locks', async () => {
    const all = await services.hsm.listComponents();
    expect(all.length).toBe(NODES);
    expect(all.every((c) => c.Type === 'Node')).toBe(true);
    const ids = all.map((c) => c.ID);
    const some = [computeXname(0), DISABLED, 'x9999c0s0b0n0'];
    expect((await services.hsm.queryComponents(some)).map((c) => c.ID)).toEqual([computeXname(0), DISABLED]);
    expect((await services.hsm.queryComponents(some, { enabled: true })).map((c) => c.ID)).toEqual([computeXname(0)]);
    expect((await services.hsm.queryComponents(some, { enabled: false })).map((c) => c.ID)).toEqual([DISABLED]);
    const groups = await services.hsm.listGroups();
    const compute = groups.find((g) => g.label === 'compute')!;
    expect(compute.members.ids.every((id) => ids.includes(id))).toBe(true);
    expect((await services.hsm.listPartitions()).map((p) => p.name)).toEqual(['p1', 'p2']);
    expect([...(await services.hsm.lockedNodes())]).toEqual([LOCKED]);
  });

  it('TAPMS: a tenant’s xnames, and null for an unknown tenant', async () => {
    const a = await services.tenants.tenantXnames('tenant-a');
    expect([...a!].sort()).toEqual([...sim.room.tenant('tenant-a')!.xnames].sort());
    expect(await services.tenants.tenantXnames('no-such-tenant')).toBeNull();
  });

  it('PCS: power status, then an On transition the room carries out', async () => {
    const ids = [computeXname(0), computeXname(1)];
    const before = await services.pcs.powerStatus([...ids, 'x9999c0s0b0n0']);
    expect(before.get(ids[0]!)).toBe('off');
    expect(before.get('x9999c0s0b0n0')).toBe('Component not found in component map.');
    const { transitionID } = await services.pcs.transition('On', ids);
    expect(sim.room.transitions.get(transitionID!)?.operation).toBe('On');
    clock.advance(2000);
    sim.room.tick();
    const after = await services.pcs.powerStatus(ids);
    expect([...after.values()]).toEqual(['on', 'on']);
  });

  it('BSS: the referral token the room stored for the hosts', async () => {
    const hosts = [computeXname(5), computeXname(6)];
    const token = await services.bss.setBootParameters(hosts, 'console=ttyS0 quiet', 's3://boot-images/k', 's3://boot-images/i');
    expect(token).toBeTruthy();
    expect(sim.room.bootParameters(hosts[1]!)).toMatchObject({ token, params: 'console=ttyS0 quiet', kernel: 's3://boot-images/k' });
    await services.bootArtifacts.put(token, { kernel: 'k', kernel_parameters: 'p', initrd: 'i', timestamp: '2026-01-01T00:00:00' });
    expect((await services.bootArtifacts.get(token))?.kernel).toBe('k');
  });

  it('CFS: desired config PATCH, then GETs by ids and of everything follow the simulator’s next pages', async () => {
    const ids = Array.from({ length: 10 }, (_, i) => computeXname(10 + i));
    await services.cfs.setDesiredConfig(ids, 'cfg-1', { enabled: false, session: 's1', clearState: true });
    const before = calls.filter((c) => c === 'cfs GET 200').length;
    const got = await services.cfs.getComponents(ids);
    expect(got.map((c) => c.id).sort()).toEqual([...ids].sort());
    expect(got.every((c) => c.desired_config === 'cfg-1' && c.enabled === false && c.tags?.bos_session === 's1')).toBe(true);
    // 10 ids at the simulator's page size of 7: two pages.
    expect(calls.filter((c) => c === 'cfs GET 200').length - before).toBe(2);
    const all = await services.cfs.getComponents();
    expect(all.length).toBe(NODES);
    expect(new Set(all.map((c) => c.id)).size).toBe(NODES);
  });

  it('IMS: list, get, tag; an unknown image is ImageNotFound', async () => {
    const images = await services.ims.listImages();
    expect(images.map((i) => i.id)).toContain(SIM_IMAGES.computeX86);
    await services.ims.tagImage(SIM_IMAGES.computeX86, 'sbps-project', 'true');
    expect((await services.ims.getImage(SIM_IMAGES.computeX86)).metadata).toMatchObject({ 'sbps-project': 'true' });
    await services.ims.tagImage(SIM_IMAGES.computeX86, 'sbps-project', undefined, 'remove');
    expect((await services.ims.getImage(SIM_IMAGES.computeX86)).metadata?.['sbps-project']).toBeUndefined();
    const err = await failure(services.ims.tagImage(SIM_IMAGES.orphan, 'sbps-project', 'true'));
    expect(err).toBeInstanceOf(ImageNotFound);
    expect(err.message).toBe(`IMS image id '${SIM_IMAGES.orphan}' does not exist in IMS`);
  });

  it('S3: manifest, summary, boot parameters, head', async () => {
    const m = await readManifest(services.s3, manifestPath(SIM_IMAGES.computeX86));
    const s = summarizeManifest(m);
    expect(s.kernel).toBe(`s3://boot-images/${SIM_IMAGES.computeX86}/kernel`);
    expect(s.initrd).toBe(`s3://boot-images/${SIM_IMAGES.computeX86}/initrd`);
    expect(s.rootfsEtag).toMatch(/^[0-9a-f]{32}$/);
    const params = await readBootParameters(services.s3, s.bootParametersPath!);
    expect(params[0]).toBe('console=ttyS0,115200');
    const head = await services.s3.headObject(s.kernel!);
    expect(head.contentLength).toBeGreaterThan(0);
    expect(summarizeManifest(await readManifest(services.s3, manifestPath(SIM_IMAGES.uanX86))).bootParametersPath).toBeNull();
  });

  it('S3: the broken manifests give the documented errors', async () => {
    const tooBig = await failure(readManifest(services.s3, SIM_BROKEN_MANIFESTS.tooBig));
    expect(tooBig).toBeInstanceOf(ManifestTooBig);
    expect(tooBig.message).toMatch(/is supposed to be an image manifest, but \d+ bytes is too big for a manifest$/);
    const notDict = await failure(readManifest(services.s3, SIM_BROKEN_MANIFESTS.notADict));
    expect(notDict).toBeInstanceOf(InvalidManifest);
    expect(notDict.message).toBe('Manifest should be dict. Invalid data type: list');
    const multi = await readManifest(services.s3, SIM_BROKEN_MANIFESTS.multipleKernels);
    expect(() => summarizeManifest(multi)).toThrow(TooManyArtifacts);
    const noEtag = await readManifest(services.s3, SIM_BROKEN_MANIFESTS.rootfsWithoutEtag);
    expect(() => summarizeManifest(noEtag)).toThrow(InvalidManifest);
    const missing = await failure(readManifest(services.s3, 's3://boot-images/nothing/manifest.json'));
    expect(missing).toBeInstanceOf(ManifestNotFound);
  });

  it('injected 500s: an idempotent GET is retried, a POST is not', async () => {
    sim.room.knobs.failureRate.hsm = 1;
    try {
      calls.length = 0;
      const getErr = (await failure(services.hsm.listGroups())) as ServiceError;
      expect(getErr.status).toBe(500);
      expect(calls).toEqual(['hsm GET 500', 'hsm GET 500', 'hsm GET 500']);
      expect(getErr.message).toMatch(/^Non-2XX response \(500\) to GET \/groups; Internal Server Error .*simulated hsm failure.* \(gave up after 3 attempts\)$/);
      calls.length = 0;
      await failure(services.hsm.queryComponents([computeXname(0)]));
      expect(calls).toEqual(['hsm POST 500']);
    } finally {
      sim.room.knobs.failureRate.hsm = 0;
    }
  });
});
