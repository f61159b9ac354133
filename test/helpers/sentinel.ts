import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './net.js';

/**
 * A real Redis replica set watched by Redis Sentinels, for tests: one primary and `replicas` replicas
 * (append-only files on), and three sentinels with quorum 2 that call the primary down after
 * `downAfterMs` without an answer. Everything on 127.0.0.1, on free ports, data in a temp dir.
 */
export interface TestSentinels {
  /** `redis+sentinel://127.0.0.1:<p1>,127.0.0.1:<p2>,127.0.0.1:<p3>/<name>` */
  url: string;
  name: string;
  /** Data node ports; index 0 is the first primary. */
  ports: number[];
  /** The port of the primary the sentinels name now. */
  primaryPort(): Promise<number>;
  /** SIGKILL the data node on `port`. */
  kill(port: number): Promise<void>;
  /** SIGSTOP / SIGCONT the node on `port` (a replica that stops acknowledging). */
  pause(port: number): void;
  resume(port: number): void;
  /** Resolves once the sentinels name a primary other than `port` and it answers as a primary with `replicas` replicas in sync. */
  waitFailover(fromPort: number, replicas: number, ms?: number): Promise<number>;
  stop(): Promise<void>;
}

function binary(name: string): boolean {
  const r = spawnSync(name, ['--version'], { stdio: 'ignore' });
  return !r.error && r.status === 0;
}

/** How to start a sentinel here: Debian's redis-sentinel, else redis-server in sentinel mode (the same program). */
function sentinelCommand(conf: string): [string, string[]] {
  return binary('redis-sentinel') ? ['redis-sentinel', [conf]] : ['redis-server', [conf, '--sentinel']];
}

async function answers(port: number): Promise<boolean> {
  const r = new Redis({ host: '127.0.0.1', port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, connectTimeout: 500 });
  r.on('error', () => undefined);
  try {
    await r.connect();
    return (await r.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

async function until(what: string, fn: () => Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startSentinels(opts: { replicas?: number; downAfterMs?: number } = {}): Promise<TestSentinels> {
  if (!binary('redis-server')) {
    throw new Error('redis-server is not on PATH: the Sentinel tests need it. Run `bash scripts/setup.sh` (installs it), then run the tests again.');
  }
  const name = 'bos-test';
  const dir = mkdtempSync(join(tmpdir(), 'bos-sentinel-'));
  const procs = new Map<number, ChildProcess>();
  const all: ChildProcess[] = [];
  const exitHook = () => all.forEach((p) => p.kill('SIGKILL'));
  process.on('exit', exitHook);
  const start = (port: number, cmd: string, args: string[]) => {
    const p = spawn(cmd, args, { stdio: 'ignore' });
    procs.set(port, p);
    all.push(p);
    return p;
  };
  const ports = await Promise.all(Array.from({ length: 1 + (opts.replicas ?? 2) }, () => freePort()));
  const dataArgs = (port: number) => ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--dir', join(dir, `d${port}`),
    '--daemonize', 'no', '--logfile', '', '--loglevel', 'warning', '--replica-announce-ip', '127.0.0.1',
    // A replica's first full copy starts at once instead of after the default 5 s wait for others to join.
    '--repl-diskless-sync-delay', '0'];
  for (const [i, port] of ports.entries()) {
    spawnSync('mkdir', ['-p', join(dir, `d${port}`)]);
    start(port, 'redis-server', [...dataArgs(port), ...(i > 0 ? ['--replicaof', '127.0.0.1', String(ports[0])] : [])]);
  }
  for (const port of ports) await until(`redis-server on ${port}`, () => answers(port), 10_000);
  const sentinelPorts = await Promise.all([0, 1, 2].map(() => freePort()));
  for (const sp of sentinelPorts) {
    const conf = join(dir, `sentinel-${sp}.conf`);
    writeFileSync(
      conf,
      [
        `port ${sp}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        'sentinel announce-ip 127.0.0.1',
        `sentinel monitor ${name} 127.0.0.1 ${ports[0]} 2`,
        `sentinel down-after-milliseconds ${name} ${opts.downAfterMs ?? 1000}`,
        `sentinel failover-timeout ${name} 10000`,
        `sentinel parallel-syncs ${name} 1`,
        '',
      ].join('\n'),
    );
    const [cmd, args] = sentinelCommand(conf);
    start(sp, cmd, args);
  }
  for (const sp of sentinelPorts) await until(`sentinel on ${sp}`, () => answers(sp), 10_000);

  const askSentinel = async (): Promise<number | undefined> => {
    for (const sp of sentinelPorts) {
      const r = new Redis({ host: '127.0.0.1', port: sp, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
      r.on('error', () => undefined);
      try {
        await r.connect();
        const addr = (await r.call('SENTINEL', 'get-master-addr-by-name', name)) as string[] | null;
        if (addr) return Number(addr[1]);
      } catch {
        // try the next one
      } finally {
        r.disconnect();
      }
    }
    return undefined;
  };
  const primaryWith = async (port: number, replicas: number): Promise<boolean> => {
    const r = new Redis({ host: '127.0.0.1', port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    r.on('error', () => undefined);
    try {
      await r.connect();
      const info = await r.info('replication');
      return /role:master/.test(info) && (info.match(/state=online/g) ?? []).length >= replicas;
    } catch {
      return false;
    } finally {
      r.disconnect();
    }
  };
  // Every sentinel knows the others and the replicas before a test relies on a failover.
  await until('the sentinels to know each other and the replicas', async () => {
    for (const sp of sentinelPorts) {
      const r = new Redis({ host: '127.0.0.1', port: sp, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
      r.on('error', () => undefined);
      try {
        await r.connect();
        const m = (await r.call('SENTINEL', 'master', name)) as string[];
        const field = (k: string) => Number(m[m.indexOf(k) + 1]);
        if (field('num-other-sentinels') < 2 || field('num-slaves') < ports.length - 1) return false;
      } catch {
        return false;
      } finally {
        r.disconnect();
      }
    }
    return primaryWith(ports[0]!, ports.length - 1);
  }, 30_000);

  return {
    url: `redis+sentinel://${sentinelPorts.map((p) => `127.0.0.1:${p}`).join(',')}/${name}`,
    name,
    ports,
    async primaryPort() {
      const p = await askSentinel();
      if (p === undefined) throw new Error('no sentinel names a primary');
      return p;
    },
    async kill(port) {
      const p = procs.get(port);
      if (!p || p.exitCode !== null || p.signalCode !== null) return;
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGKILL');
      await exited;
    },
    pause(port) {
      procs.get(port)?.kill('SIGSTOP');
    },
    resume(port) {
      procs.get(port)?.kill('SIGCONT');
    },
    async waitFailover(fromPort, replicas, ms = 30_000) {
      let now = fromPort;
      await until(`a new primary with ${replicas} replica(s)`, async () => {
        now = (await askSentinel()) ?? fromPort;
        return now !== fromPort && (await primaryWith(now, replicas));
      }, ms);
      return now;
    },
    async stop() {
      process.off('exit', exitHook);
      await Promise.all(
        all.map(async (p) => {
          if (p.exitCode !== null || p.signalCode !== null) return;
          const exited = new Promise((r) => p.once('exit', r));
          p.kill('SIGKILL');
          await exited;
        }),
      );
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
