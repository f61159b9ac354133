import { createHash } from 'node:crypto';
import type { ImsImage } from '../clients/types.js';

/** One stored S3 object. */
export interface SimObject {
  body: Buffer;
  /** Quoted, as S3 sends it: `"<md5 hex>"`. */
  etag: string;
  contentType: string;
  lastModified: number;
}

export const BOOT_IMAGES_BUCKET = 'boot-images';

const KERNEL_TYPE = 'application/vnd.cray.image.kernel';
const INITRD_TYPE = 'application/vnd.cray.image.initrd';
const ROOTFS_TYPE = 'application/vnd.cray.image.rootfs.squashfs';
const BOOT_PARAMETERS_TYPE = 'application/vnd.cray.image.parameters.boot';

/** The images the simulated IMS knows (fixed ids so demos and tests can name them). */
export const SIM_IMAGES = {
  computeX86: 'e06530f1-fde2-4ca5-9148-7e84f4857d17',
  computeArm: 'f17631a1-fed1-5cb5-0aa8-7aaaf4123411',
  uanX86: 'b9caaf66-c0b4-4231-aba7-a45f6282b21d',
  /** Present in S3 only: IMS answers 404 for it (image tagging fails with ImageNotFound). */
  orphan: '5d0c7b4e-3f7a-4a43-9d55-0a8f3e2b1c9a',
} as const;

/**
 * Manifests that exist in S3 to exercise the error paths of manifest reading:
 * a soft-deleted image, two kernels, a JSON array, a rootfs link without etag, and one too big.
 */
export const SIM_BROKEN_MANIFESTS = {
  softDeleted: `s3://${BOOT_IMAGES_BUCKET}/deleted/6e1b2f8a-8c1d-4f0e-b7a3-2c9d4e5f6a7b/manifest.json`,
  multipleKernels: `s3://${BOOT_IMAGES_BUCKET}/broken-multiple-kernels/manifest.json`,
  notADict: `s3://${BOOT_IMAGES_BUCKET}/broken-not-a-dict/manifest.json`,
  rootfsWithoutEtag: `s3://${BOOT_IMAGES_BUCKET}/broken-rootfs-no-etag/manifest.json`,
  tooBig: `s3://${BOOT_IMAGES_BUCKET}/broken-too-big/manifest.json`,
} as const;

export const DEFAULT_BOOT_PARAMETERS =
  'console=ttyS0,115200 bad_page=panic crashkernel=512M hugepagelist=2m-2g intel_iommu=off intel_pstate=disable ' +
  'iommu.passthrough=on numa_interleave_omit=headless oops=panic pageblock_order=14 rd.neednet=1 rd.retry=10 rd.shell ' +
  'ip=nmn0:dhcp quiet';

function md5(body: Buffer | string): string {
  return createHash('md5').update(body).digest('hex');
}

export function makeObject(body: Buffer | string, contentType: string, at: number): SimObject {
  const buf = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  return { body: buf, etag: `"${md5(buf)}"`, contentType, lastModified: at };
}

export function manifestPath(imageId: string, file = 'manifest.json'): string {
  return `s3://${BOOT_IMAGES_BUCKET}/${imageId}/${file}`;
}

interface ImageDef {
  id: string;
  name: string;
  arch: 'x86_64' | 'aarch64';
  bootParameters: boolean;
  ims: boolean;
  prefix?: string;
}

const IMAGE_DEFS: ImageDef[] = [
  { id: SIM_IMAGES.computeX86, name: 'compute-cos-x86_64', arch: 'x86_64', bootParameters: true, ims: true },
  { id: SIM_IMAGES.computeArm, name: 'compute-cos-aarch64', arch: 'aarch64', bootParameters: true, ims: true },
  { id: SIM_IMAGES.uanX86, name: 'uan-x86_64', arch: 'x86_64', bootParameters: false, ims: true },
  { id: SIM_IMAGES.orphan, name: 'orphan-x86_64', arch: 'x86_64', bootParameters: true, ims: false },
  { id: '6e1b2f8a-8c1d-4f0e-b7a3-2c9d4e5f6a7b', name: 'soft-deleted', arch: 'x86_64', bootParameters: false, ims: false, prefix: 'deleted/' },
];

/** The objects and IMS records of the simulated image catalogue, created at machine time `at`. */
export function buildCatalogue(at: number): { objects: Map<string, SimObject>; images: Map<string, ImsImage> } {
  const objects = new Map<string, SimObject>();
  const images = new Map<string, ImsImage>();
  const put = (key: string, obj: SimObject) => objects.set(`${BOOT_IMAGES_BUCKET}/${key}`, obj);
  const created = new Date(at).toISOString().replace('T', ' ').replace('Z', '');
  const artifact = (type: string, key: string, obj: SimObject, withEtag = true) => ({
    type,
    md5: md5(obj.body),
    link: withEtag
      ? { path: `s3://${BOOT_IMAGES_BUCKET}/${key}`, etag: obj.etag.slice(1, -1), type: 's3' }
      : { path: `s3://${BOOT_IMAGES_BUCKET}/${key}`, type: 's3' },
  });

  for (const def of IMAGE_DEFS) {
    const base = `${def.prefix ?? ''}${def.id}`;
    const kernel = makeObject(`simulated kernel of ${def.name} (${def.arch})\n`, 'application/octet-stream', at);
    const initrd = makeObject(`simulated initrd of ${def.name} (${def.arch})\n`, 'application/octet-stream', at);
    const rootfs = makeObject(`simulated squashfs root file system of ${def.name} (${def.arch})\n`, 'application/octet-stream', at);
    put(`${base}/kernel`, kernel);
    put(`${base}/initrd`, initrd);
    put(`${base}/rootfs`, rootfs);
    const artifacts = [
      artifact(ROOTFS_TYPE, `${base}/rootfs`, rootfs),
      artifact(KERNEL_TYPE, `${base}/kernel`, kernel),
      artifact(INITRD_TYPE, `${base}/initrd`, initrd),
    ];
    if (def.bootParameters) {
      const params = makeObject(DEFAULT_BOOT_PARAMETERS + '\n', 'text/plain', at);
      put(`${base}/boot_parameters`, params);
      artifacts.push(artifact(BOOT_PARAMETERS_TYPE, `${base}/boot_parameters`, params));
    }
    const manifest = makeObject(JSON.stringify({ version: '1.0', created, artifacts }, null, 2), 'application/json', at);
    put(`${base}/manifest.json`, manifest);
    if (def.ims) {
      images.set(def.id, {
        id: def.id,
        name: def.name,
        arch: def.arch,
        created: new Date(at).toISOString(),
        link: { path: `s3://${BOOT_IMAGES_BUCKET}/${base}/manifest.json`, etag: manifest.etag.slice(1, -1), type: 's3' },
        metadata: {},
      });
    }
  }

  // Manifests that break the manifest rules on purpose.
  const x86 = SIM_IMAGES.computeX86;
  const kernelObj = objects.get(`${BOOT_IMAGES_BUCKET}/${x86}/kernel`)!;
  const initrdObj = objects.get(`${BOOT_IMAGES_BUCKET}/${x86}/initrd`)!;
  const rootfsObj = objects.get(`${BOOT_IMAGES_BUCKET}/${x86}/rootfs`)!;
  put(
    'broken-multiple-kernels/manifest.json',
    makeObject(
      JSON.stringify({
        version: '1.0',
        created,
        artifacts: [
          artifact(ROOTFS_TYPE, `${x86}/rootfs`, rootfsObj),
          artifact(KERNEL_TYPE, `${x86}/kernel`, kernelObj),
          artifact(KERNEL_TYPE, `${x86}/kernel`, kernelObj),
          artifact(INITRD_TYPE, `${x86}/initrd`, initrdObj),
        ],
      }),
      'application/json',
      at,
    ),
  );
  put('broken-not-a-dict/manifest.json', makeObject(JSON.stringify(['not', 'a', 'manifest']), 'application/json', at));
  put(
    'broken-rootfs-no-etag/manifest.json',
    makeObject(
      JSON.stringify({
        version: '1.0',
        created,
        artifacts: [
          artifact(ROOTFS_TYPE, `${x86}/rootfs`, rootfsObj, false),
          artifact(KERNEL_TYPE, `${x86}/kernel`, kernelObj),
          artifact(INITRD_TYPE, `${x86}/initrd`, initrdObj),
        ],
      }),
      'application/json',
      at,
    ),
  );
  put(
    'broken-too-big/manifest.json',
    makeObject(JSON.stringify({ version: '1.0', created, artifacts: [], padding: ' '.repeat(1_100_000) }), 'application/json', at),
  );
  return { objects, images };
}
