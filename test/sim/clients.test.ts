/**
 * The project's own service clients against the simulator over loopback: whatever the operators
 * call must be answered in the shape they parse.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/common/clock.js';
import { resolveOptions } from '../../src/common/options.js';
import {
  createServices,
  gatewayUrls,
  ImageNotFound,
  MemoryBootArtifacts,
  readBootParameters,
  readManifest,
  summarizeManifest,
  type ClosableServices,
} from '../../src/clients/index.js';
import { SIM_BROKEN_MANIFESTS, SIM_IMAGES, manifestPath, startSimulator, type RunningSimulator } from '../../src/sim/index.js';

let sim: RunningSimulator;
let clock: FakeClock;
let services: ClosableServices;

beforeAll(async () => {
  clock = new FakeClock();
  sim = await startSimulator({
    nodes: 40,
    clock,
    seed: 11,
    knobs: { locked: ['x1000c0s0b0n1'], disabled: ['x1000c0s0b1n0'], powerOnDelayMs: 1_000, bootDelayMs: 5_000, cfsPageSize: 7 },
  });
  services = createServices({
    ...gatewayUrls(sim.url),
    options: () => resolveOptions({}),
    bootArtifacts: new MemoryBootArtifacts(),
    retry: { retries: 0, backoffFactorMs: 1, maxBackoffMs: 1 },
  });
});
afterAll(async () => {
  await services?.close();
  await sim?.close();
});

describe('service clients against the simulator', () => {
  it('HSM: discovery, query with enabled filter, groups, partitions, locks', async () => {
    const all = await services.hsm.listComponents();
    expect(all).toHaveLength(40);
    const ids = ['x1000c0s0b0n0', 'x1000c0s0b1n0'];
    expect((await services.hsm.queryComponents(ids)).map((c) => c.ID)).toEqual(ids);
    expect((await services.hsm.queryComponents(ids, { enabled: true })).map((c) => c.ID)).toEqual(['x1000c0s0b0n0']);
    expect([...(await services.hsm.lockedNodes())]).toEqual(['x1000c0s0b0n1']);
    expect((await services.hsm.listGroups()).map((g) => g.label)).toContain('blue');
    expect((await services.hsm.listPartitions()).map((p) => p.name)).toEqual(['p1', 'p2']);
  });

  it('BSS + PCS: a node powered on boots what BSS holds under the returned token', async () => {
    const node = 'x1000c0s1b0n0';
    const token = await services.bss.setBootParameters([node], 'console=ttyS0 quiet', 's3://boot-images/a/kernel', 's3://boot-images/a/initrd');
    expect(token).toMatch(/^[0-9a-f-]{36}$/);
    expect((await services.pcs.powerStatus([node])).get(node)).toBe('off');
    const t = await services.pcs.transition('On', [node]);
    expect(t.transitionID).toBeTruthy();
    clock.advance(6_000);
    await sim.room.settle();
    expect((await services.pcs.powerStatus([node])).get(node)).toBe('on');
    expect(sim.room.node(node)!.boot).toMatchObject({ token, kernel: 's3://boot-images/a/kernel', params: 'console=ttyS0 quiet' });
    expect((await services.hsm.queryComponents([node]))[0]!.State).toBe('Ready');
  });

  it('CFS: setDesiredConfig then getComponents across server pages', async () => {
    const ids = sim.room.nodes().slice(0, 20).map((n) => n.id);
    await services.cfs.setDesiredConfig(ids, 'cfg-1', { enabled: false, session: 'sess-1', clearState: true });
    const got = await services.cfs.getComponents(ids);
    expect(got).toHaveLength(20);
    expect(got.every((c) => c.desired_config === 'cfg-1' && c.tags?.bos_session === 'sess-1' && c.configuration_status === 'pending')).toBe(true);
    const everything = await services.cfs.getComponents();
    expect(everything).toHaveLength(40); // 6 pages of 7
  });

  it('IMS and S3: tagging, ImageNotFound, manifests and boot parameters', async () => {
    await services.ims.tagImage(SIM_IMAGES.computeX86, 'sbps-project', 'true');
    expect((await services.ims.getImage(SIM_IMAGES.computeX86)).metadata).toEqual({ 'sbps-project': 'true' });
    await expect(services.ims.tagImage(SIM_IMAGES.orphan, 'sbps-project', 'true')).rejects.toBeInstanceOf(ImageNotFound);

    const summary = summarizeManifest(await readManifest(services.s3, manifestPath(SIM_IMAGES.computeArm)));
    expect(summary.kernel).toBe(`s3://boot-images/${SIM_IMAGES.computeArm}/kernel`);
    expect(summary.bootParametersPath).toBe(`s3://boot-images/${SIM_IMAGES.computeArm}/boot_parameters`);
    const params = await readBootParameters(services.s3, summary.bootParametersPath!);
    expect(params).toContain('console=ttyS0,115200');
    await expect(readManifest(services.s3, SIM_BROKEN_MANIFESTS.notADict)).rejects.toThrow(/Manifest should be dict/);
    await expect(readManifest(services.s3, SIM_BROKEN_MANIFESTS.tooBig)).rejects.toThrow(/too big for a manifest/);
    await expect(readManifest(services.s3, 's3://boot-images/none/manifest.json')).rejects.toThrow(/Unable to read manifest file/);
  });

  it('TAPMS: tenant xnames, null for an unknown tenant', async () => {
    const a = await services.tenants.tenantXnames('tenant-a');
    expect(a && a.size).toBeGreaterThan(0);
    expect(await services.tenants.tenantXnames('no-such-tenant')).toBeNull();
  });
});
