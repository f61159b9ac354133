/**
 * Boot-set validation (docs/api.md, "Boot-set validation"): what GET /v2/sessiontemplatesvalid/{id}
 * reports and what gates session creation. The artifact store (S3) and the image service (IMS) are
 * optional: without S3, boot/reboot validation reports the manifest error as upstream does when it
 * cannot read it; without IMS, the image check counts as "IMS unreachable".
 */
import { describeError } from '../../clients/http.js';
import { ServiceError, type ImsClient, type S3Client } from '../../clients/types.js';
import type { Options } from '../../common/options.js';
import type { BootSet, SessionTemplate } from '../../common/types.js';
import { hardwareSpecifierError, hasNid } from './templates.js';
import { messageOf } from '../../common/errors.js';

const ARTIFACT_TYPES = {
  kernel: 'application/vnd.cray.image.kernel',
  initrd: 'application/vnd.cray.image.initrd',
  boot_parameters: 'application/vnd.cray.image.parameters.boot',
} as const;
const MANIFEST_MAX_BYTES = 1_048_576;
/** Root file system providers this project supports (docs/data-model.md, "Boot sets": sbps and cpss3). */
const SUPPORTED_ROOTFS_PROVIDERS = new Set(['sbps', 'cpss3']);

export interface ValidationDeps {
  s3?: S3Client;
  ims?: ImsClient;
  options: Pick<Options, 'reject_nids' | 'ims_errors_fatal' | 'ims_images_must_exist'>;
}

export interface ValidationResult {
  /** The first error, already prefixed; undefined when none. */
  error?: string;
  warnings: string[];
}

/** An error with the kind shown in front of its message (`ManifestNotFound: ...`). */
class KindError extends Error {
  constructor(
    readonly kind: string,
    message: string,
  ) {
    super(message);
    this.name = kind;
  }
}

function pyTypeName(v: unknown): string {
  if (v === null) return 'NoneType';
  if (Array.isArray(v)) return 'list';
  if (typeof v === 'string') return 'str';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float';
  return 'dict';
}

interface ManifestArtifact {
  type?: unknown;
  link?: { path?: unknown; etag?: unknown } | null;
}

async function readManifest(s3: S3Client | undefined, path: string): Promise<{ artifacts?: unknown }> {
  if (!s3) throw new KindError('ManifestNotFound', `Unable to read manifest file '${path}'.`);
  let body: Buffer;
  let size: number;
  try {
    const obj = await s3.getObject(path, { maxBytes: MANIFEST_MAX_BYTES });
    body = obj.body;
    size = Math.max(obj.contentLength ?? 0, obj.body.length);
  } catch (err) {
    // S3 not reached or failing (not a missing object): the reason follows upstream's text.
    const unavailable = err instanceof ServiceError && (err.status === undefined || err.status >= 500);
    throw new KindError('ManifestNotFound', `Unable to read manifest file '${path}'.${unavailable ? ` s3: ${err.message}; check that the S3 endpoint (S3_GATEWAY) answers the BOS API` : ''}`);
  }
  if (size > MANIFEST_MAX_BYTES) {
    throw new KindError('ManifestTooBig', `${path} is supposed to be an image manifest, but ${size} bytes is too big for a manifest`);
  }
  let data: unknown;
  try {
    data = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new KindError('InvalidManifest', `The image manifest ${path} is not valid JSON: ${(err as Error).message}`);
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new KindError('InvalidManifest', `Manifest should be dict. Invalid data type: ${pyTypeName(data)}`);
  }
  return data as { artifacts?: unknown };
}

/** The single artifact of a type, undefined when absent; several → TooManyArtifacts. */
function findArtifact(manifest: { artifacts?: unknown }, type: string): ManifestArtifact | undefined {
  const list = Array.isArray(manifest.artifacts) ? (manifest.artifacts as ManifestArtifact[]) : [];
  const found = list.filter((a) => a && typeof a === 'object' && a.type === type);
  if (found.length > 1) throw new KindError('TooManyArtifacts', `Multiple ${type} artifacts found in the manifest.`);
  return found[0];
}

async function headArtifact(s3: S3Client | undefined, art: ManifestArtifact): Promise<void> {
  const path = art.link && typeof art.link === 'object' ? art.link.path : undefined;
  if (typeof path !== 'string' || !path) throw new KindError('KeyError', "'path'");
  if (!s3) throw new KindError('ObjectNotFound', `Unable to check object ${path}: no artifact store is configured`);
  await s3.headObject(path);
}

/** Check the boot artifacts of an `s3` boot set; pushes warnings, throws the error text. */
async function checkArtifacts(bs: BootSet, deps: ValidationDeps, warnings: string[]): Promise<string | undefined> {
  const path = bs.path;
  let manifest: { artifacts?: unknown };
  try {
    if (bs.type !== 's3') throw new KindError('UnsupportedBootSetType', `No BootImageMetadata class for type ${String(bs.type)}`);
    manifest = await readManifest(deps.s3, path);
  } catch (err) {
    return `Can't find boot artifacts. Error: ${describeError(err)}`;
  }
  try {
    const kernel = findArtifact(manifest, ARTIFACT_TYPES.kernel);
    if (!kernel) throw new KindError('ArtifactNotFound', `No artifact of type ${ARTIFACT_TYPES.kernel} could be found in the image manifest.`);
    await headArtifact(deps.s3, kernel);
  } catch (err) {
    return `Can't find kernel in ${path}. Error: ${describeError(err)}`;
  }
  for (const which of ['initrd', 'boot_parameters'] as const) {
    let art: ManifestArtifact | undefined;
    try {
      art = findArtifact(manifest, ARTIFACT_TYPES[which]);
      if (!art) {
        if (which === 'initrd') warnings.push(`${path} doesn't contain a initrd`);
        continue;
      }
      await headArtifact(deps.s3, art);
    } catch (err) {
      warnings.push(`Unable to check ${which} in ${path}. Warning: ${describeError(err)}`);
    }
  }
  return undefined;
}

/** IMS image id of a boot set path: first segment of the S3 key; undefined when not that shape. */
export function imsImageId(path: string): string | undefined {
  const m = /^s3:\/\/[^/]*\/(.*)$/.exec(path);
  if (!m) return undefined;
  const key = m[1]!.replace(/^\/+/, '');
  const k = /^([^/]+)\/.+/.exec(key);
  return k ? k[1] : undefined;
}

const EXPECTED_IMS_ARCH: Record<string, string> = { X86: 'x86_64', Unknown: 'x86_64', ARM: 'aarch64' };

export interface ImsCheck {
  warning?: string;
  /** The error kind and message when the check fails. */
  error?: { kind: string; message: string };
}

/** The IMS image check of one boot set (docs/api.md, "Boot-set validation", the image check). */
export async function checkImsImage(bs: BootSet, deps: ValidationDeps): Promise<ImsCheck> {
  const arch = bs.arch ?? 'X86';
  if (arch === 'Other') return { warning: "Can't validate boot image arch: Boot set arch set to 'Other'" };
  const id = imsImageId(bs.path);
  if (id === undefined) return { warning: `Boot artifact S3 URL '${bs.path}' doesn't follow convention for IMS images` };
  let imageArch: string;
  try {
    if (!deps.ims) throw new KindError('ImsUnavailable', 'no image service (IMS) is configured');
    const image = await deps.ims.getImage(id);
    imageArch = image.arch || 'x86_64';
  } catch (err) {
    const notFound = err instanceof ServiceError && (err.status === 404 || err.name === 'ImageNotFound');
    if (notFound) {
      const message = `IMS image id '${id}' does not exist in IMS`;
      if (deps.options.ims_images_must_exist) return { error: { kind: 'ImageNotFound', message } };
      return { warning: `Can't validate boot image arch: ${message}` };
    }
    const unavailable = err instanceof ServiceError && (err.status === undefined || err.status >= 500);
    const message = messageOf(err) + (unavailable ? '; check that IMS answers the BOS API (BOS_IMS_URL)' : '');
    if (deps.options.ims_errors_fatal) {
      const kind = err instanceof KindError ? err.kind : err instanceof ServiceError ? err.service : err instanceof Error ? err.name : 'Error';
      return { error: { kind, message } };
    }
    return { warning: `Can't validate boot image arch: ${message}` };
  }
  const expected = EXPECTED_IMS_ARCH[arch];
  if (expected && expected !== imageArch) {
    return {
      error: {
        kind: 'BootSetArchMismatch',
        message: `Boot set arch '${arch}' means IMS image arch should be '${expected}', but actual IMS image arch is '${imageArch}'`,
      },
    };
  }
  return {};
}

/**
 * Validate every boot set of a template for an operation (docs/api.md, "Boot-set validation"). Stops at
 * the first error; collects warnings on the way.
 */
export async function validateBootSets(tmpl: SessionTemplate, operation: string, deps: ValidationDeps): Promise<ValidationResult> {
  const warnings: string[] = [];
  const bootSets = tmpl.boot_sets;
  if (!bootSets || typeof bootSets !== 'object' || Object.keys(bootSets).length === 0) {
    return { error: `Session template '${tmpl.name}' requires at least 1 boot set.`, warnings };
  }
  for (const [name, bs] of Object.entries(bootSets)) {
    const prefix = `Session template: '${tmpl.name}' boot set: '${name}': `;
    const fail = (msg: string): ValidationResult => ({ error: prefix + msg, warnings });
    const hw = hardwareSpecifierError(bs as unknown as Record<string, unknown>);
    if (hw) return fail(hw);
    if (bs.rootfs_provider !== undefined && !SUPPORTED_ROOTFS_PROVIDERS.has(bs.rootfs_provider)) {
      warnings.push(prefix + `Unsupported rootfs_provider ('${bs.rootfs_provider}') will cause boot/reboot sessions to fail`);
    }
    if (hasNid(bs as unknown as Record<string, unknown>)) {
      if (deps.options.reject_nids) return fail("Has NID in 'node_list'");
      warnings.push(prefix + "Has NID in 'node_list'");
    }
    if (operation === 'boot' || operation === 'reboot') {
      const artifactWarnings: string[] = [];
      const artifactError = await checkArtifacts(bs, deps, artifactWarnings);
      if (artifactError) return fail(artifactError);
      for (const w of artifactWarnings) warnings.push(prefix + w);
      const ims = await checkImsImage(bs, deps);
      if (ims.error) return fail(ims.error.message);
      if (ims.warning) warnings.push(prefix + ims.warning);
    }
  }
  return { warnings };
}

/** The validation answer: the error, else the warnings joined with '; ', else `Valid`. */
export function validationMessage(r: ValidationResult): string {
  if (r.error) return r.error;
  if (r.warnings.length) return r.warnings.join('; ');
  return 'Valid';
}
