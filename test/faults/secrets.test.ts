/**
 * Secrets stay secret: the bearer token from the token file and the Redis password never appear in
 * log lines, error texts, component or session errors, or API answers, even when a downstream
 * service echoes the request's Authorization header back in its error pages.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { createServices, describeError, gatewayUrls, RedisBootArtifacts, storeBootArtifacts } from '../../src/clients/index.js';
import { OPTION_DEFAULTS } from '../../src/common/options.js';
import { startOperators, type RunningOperators } from '../../src/operators/index.js';
import { RedisStore } from '../../src/server/store/redis/index.js';
import { startRedis } from '../helpers/redis.js';
import { bootTemplate, bos, captureLogger, FAST_OPTIONS, startFaultSystem, startSession, until, waitComplete, waitDiscovered } from './harness.js';

const TOKEN = 'tok-3f9a1c7e5b2d4e6f8a0b1c2d3e4f5a6b';
const PASSWORD = 'pw-Zq8rT4mX2vN7kL1s';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function tokenFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bos-secrets-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'token');
  writeFileSync(path, `${TOKEN}\n`);
  return path;
}

/** A service that echoes the Authorization header in every answer (error pages and garbage). */
async function echoingService(mode: { status: number; contentType: string }) {
  const app = Fastify({ logger: false });
  const seen: string[] = [];
  app.all('/*', async (req, reply) => {
    seen.push(String(req.headers.authorization ?? ''));
    reply.code(mode.status).header('content-type', mode.contentType);
    return `<html>denied for ${req.headers.authorization} at ${req.url} {"auth":"${req.headers.authorization}"`;
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  cleanups.push(() => app.close());
  const addr = app.server.address();
  return { url: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`, seen };
}

describe('the bearer token', () => {
  it('is sent, but never appears in the error texts of any client, even when the service echoes it', async () => {
    for (const mode of [
      { status: 500, contentType: 'text/html' },
      { status: 401, contentType: 'text/plain' },
      { status: 200, contentType: 'application/json' },
    ]) {
      const svc = await echoingService(mode);
      const services = createServices({
        bosUrl: `${svc.url}/v2`,
        hsmUrl: svc.url,
        pcsUrl: svc.url,
        bssUrl: svc.url,
        cfsUrl: svc.url,
        imsUrl: svc.url,
        tenantsUrl: svc.url,
        s3: {},
        bootArtifacts: { get: async () => undefined, put: async () => {} },
        tokenFile: tokenFile(),
        options: () => OPTION_DEFAULTS,
        retry: { retries: 1, backoffFactorMs: 1, maxBackoffMs: 2 },
      });
      cleanups.push(() => services.close());
      const calls: [string, () => Promise<unknown>][] = [
        ['hsm', () => services.hsm.listComponents()],
        ['hsm', () => services.hsm.queryComponents(['x1'])],
        ['pcs', () => services.pcs.powerStatus(['x1'])],
        ['pcs', () => services.pcs.transition('On', ['x1'])],
        ['bss', () => services.bss.setBootParameters(['x1'], 'p', 'k', 'i')],
        ['cfs', () => services.cfs.getComponents(['x1'])],
        ['ims', () => services.ims.getImage('i')],
        ['tapms', () => services.tenants.tenantXnames('t')],
        ['bos', () => services.bos.listComponents({}, 10)],
      ];
      for (const [name, fn] of calls) {
        let err: unknown;
        try {
          await fn();
        } catch (e) {
          err = e;
        }
        if (err === undefined) continue;
        const texts = [describeError(err), String(err), (err as Error).message ?? '', JSON.stringify(err), String((err as Error).stack)];
        for (const t of texts) expect(t, `${name} error (${mode.status} ${mode.contentType}) leaks the token`).not.toContain(TOKEN);
      }
      expect(svc.seen.some((a) => a === `Bearer ${TOKEN}`)).toBe(true);
    }
  });

  it('does not reach the operators’ logs (debug level) or the errors they record', async () => {
    const cap = captureLogger('debug');
    const sys = await startFaultSystem({ operators: [], options: { logging_level: 'DEBUG' } });
    cleanups.push(() => sys.close());
    const svc = await echoingService({ status: 500, contentType: 'text/html' });
    let ops: RunningOperators | undefined;
    const services = createServices({
      ...gatewayUrls(sys.url),
      pcsUrl: svc.url,
      bootArtifacts: storeBootArtifacts(sys.store),
      tokenFile: tokenFile(),
      options: () => ops?.options() ?? { ...OPTION_DEFAULTS, ...FAST_OPTIONS },
      retry: { retries: 1, backoffFactorMs: 1, maxBackoffMs: 2 },
    });
    cleanups.push(() => services.close());
    ops = startOperators({ services, logger: cap.logger, minIntervalMs: 100 });
    cleanups.push(() => ops!.stop());
    const call = bos(sys.bosUrl);
    await waitDiscovered(call, sys.room);
    await startSession(call, bootTemplate());
    await until('PCS errors to be logged', async () => cap.lines.filter((l) => l.includes('pcs')).length >= 3, 20_000);
    const comps = (await call('GET', '/components')).body;
    const sessions = (await call('GET', '/sessions')).body;
    expect(svc.seen.length).toBeGreaterThan(0);
    expect(cap.lines.join('')).not.toContain(TOKEN);
    expect(JSON.stringify(comps)).not.toContain(TOKEN);
    expect(JSON.stringify(sessions)).not.toContain(TOKEN);
  });
});

describe('the Redis password', () => {
  it('never appears in API answers, logs or store errors when Redis is down or refuses the password', async () => {
    const redis = await startRedis({ password: PASSWORD, appendonly: true });
    cleanups.push(() => redis.stop());
    const cap = captureLogger('debug');
    const sys = await startFaultSystem({ redisUrl: redis.url, redisPassword: PASSWORD, logger: cap.logger, options: { logging_level: 'DEBUG' } });
    cleanups.push(() => sys.close());
    const call = bos(sys.bosUrl);
    await waitDiscovered(call, sys.room);
    const session = await startSession(call, bootTemplate());
    await waitComplete(call, session);
    await redis.kill();
    const answers = [await call('GET', '/components'), await call('GET', '/sessions'), await call('PATCH', '/options', { polling_frequency: 2 })];
    for (const a of answers) {
      expect(a.status).toBe(503);
      expect(JSON.stringify(a.body)).not.toContain(PASSWORD);
    }
    await redis.restart();

    // Wrong password, password in the URL, unreachable: the errors name the address only.
    const errors: string[] = [];
    const grab = async (fn: () => Promise<unknown>) => {
      try {
        await fn();
      } catch (e) {
        errors.push(String(e), (e as Error).message, describeError(e), JSON.stringify(e), String((e as Error).stack));
      }
    };
    await grab(() => RedisStore.connect({ url: redis.url, password: `${PASSWORD}-wrong`, connectTimeoutSeconds: 1 }));
    await grab(() => RedisStore.connect({ url: `redis://:${encodeURIComponent(`${PASSWORD}-wrong`)}@127.0.0.1:${redis.port}`, connectTimeoutSeconds: 1 }));
    await grab(() => RedisStore.connect({ url: 'redis://127.0.0.1:1', password: PASSWORD, connectTimeoutSeconds: 1 }));
    const artifacts = new RedisBootArtifacts(`redis://:${PASSWORD}@127.0.0.1:1`, { connectTimeoutMs: 200, commandTimeoutMs: 500 });
    cleanups.push(() => artifacts.close());
    await grab(() => artifacts.get('token'));
    const wrong = new RedisBootArtifacts(`redis://:${PASSWORD}-wrong@127.0.0.1:${redis.port}`, { connectTimeoutMs: 500, commandTimeoutMs: 1000 });
    cleanups.push(() => wrong.close());
    await grab(() => wrong.put('token', { kernel: 'k', kernel_parameters: 'p', initrd: 'i' } as never));
    expect(errors.length).toBeGreaterThanOrEqual(5 * 4);
    for (const e of errors) expect(e).not.toContain(PASSWORD);
    expect(cap.lines.length).toBeGreaterThan(0);
    expect(cap.lines.join('')).not.toContain(PASSWORD);
  });
});
