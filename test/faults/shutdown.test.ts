/**
 * Stopping promptly during outages: `bos operators` exits within 10 s of SIGTERM while BOS refuses
 * connections, and while PCS and HSM accept connections and never answer (its retries for minutes are
 * cut short), releasing its leader Lease; the whole system (`bos up`) closes as promptly while its HSM
 * fails; and the CLI gives up on a silent BOS after --timeout.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startServer } from '../../src/server/app.js';
import { MemoryStore } from '../../src/server/store/memory.js';
import { refusedService, silentService, type DeadEnd } from '../helpers/dead-ends.js';
import { startFakeLeaseServer } from '../leader/fake-lease-server.js';
import { gatewayUrls } from '../../src/clients/index.js';
import { startRedis } from '../helpers/redis.js';
import { spawnBos as spawnOne, type BosProcess } from '../helpers/bos-process.js';
import { bootTemplate, bos, checkOutcome, startFaultSystem, startSession, until, waitComplete, waitDiscovered, x86ComputeNodes } from './harness.js';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
}, 30_000);

function spawnBos(args: string[], env: Record<string, string>): BosProcess {
  const p = spawnOne(args, env);
  cleanups.push(() => p.kill());
  return p;
}

/** Environment of `bos operators` with every service at `urls` (BOS at `bos`). */
function operatorsEnv(bosUrl: string, other: string): Record<string, string> {
  return {
    BOS_URL: `${bosUrl}/v2`,
    BOS_HSM_URL: other,
    BOS_PCS_URL: other,
    BOS_BSS_URL: other,
    BOS_CFS_URL: other,
    BOS_IMS_URL: other,
    BOS_TAPMS_URL: other,
    BOS_HOST: '127.0.0.1',
    BOS_METRICS_PORT: '0',
    BOS_LEADER_ELECTION: 'false',
    BOS_OPERATOR_LOG_LEVEL: 'info',
  };
}

describe('bos operators stops within 10 s of SIGTERM during an outage', () => {
  it('with BOS refusing connections (every pass retrying the options read)', async () => {
    const dead = await refusedService();
    const { proc, output, exited } = spawnBos(['operators'], operatorsEnv(dead.url, dead.url));
    // Long enough for every operator to be inside a pass, between retries of its first BOS call.
    await until('the operators to start', async () => /operators running/.test(output()), 30_000, 100);
    await new Promise((r) => setTimeout(r, 2_000));
    const sent = Date.now();
    proc.kill('SIGTERM');
    const { code, at } = await exited;
    expect(at - sent, output().slice(-2000)).toBeLessThan(10_000);
    expect(code).toBe(0);
  }, 60_000);

  it('with PCS and HSM silent mid-pass, releasing its leader Lease', async () => {
    // BOS answers (components to decide about); every other service accepts and never answers.
    const api = await startServer({ store: new MemoryStore(), logger: false });
    cleanups.push(() => api.close());
    const ids = Array.from({ length: 20 }, (_, i) => `x3000c0s${i}b0n0`);
    await fetch(`${api.url}/v2/components`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(ids.map((id) => ({ id, enabled: true, desired_state: { boot_artifacts: { kernel: 'k', kernel_parameters: 'p', initrd: 'i' } } }))),
    });
    const silent: DeadEnd = await silentService();
    cleanups.push(() => silent.close());
    const leases = await startFakeLeaseServer();
    cleanups.push(() => leases.close());
    const dir = mkdtempSync(join(tmpdir(), 'bos-kube-'));
    const kubeconfig = join(dir, 'config');
    writeFileSync(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        `clusters: [{name: fake, cluster: {server: "${leases.url}", insecure-skip-tls-verify: true}}]`,
        'users: [{name: op1, user: {token: op1}}]',
        'contexts: [{name: fake, context: {cluster: fake, user: op1}}]',
        'current-context: fake',
        '',
      ].join('\n'),
    );
    const { proc, output, exited } = spawnBos(['operators'], {
      ...operatorsEnv(api.url, silent.url),
      BOS_LEADER_ELECTION: 'true',
      BOS_LEASE_NAMESPACE: 'services',
      BOS_LEASE_IDENTITY: 'op1',
      KUBECONFIG: kubeconfig,
    });
    await until('the lease to be held', async () => leases.store.get('services', 'cray-bos-operators')?.spec.holderIdentity === 'op1', 30_000, 100).catch((e: Error) => {
      throw new Error(`${e.message}: ${output().slice(-2000)}`);
    });
    // The status and discovery passes are now waiting on PCS and HSM (read timeout 20 s, retried).
    await new Promise((r) => setTimeout(r, 3_000));
    const sent = Date.now();
    proc.kill('SIGTERM');
    const { code, at } = await exited;
    expect(at - sent, output().slice(-2000)).toBeLessThan(10_000);
    expect(code).toBe(0);
    expect(leases.store.get('services', 'cray-bos-operators')?.spec.holderIdentity).toBe('');
  }, 60_000);
});

describe('a pass cut short by SIGTERM leaves nothing the next process cannot finish', () => {
  it('operators stopped mid-boot during a PCS outage; a new process boots every node once PCS is back', async () => {
    const redis = await startRedis({ appendonly: true });
    cleanups.push(() => redis.stop());
    const sys = await startFaultSystem({ redisUrl: redis.url, operators: [] });
    cleanups.push(() => sys.close());
    const call = bos(sys.bosUrl);
    const urls = gatewayUrls(sys.url);
    const env = {
      ...operatorsEnv(sys.bosUrl, urls.hsmUrl),
      BOS_PCS_URL: urls.pcsUrl,
      BOS_BSS_URL: urls.bssUrl,
      BOS_CFS_URL: urls.cfsUrl,
      BOS_IMS_URL: urls.imsUrl,
      BOS_TAPMS_URL: urls.tenantsUrl,
      S3_GATEWAY: new URL(sys.url).host,
      S3_PROTOCOL: 'http',
      S3_ACCESS_KEY: 'access',
      S3_SECRET_KEY: 'secret',
      BOS_REDIS_URL: redis.url,
    };
    const first = spawnBos(['operators'], env);
    await waitDiscovered(call, sys.room);
    const nodes = x86ComputeNodes(sys.room);
    sys.room.knobs.failureRate.pcs = 1;
    const session = await startSession(call, bootTemplate());
    // Session setup gives every node its desired state; the status passes then fail on PCS and retry.
    await until('session setup', async () => {
      const r = await call('GET', `/components?session=${session}`);
      return r.body.length === nodes.length;
    }, 30_000, 100);
    await new Promise((r) => setTimeout(r, 2_000));
    const sent = Date.now();
    first.proc.kill('SIGTERM');
    const { at } = await first.exited;
    expect(at - sent, first.output().slice(-2000)).toBeLessThan(10_000);
    sys.room.knobs.failureRate.pcs = 0;
    spawnBos(['operators'], env);
    await waitComplete(call, session, 90_000);
    const { stable } = await checkOutcome(sys, call, session, { nodes, services: ['pcs'], templates: ['faults'] });
    expect(stable.length).toBe(nodes.length);
  }, 150_000);
});

describe('the whole system closes within 10 s while a service fails', () => {
  it('bos up with HSM answering 500 to everything while a session is set up', async () => {
    const sys = await startFaultSystem();
    let closed = false;
    cleanups.push(() => (closed ? undefined : sys.close()));
    const call = bos(sys.bosUrl);
    await waitDiscovered(call, sys.room);
    sys.room.knobs.failureRate.hsm = 1;
    await startSession(call, bootTemplate());
    // Session setup's HSM reads (GETs) are failing and being retried with back-off (1, 2, 4, 8 s ...).
    await new Promise((r) => setTimeout(r, 4_000));
    const t0 = Date.now();
    await sys.close();
    closed = true;
    expect(Date.now() - t0).toBeLessThan(10_000);
  }, 60_000);
});

describe('the CLI gives up on a silent BOS', () => {
  it('after --timeout seconds, with a message saying what to check', async () => {
    const silent = await silentService();
    cleanups.push(() => silent.close());
    const t0 = Date.now();
    const { output, exited } = spawnBos(['components', 'list', '--url', silent.url, '--timeout', '1'], {});
    const { code } = await exited;
    expect(code).toBe(1);
    expect(Date.now() - t0).toBeLessThan(8_000);
    expect(output()).toMatch(/bos: no answer from BOS at http:\/\/127\.0\.0\.1:\d+\/v2\/components within 1 s \(GET\); check that BOS is running there \(--url\), or allow more time with --timeout/);
  }, 30_000);
});
