/**
 * S3 client (docs/services.md, "S3") over @aws-sdk/client-s3, plus the image-manifest helpers session setup
 * and template validation use: read a manifest (1 MiB limit), find exactly one artifact of a type,
 * summarise a manifest, read the boot-parameters file.
 */
import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { GetObjectCommand, HeadObjectCommand, S3Client as AwsS3Client } from '@aws-sdk/client-s3';
import { anySignal, type CallDeadline } from './deadline.js';
import { report, type RequestHook } from './http.js';
import { ServiceError, type S3Client, type S3Object } from './types.js';

// ---------------------------------------------------------------- configuration

export interface S3Config {
  /** `<protocol>://<gateway>`; default from env `S3_PROTOCOL` + `S3_GATEWAY`. */
  endpoint?: string;
  /** Default from env `S3_ACCESS_KEY`. */
  accessKey?: string;
  /** Default from env `S3_SECRET_KEY`. Never logged or put in an error. */
  secretKey?: string;
  /** Send requests with placeholder credentials (a loopback simulator that checks no signature). */
  anonymous?: boolean;
  region?: string;
  /** Default false: certificates are not verified, as upstream. */
  verifyTls?: boolean;
  /** Connect and read timeout; default 60 s. */
  timeoutSeconds?: number;
  /** SDK attempts per call (its own retry); default 3. */
  maxAttempts?: number;
  onRequest?: RequestHook;
  /** Aborts every call in flight: the process is stopping. */
  signal?: AbortSignal;
}

interface ResolvedS3Config {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
}

/** Fill unset fields from the environment; report what is missing in one line. */
export function resolveS3Config(cfg: S3Config, env: NodeJS.ProcessEnv = process.env): ResolvedS3Config {
  let endpoint = cfg.endpoint;
  if (!endpoint && env.S3_GATEWAY) endpoint = `${env.S3_PROTOCOL || 'https'}://${env.S3_GATEWAY}`;
  const accessKeyId = cfg.accessKey ?? env.S3_ACCESS_KEY ?? (cfg.anonymous ? 'anonymous' : undefined);
  const secretAccessKey = cfg.secretKey ?? env.S3_SECRET_KEY ?? (cfg.anonymous ? 'anonymous' : undefined);
  const missing: string[] = [];
  if (!endpoint) missing.push('the endpoint (S3_PROTOCOL and S3_GATEWAY)');
  if (!accessKeyId) missing.push('the access key (S3_ACCESS_KEY)');
  if (!secretAccessKey) missing.push('the secret key (S3_SECRET_KEY)');
  if (missing.length > 0) {
    throw new Error(`S3 is not configured: set ${missing.join(', ')}`);
  }
  return { endpoint: endpoint!, accessKeyId: accessKeyId!, secretAccessKey: secretAccessKey! };
}

/** `s3://bucket/key[?query]` → bucket and key (path without the leading `/`, plus `?query`). */
export function parseS3Url(url: string): { bucket: string; key: string } {
  const m = /^s3:\/\/([^/?#]+)\/?([^#]*)/i.exec(url);
  if (!m || !m[2]) throw new Error(`not an s3://bucket/key URL: ${JSON.stringify(url)}`);
  return { bucket: m[1]!, key: m[2] };
}

// ---------------------------------------------------------------- the client

export interface GetObjectOptions {
  /**
   * Stop reading once the object is known to be larger: the result then has `contentLength` > maxBytes
   * and an empty or partial body.
   */
  maxBytes?: number;
}

export class AwsS3ObjectClient implements S3Client {
  private client?: AwsS3Client;
  private readonly cfg: S3Config;

  constructor(cfg: S3Config = {}) {
    this.cfg = cfg;
  }

  /** Built at first use, so a missing S3 configuration only fails the calls that need S3. */
  private sdk(method: string, url: string): AwsS3Client {
    if (this.client) return this.client;
    let r: ResolvedS3Config;
    try {
      r = resolveS3Config(this.cfg);
    } catch (err) {
      throw new ServiceError('s3', method, url, undefined, (err as Error).message);
    }
    // The project runs on Node 20 on purpose; the SDK's multi-line support notice would break one-line logs.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    const timeout = (this.cfg.timeoutSeconds ?? 60) * 1000;
    this.client = new AwsS3Client({
      endpoint: r.endpoint,
      region: this.cfg.region ?? 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: r.accessKeyId, secretAccessKey: r.secretAccessKey },
      maxAttempts: this.cfg.maxAttempts ?? 3,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: {
        connectionTimeout: timeout,
        requestTimeout: timeout,
        httpAgent: new http.Agent({ keepAlive: true }),
        httpsAgent: new https.Agent({ keepAlive: true, rejectUnauthorized: this.cfg.verifyTls === true }),
      },
    });
    return this.client;
  }

  close(): void {
    this.client?.destroy();
    this.client = undefined;
  }

  /** This client with every call bounded by an API request's deadline (deadline.ts); it shares the SDK client. */
  within(deadline: CallDeadline): S3Client {
    return {
      getObject: (url, opts) => this.getObjectBy(url, opts, deadline),
      headObject: (url) => this.headObjectBy(url, deadline),
    };
  }

  getObject(url: string, opts: GetObjectOptions = {}): Promise<S3Object> {
    return this.getObjectBy(url, opts, undefined);
  }

  headObject(url: string): Promise<{ etag?: string; contentLength?: number }> {
    return this.headObjectBy(url, undefined);
  }

  private async getObjectBy(url: string, opts: GetObjectOptions = {}, deadline: CallDeadline | undefined): Promise<S3Object> {
    const client = this.sdk('GET', url);
    const { bucket, key } = this.parse('GET', url);
    return this.timed('GET', url, deadline, async (abortSignal) => {
      const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }), { abortSignal });
      const stream = res.Body as Readable | undefined;
      const declared = typeof res.ContentLength === 'number' ? res.ContentLength : undefined;
      const max = opts.maxBytes;
      if (max !== undefined && declared !== undefined && declared > max) {
        stream?.destroy?.();
        return { body: Buffer.alloc(0), etag: res.ETag, contentLength: declared };
      }
      const chunks: Buffer[] = [];
      let seen = 0;
      if (stream) {
        for await (const c of stream) {
          const b = Buffer.isBuffer(c) ? c : Buffer.from(c as Uint8Array);
          seen += b.length;
          if (max !== undefined && seen > max) {
            stream.destroy();
            return { body: Buffer.concat(chunks), etag: res.ETag, contentLength: seen };
          }
          chunks.push(b);
        }
      }
      const body = Buffer.concat(chunks);
      return { body, etag: res.ETag, contentLength: declared ?? body.length };
    });
  }

  private async headObjectBy(url: string, deadline: CallDeadline | undefined): Promise<{ etag?: string; contentLength?: number }> {
    const client = this.sdk('HEAD', url);
    const { bucket, key } = this.parse('HEAD', url);
    return this.timed('HEAD', url, deadline, async (abortSignal) => {
      const res = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }), { abortSignal });
      return { etag: res.ETag, contentLength: res.ContentLength };
    });
  }

  private parse(method: string, url: string): { bucket: string; key: string } {
    try {
      return parseS3Url(url);
    } catch (err) {
      throw new ServiceError('s3', method, url, undefined, (err as Error).message);
    }
  }

  /** Run an SDK call, bounded by the stop signal and, for an API request, its deadline (deadline.ts). */
  private async timed<T>(method: string, url: string, deadline: CallDeadline | undefined, fn: (signal: AbortSignal | undefined) => Promise<T>): Promise<T> {
    const earlier = deadline?.failed.get('s3');
    if (earlier) throw new ServiceError('s3', method, url, undefined, `not asked again in this request after: ${earlier.message}`);
    const signal = anySignal(this.cfg.signal, deadline?.signal);
    const t0 = performance.now();
    const started = Date.now();
    let outcome = 'error';
    try {
      const v = await fn(signal);
      outcome = '200';
      return v;
    } catch (err) {
      const status = sdkStatus(err);
      if (status !== undefined) outcome = String(status);
      let out = toServiceError(err, method, url);
      if (signal?.aborted) {
        outcome = 'timeout';
        out = new ServiceError('s3', method, url, undefined, this.cfg.signal?.aborted
          ? `${method} ${url} given up: the process is stopping`
          : `No answer from the S3 endpoint within the request's deadline of ${Math.round((deadline!.deadlineAt - started) / 1000)} s (${method} ${url})`);
      }
      // Not reached, or a 5xx: the request does not ask S3 again.
      if (deadline && (status === undefined || status >= 500)) deadline.failed.set('s3', out);
      throw out;
    } finally {
      report(this.cfg.onRequest, 's3', method, outcome, (performance.now() - t0) / 1000);
    }
  }
}

function sdkStatus(err: unknown): number | undefined {
  const s = (err as { $metadata?: { httpStatusCode?: unknown } } | undefined)?.$metadata?.httpStatusCode;
  return typeof s === 'number' ? s : undefined;
}

function toServiceError(err: unknown, method: string, url: string): ServiceError {
  if (err instanceof ServiceError) return err;
  const status = sdkStatus(err);
  const e = err as { name?: string; message?: string } | undefined;
  const name = e?.name && e.name !== 'Error' ? e.name : 'S3 error';
  const detail = e?.message && e.message !== e.name && e.message !== 'UnknownError' ? e.message : status ? `status ${status}` : 'no detail';
  return new ServiceError('s3', method, url, status, `${method} ${url} failed: ${name}: ${detail}`.replace(/\s*[\r\n]+\s*/g, ' '));
}

// ---------------------------------------------------------------- manifests

export const ARTIFACT_TYPES = Object.freeze({
  kernel: 'application/vnd.cray.image.kernel',
  initrd: 'application/vnd.cray.image.initrd',
  rootfs: 'application/vnd.cray.image.rootfs.squashfs',
  bootParameters: 'application/vnd.cray.image.parameters.boot',
});

const MANIFEST_MAX_BYTES = 1_048_576;

interface ManifestLink {
  path?: string;
  etag?: string;
  type?: string;
}
export interface ManifestArtifact {
  type?: string;
  md5?: string;
  link?: ManifestLink | null;
}
export interface Manifest {
  version?: string;
  created?: string;
  artifacts?: ManifestArtifact[];
  [k: string]: unknown;
}

/** The manifest object could not be read. */
export class ManifestNotFound extends ServiceError {
  constructor(path: string, status?: number) {
    super('s3', 'GET', path, status, `Unable to read manifest file '${path}'.`);
    this.name = 'ManifestNotFound';
  }
}
export class ManifestTooBig extends ServiceError {
  constructor(path: string, bytes: number) {
    super('s3', 'GET', path, undefined, `${path} is supposed to be an image manifest, but ${bytes} bytes is too big for a manifest`);
    this.name = 'ManifestTooBig';
  }
}
/** The manifest is not the JSON object it should be, or an artifact lacks a required link field. */
export class InvalidManifest extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidManifest';
  }
}
export class ArtifactNotFound extends Error {
  constructor(readonly artifactType: string) {
    super(`No artifact of type ${artifactType} could be found in the image manifest.`);
    this.name = 'ArtifactNotFound';
  }
}
export class TooManyArtifacts extends Error {
  constructor(readonly artifactType: string) {
    super(`Multiple ${artifactType} artifacts found in the manifest.`);
    this.name = 'TooManyArtifacts';
  }
}
/** An object (the boot-parameters file) could not be downloaded. */
export class ObjectNotFound extends ServiceError {
  constructor(path: string, status?: number) {
    super('s3', 'GET', path, status, `Unable to download object ${path}.`);
    this.name = 'ObjectNotFound';
  }
}

/** Python's name for the type of a parsed JSON value, as upstream's message shows it. */
export function pythonTypeName(v: unknown): string {
  if (v === null) return 'NoneType';
  if (Array.isArray(v)) return 'list';
  switch (typeof v) {
    case 'string':
      return 'str';
    case 'boolean':
      return 'bool';
    case 'number':
      return Number.isInteger(v) ? 'int' : 'float';
    default:
      return 'dict';
  }
}

/** GetObject the manifest at `path` (an `s3://` URL) and parse it. */
export async function readManifest(s3: S3Client, path: string): Promise<Manifest> {
  let obj: S3Object;
  try {
    obj = await s3.getObject(path, { maxBytes: MANIFEST_MAX_BYTES });
  } catch (err) {
    throw new ManifestNotFound(path, err instanceof ServiceError ? err.status : undefined);
  }
  const size = Math.max(obj.contentLength ?? 0, obj.body.length);
  if (size > MANIFEST_MAX_BYTES) throw new ManifestTooBig(path, size);
  let data: unknown;
  try {
    data = JSON.parse(obj.body.toString('utf8'));
  } catch (err) {
    throw new InvalidManifest(`The image manifest ${path} is not valid JSON: ${(err as Error).message}`);
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new InvalidManifest(`Manifest should be dict. Invalid data type: ${pythonTypeName(data)}`);
  }
  return data as Manifest;
}

/** The single artifact of `type`; none → ArtifactNotFound, several → TooManyArtifacts. */
export function findArtifact(manifest: Manifest, type: string): ManifestArtifact {
  const list = manifest.artifacts;
  if (!Array.isArray(list)) throw new InvalidManifest('The image manifest has no artifacts list');
  const found = list.filter((a) => a && typeof a === 'object' && a.type === type);
  if (found.length === 0) throw new ArtifactNotFound(type);
  if (found.length > 1) throw new TooManyArtifacts(type);
  return found[0]!;
}

function linkField(a: ManifestArtifact, type: string, field: 'path' | 'etag'): string {
  const v = a.link && typeof a.link === 'object' ? a.link[field] : undefined;
  if (typeof v !== 'string') throw new InvalidManifest(`The ${type} artifact in the image manifest has no link ${field}`);
  return v;
}

function optional<T>(fn: () => T): T | null {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ArtifactNotFound) return null;
    throw err;
  }
}

export interface ManifestSummary {
  kernel: string | null;
  initrd: string | null;
  rootfs: string | null;
  rootfsEtag: string | null;
  bootParametersPath: string | null;
  bootParametersEtag: string | null;
}

/**
 * What session setup takes from a manifest. Only an absent artifact is tolerated (→ null); several of
 * one type, or a present artifact whose link lacks the needed path/etag, throws.
 */
export function summarizeManifest(manifest: Manifest): ManifestSummary {
  const kernel = optional(() => linkField(findArtifact(manifest, ARTIFACT_TYPES.kernel), 'kernel', 'path'));
  const initrd = optional(() => linkField(findArtifact(manifest, ARTIFACT_TYPES.initrd), 'initrd', 'path'));
  const rootfsArt = optional(() => findArtifact(manifest, ARTIFACT_TYPES.rootfs));
  const paramsArt = optional(() => findArtifact(manifest, ARTIFACT_TYPES.bootParameters));
  return {
    kernel,
    initrd,
    rootfs: rootfsArt ? linkField(rootfsArt, 'rootfs', 'path') : null,
    rootfsEtag: rootfsArt ? linkField(rootfsArt, 'rootfs', 'etag') : null,
    bootParametersPath: paramsArt ? linkField(paramsArt, 'boot parameters', 'path') : null,
    bootParametersEtag: paramsArt ? linkField(paramsArt, 'boot parameters', 'etag') : null,
  };
}

/** Download the boot-parameters file and split it on whitespace. */
export async function readBootParameters(s3: S3Client, path: string): Promise<string[]> {
  let obj: S3Object;
  try {
    obj = await s3.getObject(path);
  } catch (err) {
    throw new ObjectNotFound(path, err instanceof ServiceError ? err.status : undefined);
  }
  return obj.body
    .toString('utf8')
    .split(/\s+/)
    .filter((t) => t.length > 0);
}
