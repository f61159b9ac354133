import { afterEach, describe, expect, it } from 'vitest';
import {
  ARTIFACT_TYPES,
  ArtifactNotFound,
  AwsS3ObjectClient,
  findArtifact,
  InvalidManifest,
  ManifestNotFound,
  ManifestTooBig,
  ObjectNotFound,
  parseS3Url,
  pythonTypeName,
  readBootParameters,
  readManifest,
  resolveS3Config,
  summarizeManifest,
  TooManyArtifacts,
  type Manifest,
} from '../../src/clients/s3.js';
import { describeError } from '../../src/clients/http.js';
import { ServiceError, type S3Client } from '../../src/clients/types.js';
import { startFake, type Answer, type Fake } from './fake-server.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** A path-style S3 fake: objects by `/<bucket>/<key>`. */
async function s3Fake(objects: Record<string, string | Buffer>): Promise<Fake> {
  const f = await startFake((req): Answer => {
    const obj = objects[req.path];
    if (obj === undefined) {
      return {
        status: 404,
        raw: '<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>',
        headers: { 'content-type': 'application/xml' },
      };
    }
    return { raw: obj.toString(), headers: { etag: '"etag-1"', 'content-type': 'application/octet-stream' } };
  });
  cleanups.push(() => f.close());
  return f;
}

function s3(url: string, calls?: string[]): AwsS3ObjectClient {
  const c = new AwsS3ObjectClient({
    endpoint: url,
    accessKey: 'AKIAEXAMPLE',
    secretKey: 'super-secret-key',
    maxAttempts: 1,
    onRequest: calls ? (s, m, o) => calls.push(`${s} ${m} ${o}`) : undefined,
  });
  cleanups.push(() => c.close());
  return c;
}

async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the call to fail');
}

function manifest(artifacts: unknown[]): string {
  return JSON.stringify({ version: '1.0', created: '2026-01-01', artifacts });
}

const kernel = { type: ARTIFACT_TYPES.kernel, link: { path: 's3://boot-images/img1/kernel', etag: 'k', type: 's3' } };
const initrd = { type: ARTIFACT_TYPES.initrd, link: { path: 's3://boot-images/img1/initrd', etag: 'i', type: 's3' } };
const rootfs = { type: ARTIFACT_TYPES.rootfs, link: { path: 's3://boot-images/img1/rootfs', etag: 'r-etag', type: 's3' } };
const params = { type: ARTIFACT_TYPES.bootParameters, link: { path: 's3://boot-images/img1/params', etag: 'p', type: 's3' } };

describe('S3 configuration and URLs', () => {
  it('parses s3://bucket/key keeping the query in the key', () => {
    expect(parseS3Url('s3://boot-images/img1/manifest.json')).toEqual({ bucket: 'boot-images', key: 'img1/manifest.json' });
    expect(parseS3Url('s3://b/k?v=2')).toEqual({ bucket: 'b', key: 'k?v=2' });
    expect(() => parseS3Url('http://b/k')).toThrow(/not an s3:\/\/bucket\/key URL/);
  });

  it('takes endpoint and keys from the environment and names what is missing (never the secret)', () => {
    expect(resolveS3Config({}, { S3_PROTOCOL: 'http', S3_GATEWAY: 'rgw-vip', S3_ACCESS_KEY: 'a', S3_SECRET_KEY: 's' })).toEqual({
      endpoint: 'http://rgw-vip',
      accessKeyId: 'a',
      secretAccessKey: 's',
    });
    expect(() => resolveS3Config({}, { S3_SECRET_KEY: 'hidden-value' })).toThrow(
      'S3 is not configured: set the endpoint (S3_PROTOCOL and S3_GATEWAY), the access key (S3_ACCESS_KEY)',
    );
    expect(resolveS3Config({ endpoint: 'http://sim', anonymous: true }, {}).endpoint).toBe('http://sim');
  });

  it('a call without configuration fails with a ServiceError, not at construction', async () => {
    const saved = { ...process.env };
    delete process.env.S3_GATEWAY;
    delete process.env.S3_ACCESS_KEY;
    delete process.env.S3_SECRET_KEY;
    try {
      const c = new AwsS3ObjectClient({});
      const err = await failure(c.getObject('s3://b/k'));
      expect(err).toBeInstanceOf(ServiceError);
      expect(describeError(err)).toMatch(/^s3: S3 is not configured: set the endpoint/);
    } finally {
      process.env = saved;
    }
  });
});

describe('S3 client over the wire', () => {
  it('gets and heads objects path-style and reports each call', async () => {
    const f = await s3Fake({ '/boot-images/img1/params': 'console=ttyS0  quiet\n' });
    const calls: string[] = [];
    const c = s3(f.url, calls);
    const obj = await c.getObject('s3://boot-images/img1/params');
    expect(obj.body.toString()).toBe('console=ttyS0  quiet\n');
    expect(obj.etag).toBe('"etag-1"');
    expect(obj.contentLength).toBe(21);
    const head = await c.headObject('s3://boot-images/img1/params');
    expect(head.contentLength).toBe(21);
    expect(f.seen.map((s) => `${s.method} ${s.path}`)).toEqual(['GET /boot-images/img1/params', 'HEAD /boot-images/img1/params']);
    expect(String(f.seen[0]!.headers.authorization)).toContain('AKIAEXAMPLE');
    expect(calls).toEqual(['s3 GET 200', 's3 HEAD 200']);
  });

  it('a missing object is a ServiceError with status 404 and without the secret key', async () => {
    const f = await s3Fake({});
    const c = s3(f.url);
    const err = (await failure(c.getObject('s3://b/nothing'))) as ServiceError;
    expect(err).toBeInstanceOf(ServiceError);
    expect(err.status).toBe(404);
    expect(err.service).toBe('s3');
    expect(err.message).toMatch(/^GET s3:\/\/b\/nothing failed: NoSuchKey/);
    expect(err.message).not.toContain('super-secret-key');
  });

  it('reads a manifest and its boot parameters', async () => {
    const f = await s3Fake({
      '/boot-images/img1/manifest.json': manifest([kernel, initrd, rootfs, params]),
      '/boot-images/img1/params': 'a=1\n b=2\tc\n',
    });
    const c = s3(f.url);
    const m = await readManifest(c, 's3://boot-images/img1/manifest.json');
    expect(summarizeManifest(m)).toEqual({
      kernel: 's3://boot-images/img1/kernel',
      initrd: 's3://boot-images/img1/initrd',
      rootfs: 's3://boot-images/img1/rootfs',
      rootfsEtag: 'r-etag',
      bootParametersPath: 's3://boot-images/img1/params',
      bootParametersEtag: 'p',
    });
    expect(await readBootParameters(c, 's3://boot-images/img1/params')).toEqual(['a=1', 'b=2', 'c']);
    const err = await failure(readBootParameters(c, 's3://boot-images/img1/none'));
    expect(err).toBeInstanceOf(ObjectNotFound);
    expect(err.message).toBe('Unable to download object s3://boot-images/img1/none.');
  });

  it('manifest errors carry the exact upstream texts', async () => {
    const big = Buffer.alloc(1_048_577, 0x20);
    const f = await s3Fake({
      '/b/big.json': big,
      '/b/list.json': '[1, 2]',
      '/b/str.json': '"x"',
      '/b/exact.json': JSON.stringify({ artifacts: [] }).padEnd(1_048_576, ' '),
    });
    const c = s3(f.url);
    const tooBig = await failure(readManifest(c, 's3://b/big.json'));
    expect(tooBig).toBeInstanceOf(ManifestTooBig);
    expect(tooBig.message).toBe('s3://b/big.json is supposed to be an image manifest, but 1048577 bytes is too big for a manifest');
    const missing = await failure(readManifest(c, 's3://b/missing.json'));
    expect(missing).toBeInstanceOf(ManifestNotFound);
    expect(missing.message).toBe("Unable to read manifest file 's3://b/missing.json'.");
    expect(describeError(missing)).toBe("ManifestNotFound: Unable to read manifest file 's3://b/missing.json'.");
    const list = await failure(readManifest(c, 's3://b/list.json'));
    expect(list).toBeInstanceOf(InvalidManifest);
    expect(list.message).toBe('Manifest should be dict. Invalid data type: list');
    expect((await failure(readManifest(c, 's3://b/str.json'))).message).toBe('Manifest should be dict. Invalid data type: str');
    // Exactly at the limit is accepted.
    expect((await readManifest(c, 's3://b/exact.json')).artifacts).toEqual([]);
  });
});

describe('manifest helpers', () => {
  const m = (artifacts: unknown[]): Manifest => JSON.parse(manifest(artifacts)) as Manifest;

  it('finds exactly one artifact of a type', () => {
    expect(findArtifact(m([kernel, initrd]), ARTIFACT_TYPES.initrd)).toEqual(initrd);
    const none = (() => {
      try {
        findArtifact(m([kernel]), ARTIFACT_TYPES.initrd);
      } catch (e) {
        return e as Error;
      }
    })();
    expect(none).toBeInstanceOf(ArtifactNotFound);
    expect(none!.message).toBe('No artifact of type application/vnd.cray.image.initrd could be found in the image manifest.');
    expect(describeError(none)).toBe(
      'ArtifactNotFound: No artifact of type application/vnd.cray.image.initrd could be found in the image manifest.',
    );
    expect(() => findArtifact(m([kernel, kernel]), ARTIFACT_TYPES.kernel)).toThrow(TooManyArtifacts);
    expect(() => findArtifact(m([kernel, kernel]), ARTIFACT_TYPES.kernel)).toThrow(
      'Multiple application/vnd.cray.image.kernel artifacts found in the manifest.',
    );
  });

  it('summary: absent artifacts are null, duplicates and link-less present artifacts throw', () => {
    expect(summarizeManifest(m([kernel, initrd]))).toEqual({
      kernel: 's3://boot-images/img1/kernel',
      initrd: 's3://boot-images/img1/initrd',
      rootfs: null,
      rootfsEtag: null,
      bootParametersPath: null,
      bootParametersEtag: null,
    });
    expect(summarizeManifest(m([])).kernel).toBeNull();
    expect(() => summarizeManifest(m([kernel, initrd, { type: ARTIFACT_TYPES.rootfs, link: { path: 's3://x' } }]))).toThrow(
      'The rootfs artifact in the image manifest has no link etag',
    );
    expect(() => summarizeManifest(m([kernel, initrd, initrd]))).toThrow(TooManyArtifacts);
  });

  it('Python type names for upstream messages', () => {
    expect([null, [], 's', 1, 1.5, true, {}].map(pythonTypeName)).toEqual(['NoneType', 'list', 'str', 'int', 'float', 'bool', 'dict']);
  });

  it('a fake S3Client that ignores maxBytes is still checked by size', async () => {
    const fakeS3: S3Client = {
      getObject: async () => ({ body: Buffer.alloc(2_000_000, 0x20) }),
      headObject: async () => ({}),
    };
    await expect(readManifest(fakeS3, 's3://b/m')).rejects.toThrow('s3://b/m is supposed to be an image manifest, but 2000000 bytes is too big for a manifest');
  });
});
