import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { silentLogger } from '../../src/log.js';
import { redisConnection } from '../../src/cli/redis.js';
import { flagsFromCommander, startOperatorsProcess, type OperatorsProcess } from '../../src/cli/operators.js';
import { liveness } from '../../src/operators/health.js';
import { selectOperators, startOperators } from '../../src/operators/index.js';
import type { RunnerHealth } from '../../src/operators/runner.js';
import { comp, world } from './fakes.js';

const open: OperatorsProcess[] = [];
afterEach(async () => {
  while (open.length) await open.pop()!.close();
});

function health(extra: Partial<RunnerHealth>): RunnerHealth {
  return {
    operator: 'status',
    running: true,
    inPass: false,
    standby: false,
    passes: 1,
    failedPasses: 0,
    lastPassStartedAt: 0,
    lastPassEndedAt: 0,
    intervalMs: 15_000,
    ...extra,
  };
}

describe('liveness', () => {
  it('is ok while the heartbeat is fresh and every loop ticks', () => {
    expect(liveness([health({ lastPassEndedAt: 1000 })], 1000, 20_000).ok).toBe(true);
  });
  it('fails on a stale heartbeat, an ended loop, a stuck pass or an overdue loop', () => {
    expect(liveness([], 21_000, 0).problems[0]).toMatch(/heartbeat is 21s old/);
    expect(liveness([health({ running: false })], 0, 0).problems).toEqual(['operator status is not running']);
    expect(liveness([health({ inPass: true, lastPassStartedAt: 0 })], 0, 1801_000).problems[0]).toMatch(/in one pass for 1801s/);
    expect(liveness([health({ lastPassEndedAt: 0 })], 0, 15_000 + 30_001).problems[0]).toMatch(/overdue/);
    // a standby waiting for the lease is not overdue
    expect(liveness([health({ standby: true, lastPassEndedAt: 0 })], 0, 10_000_000).ok).toBe(true);
  });
});

describe('startOperators', () => {
  it('selects operators by name and rejects unknown ones', () => {
    expect(selectOperators('status, power-on')).toEqual(['power-on', 'status']);
    expect(selectOperators(undefined)).toHaveLength(11);
    expect(() => selectOperators(['status', 'nope'])).toThrow(/unknown operator\(s\): nope; valid: discovery, /);
  });

  it('runs the chosen loops on an injected clock; wakeAll and stop', async () => {
    const w = world();
    w.hsm.addNodes(['x1']);
    const running = startOperators({ services: w, clock: w.clock, only: ['discovery', 'status'], logger: silentLogger(), minIntervalMs: 10 });
    expect([...running.operators.keys()]).toEqual(['discovery', 'status']);
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(w.bos.components.has('x1')).toBe(true);
    expect(running.health().every((h) => h.passes === 1)).toBe(true);
    running.wakeAll();
    w.clock.advance(10);
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(running.health().every((h) => h.passes === 2)).toBe(true);
    await running.stop();
    expect(running.health().every((h) => !h.running)).toBe(true);
  });

  it('a standby does nothing until it leads', async () => {
    const w = world();
    w.hsm.addNodes(['x1']);
    let leader = false;
    let release: (() => void) | undefined;
    const gate = {
      isLeader: () => leader,
      waitForLeadership: (signal?: AbortSignal) =>
        new Promise<void>((r) => {
          release = r;
          signal?.addEventListener('abort', () => r(), { once: true });
        }),
    };
    const running = startOperators({ services: w, clock: w.clock, only: ['discovery'], logger: silentLogger(), leadership: gate });
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(running.health()[0]).toMatchObject({ standby: true, passes: 0 });
    expect(w.bos.components.size).toBe(0);
    leader = true;
    release!();
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(w.bos.components.has('x1')).toBe(true);
    await running.stop();
  });
});

describe('bos operators process', () => {
  it('reads flags through the settings table', () => {
    const c = loadConfig({}, flagsFromCommander({ bosUrl: 'http://127.0.0.1:1/v2', redis: 'redis://db:6379', only: 'status', leaderElect: 'false', metricsPort: '0' }));
    expect(c.bosUrl).toBe('http://127.0.0.1:1/v2');
    expect(c.redisUrl).toBe('redis://db:6379');
    expect(c.only).toEqual(['status']);
    expect(c.leaderElection).toBe(false);
    expect(c.metricsPort).toBe(0);
  });

  it('reads the Redis passwords from their files into the connection, shown nowhere, with the default Redis of the records', () => {
    const DEFAULT = 'redis://cray-bos-db:6379';
    expect(redisConnection({ redisUrl: '', redisPasswordFile: '', redisTls: false }, DEFAULT).target).toMatchObject({ host: 'cray-bos-db', port: 6379, tls: false, password: undefined });
    const files: Record<string, string> = { '/pw': 's3cret\n', '/spw': 'sentinel-pw\nignored' };
    const c = redisConnection({ redisUrl: 'redis://db:6380', redisPasswordFile: '/pw', redisTls: true, redisWaitReplicas: 1 }, DEFAULT, (p) => files[p]!);
    expect(c.target).toMatchObject({ host: 'db', port: 6380, tls: true, password: 's3cret', shown: 'rediss://db:6380' });
    expect(c.waitReplicas).toBe(1);
    const s = redisConnection({ redisUrl: 'redis+sentinel://s1,s2/bos', redisSentinelPasswordFile: '/spw' }, DEFAULT, (p) => files[p]!);
    expect(s.target).toMatchObject({ mode: 'sentinel', name: 'bos', sentinelPassword: 'sentinel-pw' });
    expect(() =>
      redisConnection({ redisUrl: '', redisPasswordFile: '/nope', redisTls: false }, DEFAULT, () => {
        throw Object.assign(new Error('x'), { code: 'ENOENT' });
      }),
    ).toThrow('cannot read the Redis password file /nope (ENOENT): check the path and its permissions');
  });

  it('serves /metrics, /healthz and /readyz', async () => {
    const w = world();
    w.bos.put(comp('x1'));
    w.pcs.power.set('x1', 'on');
    w.cfs.components.set('x1', { id: 'x1' });
    const config = loadConfig({}, { only: 'status', metricsPort: '0', leaderElection: 'false' });
    const proc = await startOperatorsProcess(config, { services: w, logger: silentLogger() });
    open.push(proc);
    const status = proc.operators.operators.get('status')!;
    await status.runOnce();
    proc.metrics.onRequest('hsm', 'post', '200', 0.02);

    const metrics = await fetch(`${proc.health.url}/metrics`);
    expect(metrics.status).toBe(200);
    const text = await metrics.text();
    expect(text).toContain('bos_operator_passes_total{operator="status",outcome="ok"}');
    expect(text).toContain('bos_components{status="power_off_pending",phase="powering_off",enabled="true"} 1');
    expect(text).toContain('bos_downstream_request_duration_seconds_count{service="hsm",method="POST",outcome="200"} 1');

    const healthz = await fetch(`${proc.health.url}/healthz`);
    expect(healthz.status).toBe(200);
    expect(((await healthz.json()) as { operators: unknown[] }).operators).toHaveLength(1);

    expect((await fetch(`${proc.health.url}/readyz`)).status).toBe(200);
    w.rec.fail('bos', 'getOptions', 'connect ECONNREFUSED 127.0.0.1:1');
    const notReady = await fetch(`${proc.health.url}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toEqual({ ok: false, problem: 'BOS is not reachable: bos: connect ECONNREFUSED 127.0.0.1:1' });

    expect((await fetch(`${proc.health.url}/nope`)).status).toBe(404);
  });
});
