import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetObjectCommand, HeadObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { FakeClock } from '../../src/common/clock.js';
import { SIM_BROKEN_MANIFESTS, SIM_IMAGES, startSimulator, type RunningSimulator } from '../../src/sim/index.js';
import type { ImsImage } from '../../src/clients/types.js';
import { call } from './helpers.js';

let sim: RunningSimulator;
let s3: S3Client;
beforeAll(async () => {
  sim = await startSimulator({ nodes: 4, clock: new FakeClock() });
  s3 = new S3Client({
    endpoint: sim.url,
    forcePathStyle: true,
    region: 'us-east-1',
    credentials: { accessKeyId: 'sim', secretAccessKey: 'sim' },
    maxAttempts: 1,
  });
});
afterAll(async () => {
  s3?.destroy();
  await sim?.close();
});

function split(url: string): { Bucket: string; Key: string } {
  const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(url);
  if (!m) throw new Error(`not an s3 url: ${url}`);
  return { Bucket: m[1]!, Key: m[2]! };
}

interface Manifest {
  version: string;
  created: string;
  artifacts: { type: string; md5: string; link: { path: string; etag?: string; type: string } }[];
}

describe('S3 and IMS', () => {
  it('serves image manifests that @aws-sdk/client-s3 reads, whose artifact links resolve with matching etags', async () => {
    const images = (await call<ImsImage[]>(sim.url + '/apis/ims/v3/images')).body;
    expect(images.map((i) => i.arch).sort()).toEqual(['aarch64', 'x86_64', 'x86_64']);
    const img = images.find((i) => i.id === SIM_IMAGES.computeX86)!;
    const got = await s3.send(new GetObjectCommand(split(img.link!.path)));
    expect(got.ETag).toBe(`"${img.link!.etag}"`);
    const text = await got.Body!.transformToString();
    expect(got.ContentLength).toBe(Buffer.byteLength(text));
    const manifest = JSON.parse(text) as Manifest;
    expect(manifest.version).toBe('1.0');
    const types = manifest.artifacts.map((a) => a.type).sort();
    expect(types).toEqual([
      'application/vnd.cray.image.initrd',
      'application/vnd.cray.image.kernel',
      'application/vnd.cray.image.parameters.boot',
      'application/vnd.cray.image.rootfs.squashfs',
    ]);
    for (const a of manifest.artifacts) {
      expect(a.link.type).toBe('s3');
      const head = await s3.send(new HeadObjectCommand(split(a.link.path)));
      expect(head.ETag).toBe(`"${a.link.etag}"`);
      expect(head.ContentLength).toBeGreaterThan(0);
    }
    const params = manifest.artifacts.find((a) => a.type === 'application/vnd.cray.image.parameters.boot')!;
    const body = await (await s3.send(new GetObjectCommand(split(params.link.path)))).Body!.transformToString();
    expect(body.split(/\s+/)).toContain('console=ttyS0,115200');
  });

  it('answers NoSuchKey / NotFound for missing objects', async () => {
    const err = await s3.send(new GetObjectCommand({ Bucket: 'boot-images', Key: 'no/such/manifest.json' })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(S3ServiceException);
    expect((err as S3ServiceException).name).toBe('NoSuchKey');
    expect((err as S3ServiceException).$metadata.httpStatusCode).toBe(404);
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'boot-images', Key: 'no/such/kernel' })).catch((e: unknown) => e);
    expect((head as S3ServiceException).$metadata.httpStatusCode).toBe(404);
  });

  it('holds the broken manifests used to exercise manifest errors', async () => {
    const notDict = await (await s3.send(new GetObjectCommand(split(SIM_BROKEN_MANIFESTS.notADict)))).Body!.transformToString();
    expect(Array.isArray(JSON.parse(notDict))).toBe(true);
    const big = await s3.send(new HeadObjectCommand(split(SIM_BROKEN_MANIFESTS.tooBig)));
    expect(big.ContentLength).toBeGreaterThan(1_048_576);
    const multi = JSON.parse(await (await s3.send(new GetObjectCommand(split(SIM_BROKEN_MANIFESTS.multipleKernels)))).Body!.transformToString()) as Manifest;
    expect(multi.artifacts.filter((a) => a.type === 'application/vnd.cray.image.kernel')).toHaveLength(2);
  });

  it('tags IMS images with metadata and answers 404 for unknown images', async () => {
    const url = `${sim.url}/apis/ims/v3/images/${SIM_IMAGES.computeArm}`;
    const r = await call<ImsImage>(url, 'PATCH', { metadata: { operation: 'set', key: 'sbps-project', value: 'true' } });
    expect(r.status).toBe(200);
    expect(r.body.metadata).toEqual({ 'sbps-project': 'true' });
    expect((await call<ImsImage>(url)).body.metadata).toEqual({ 'sbps-project': 'true' });
    const removed = await call<ImsImage>(url, 'PATCH', { metadata: { operation: 'remove', key: 'sbps-project' } });
    expect(removed.body.metadata).toEqual({});
    const missing = await call(`${sim.url}/apis/ims/v3/images/${SIM_IMAGES.orphan}`, 'PATCH', { metadata: { operation: 'set', key: 'k' } });
    expect(missing.status).toBe(404);
  });
});
