/**
 * Parts of the system going away mid-boot: Redis killed and restarted (append-only file on), the
 * `bos operators` process SIGKILLed right after it called PCS and started again, the API restarted
 * under running operators, and two operator sets running at once without leader election.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { createServices, gatewayUrls, storeBootArtifacts } from '../../src/clients/index.js';
import { OPTION_DEFAULTS } from '../../src/common/options.js';
import { startOperators, type RunningOperators } from '../../src/operators/index.js';
import { startServer, type RunningServer } from '../../src/server/app.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import {
  bootTemplate,
  bos,
  checkOutcome,
  FAST_OPTIONS,
  sleep,
  startFaultSystem,
  startSession,
  transitionsPerNode,
  until,
  waitComplete,
  waitDiscovered,
  x86ComputeNodes,
} from './harness.js';

const BOS_BIN = fileURLToPath(new URL('../../bin/bos.js', import.meta.url));

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

describe('restarts mid-boot', () => {
  it('Redis killed and restarted mid-boot (append-only on): the API answers 503 meanwhile, the session completes, no record is lost', async () => {
    const redis: TestRedis = await startRedis({ appendonly: true });
    cleanups.push(() => redis.stop());
    const sys = await startFaultSystem({ redisUrl: redis.url });
    cleanups.push(() => sys.close());
    const call = bos(sys.bosUrl);
    await waitDiscovered(call, sys.room);
    const nodes = x86ComputeNodes(sys.room);
    const session = await startSession(call, bootTemplate());
    await until('the first power-on', async () => sys.room.transitions.size > 0, 20_000, 10);
    await redis.kill();
    const during = await call('GET', '/components');
    expect(during.status).toBe(503);
    expect(during.body.title).toBe('Unable to connect to the Redis database');
    await sleep(1500);
    await redis.restart();
    await waitComplete(call, session);
    const { stable } = await checkOutcome(sys, call, session, { nodes, services: ['redis', 'bos'], templates: ['faults'] });
    expect(stable.length).toBe(nodes.length);
    for (const id of nodes) expect(sys.room.node(id)!.booted).toBe(true);
  });

  it('the operators process SIGKILLed right after a PCS call and started again: the boot completes within the retry budget', async () => {
    const redis = await startRedis({ appendonly: true });
    cleanups.push(() => redis.stop());
    const sys = await startFaultSystem({ redisUrl: redis.url, operators: [] });
    cleanups.push(() => sys.close());
    const call = bos(sys.bosUrl);
    const port = new URL(sys.url).host;
    const env = {
      ...process.env,
      BOS_URL: `${sys.bosUrl}/v2`,
      BOS_HSM_URL: gatewayUrls(sys.url).hsmUrl,
      BOS_PCS_URL: gatewayUrls(sys.url).pcsUrl,
      BOS_BSS_URL: gatewayUrls(sys.url).bssUrl,
      BOS_CFS_URL: gatewayUrls(sys.url).cfsUrl,
      BOS_IMS_URL: gatewayUrls(sys.url).imsUrl,
      BOS_TAPMS_URL: gatewayUrls(sys.url).tenantsUrl,
      S3_GATEWAY: port,
      S3_PROTOCOL: 'http',
      S3_ACCESS_KEY: 'access',
      S3_SECRET_KEY: 'secret',
      BOS_REDIS_URL: redis.url,
      BOS_HOST: '127.0.0.1',
      BOS_METRICS_PORT: '0',
      BOS_LEADER_ELECTION: 'false',
      BOS_OPERATOR_LOG_LEVEL: 'warning',
    };
    const spawnOperators = (): ChildProcess => {
      const p = spawn(process.execPath, [BOS_BIN, 'operators'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      p.stderr!.on('data', (d) => (err += String(d)));
      p.once('exit', (code, signal) => {
        if (code !== null && code !== 0) console.error(`bos operators exited ${code}: ${err.slice(-2000)}`);
        void signal;
      });
      cleanups.push(() => {
        if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
      });
      return p;
    };

    const first = spawnOperators();
    await waitDiscovered(call, sys.room);
    const nodes = x86ComputeNodes(sys.room);
    const session = await startSession(call, bootTemplate());
    await until('the first power-on', async () => sys.room.transitions.size > 0, 30_000, 5);
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    const afterKill = transitionsPerNode(sys.room);

    spawnOperators();
    await waitComplete(call, session);
    const { stable } = await checkOutcome(sys, call, session, { nodes, services: ['pcs', 'bos'], templates: ['faults'] });
    expect(stable.length).toBe(nodes.length);
    for (const id of nodes) expect(sys.room.node(id)!.booted).toBe(true);
    // The kill came after PCS was asked to power nodes on: those nodes were not powered on again.
    for (const [x, n] of afterKill) expect(transitionsPerNode(sys.room).get(x)).toBe(n);
  }, 60_000);

  it('the API restarted while the operators run: the operators carry on and the session completes', async () => {
    const redis = await startRedis({ appendonly: true });
    cleanups.push(() => redis.stop());
    // The system holds the simulator (and an API the nodes report to); the operators talk to a
    // separate API process-equivalent on the same Redis, which is restarted.
    const sys = await startFaultSystem({ redisUrl: redis.url, operators: [] });
    cleanups.push(() => sys.close());
    const { RedisStore } = await import('../../src/server/store/redis/index.js');
    const apiStore = await RedisStore.connect({ url: redis.url });
    cleanups.push(() => apiStore.close());
    const appOpts = {
      store: apiStore,
      tenants: sys.services.tenants,
      s3: sys.services.s3,
      ims: sys.services.ims,
      logger: false as const,
      host: '127.0.0.1',
    };
    let api: RunningServer = await startServer(appOpts);
    const port = Number(new URL(api.url).port);
    cleanups.push(() => api.close());
    let ops: RunningOperators | undefined;
    const services = createServices({
      ...gatewayUrls(sys.url),
      bosUrl: `${api.url}/v2`,
      bootArtifacts: storeBootArtifacts(apiStore),
      options: () => ops?.options() ?? { ...OPTION_DEFAULTS, ...FAST_OPTIONS },
      retry: { backoffFactorMs: 50, maxBackoffMs: 500 },
    });
    cleanups.push(() => services.close());
    ops = startOperators({ services, logger: pino({ level: 'silent' }), minIntervalMs: 100 });
    cleanups.push(() => ops!.stop());
    sys.room.bosUrl = `${api.url}/v2`;

    const call = bos(sys.bosUrl);
    await waitDiscovered(call, sys.room);
    const nodes = x86ComputeNodes(sys.room);
    const session = await startSession(call, bootTemplate());
    await until('the session to be set up', async () => (await call('GET', `/sessions/${session}`)).body.components, 20_000, 20);
    await api.close();
    await sleep(1500);
    api = await startServer({ ...appOpts, port });
    await waitComplete(call, session);
    const { stable } = await checkOutcome(sys, call, session, { nodes, services: ['bos'], templates: ['faults'] });
    expect(stable.length).toBe(nodes.length);
  });

  it('two operator sets at once without leader election: every session completes; no node gets more than one power call per set per pass', async () => {
    const sys = await startFaultSystem();
    cleanups.push(() => sys.close());
    const second = startOperators({ services: sys.services, logger: pino({ level: 'silent' }), minIntervalMs: 100 });
    cleanups.push(() => second.stop());
    const call = bos(sys.bosUrl);
    await waitDiscovered(call, sys.room);
    const nodes = x86ComputeNodes(sys.room);
    for (let round = 1; round <= 3; round++) {
      const since = new Set(sys.room.transitions.keys());
      const session = await startSession(call, bootTemplate(), round === 2 ? 'reboot' : 'boot', `two-${round}`);
      // A round takes about a second: a stuck one fails with what it waits for, inside the test's time.
      await waitComplete(call, session, 25_000);
      // Each set may act on a node in the same pass (both read it before either wrote back): the
      // per-phase bound is two calls, not the single-set retry limit.
      const { stable } = await checkOutcome(sys, call, session, { nodes, services: ['pcs'], retryLimit: 2, since });
      expect(stable.length).toBe(nodes.length);
    }
    // One set makes exactly 2 power-ons and 1 power-off per node over boot, reboot, boot (already
    // booted: nothing). Two sets make at most twice that: the duplicates come only from both sets
    // acting in the same pass, never from a storm.
    const on = transitionsPerNode(sys.room, ['On']);
    const off = transitionsPerNode(sys.room, ['Soft-Off', 'Off', 'Force-Off']);
    for (const x of nodes) {
      expect(on.get(x), `power-ons of ${x}`).toBeGreaterThanOrEqual(2);
      expect(on.get(x), `power-ons of ${x}`).toBeLessThanOrEqual(4);
      expect(off.get(x), `power-offs of ${x}`).toBeGreaterThanOrEqual(1);
      expect(off.get(x), `power-offs of ${x}`).toBeLessThanOrEqual(2);
    }
  }, 90_000);
});
