/**
 * The API under sustained concurrent load on loopback (`npm run bench -- load [seconds] [--redis=URL]`):
 * 10,000 booted-node components, then autocannon drives, each for a bounded time,
 *   1. bulk component PATCHes as the operators send them (list form, 1,000 entries of error,
 *      last_action, event_stats and status each, rotating over the machine),
 *   2. node state reports (single-component PATCH with `actual_state.bss_token`) rotating over all
 *      10,000 nodes, many connections as a boot storm would open,
 *   3. both at once.
 * The API runs in a child process (this file with `--serve`) so the load generator does not share
 * its event loop. Any error, timeout or non-2xx answer fails the run. Writes the table into
 * bench/RESULTS.md under `## Load` (other sections are left alone).
 *
 * With `--replicas`, API replicas on one throw-away redis-server instead (`## Load on Redis, one and
 * two replicas`): node state reports through one replica, then the same connections spread over
 * two replicas, then the deployment's mix (the operators' bulk PATCHes through one replica while
 * the nodes report through the other).
 */
import type { Store } from '../src/server/store/store.js';
import { writeResultsSection } from './scale-common.js';
import { spawn, execSync, type ChildProcess } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const NODES = 10_000;
const BATCH = 1_000;

function xname(i: number): string {
  const cab = 1000 + Math.floor(i / 256);
  const r = i % 256;
  return `x${cab}c${Math.floor(r / 32)}s${Math.floor((r % 32) / 4)}b${Math.floor((r % 4) / 2)}n${r % 2}`;
}
const token = (i: number) => `5c1e0a52-0000-4000-8000-${String(i).padStart(12, '0')}`;
const KERNEL = 's3://boot-images/e06530f1-fde2-4ca5-9148-7e84f4857d17/kernel';
const INITRD = 's3://boot-images/e06530f1-fde2-4ca5-9148-7e84f4857d17/initrd';
const PARAMS =
  'console=ttyS0,115200 bad_page=panic crashkernel=512M hugepagelist=2m-2g intel_iommu=off intel_pstate=disable iommu.passthrough=on ' +
  'numa_interleave_omit=headless oops=panic pageblock_order=14 rd.neednet=1 rd.retry=10 rd.shell ip=nmn0:dhcp quiet ' +
  'root=sbps-s3:s3://boot-images/e06530f1-fde2-4ca5-9148-7e84f4857d17/rootfs:154dcf30f691ae4c3af9f2a15dc2dc4f:sbps:v1:iqn.2023-06.csm.iscsi:_sbps-hsn._tcp.sys:300';

// ---------------------------------------------------------------- the server (child process)

async function serve(redisUrl?: string, populate = true): Promise<void> {
  const { pino } = await import('pino');
  const { buildApp } = await import('../src/server/app.js');
  const { MemoryStore } = await import('../src/server/store/memory.js');
  const store = redisUrl ? await (await import('../src/server/store/redis/index.js')).RedisStore.connect({ url: redisUrl }) : new MemoryStore();
  const { OPTION_DEFAULTS } = await import('../src/common/options.js');
  if (populate) await populateStore(store, OPTION_DEFAULTS);
  const app = await buildApp({ store, logger: pino({ level: 'error' }) });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  process.stdout.write(`LISTENING http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}\n`);
  process.on('SIGTERM', () => void app.close().then(() => store.close()).then(() => process.exit(0)));
}

async function populateStore(store: Store, defaults: object): Promise<void> {
  await store.putOptions({ ...defaults, logging_level: 'ERROR' });
  const ts = '2026-11-23T00:00:00';
  const artifacts = { kernel: KERNEL, kernel_parameters: PARAMS, initrd: INITRD };
  const records = [];
  for (let i = 0; i < NODES; i++) {
    await store.bootArtifacts.put(token(i), { ...artifacts, timestamp: ts } as never);
    records.push({
      id: xname(i),
      actual_state: { boot_artifacts: artifacts, bss_token: token(i), last_updated: ts },
      desired_state: { boot_artifacts: artifacts, configuration: 'compute-config', bss_token: token(i), last_updated: ts },
      staged_state: { boot_artifacts: { kernel: '', kernel_parameters: '', initrd: '' }, configuration: '', session: '', last_updated: ts },
      last_action: { action: 'powering_on', failed: false, last_updated: ts },
      event_stats: { power_on_attempts: 0, power_off_graceful_attempts: 0, power_off_forceful_attempts: 0 },
      status: { phase: '', status_override: '' },
      enabled: true,
      error: '',
      session: 'load-session',
      retry_policy: 3,
    });
  }
  for (let i = 0; i < records.length; i += 2000) await store.components.putMany(records.slice(i, i + 2000) as never);
}

// ---------------------------------------------------------------- the load (parent)

interface Row {
  scenario: string;
  connections: number;
  seconds: number;
  requests: number;
  rps: number;
  p50: number;
  p99: number;
  max: number;
  errors: number;
  non2xx: number;
}

function bulkBodies(): string[] {
  const bodies: string[] = [];
  for (let start = 0; start < NODES; start += BATCH) {
    const items = [];
    for (let i = start; i < Math.min(NODES, start + BATCH); i++) {
      items.push({
        id: xname(i),
        error: '',
        last_action: { action: 'powering_on', failed: false },
        event_stats: { power_on_attempts: 1 },
        status: { status_override: '' },
      });
    }
    bodies.push(JSON.stringify(items));
  }
  return bodies;
}

function run(url: string, scenario: string, opts: { connections: number; seconds: number; kind: 'bulk' | 'report' }): Promise<Row> {
  const bodies = opts.kind === 'bulk' ? bulkBodies() : [];
  let next = 0;
  return new Promise((resolveRun, reject) => {
    const instance = autocannon(
      {
        url,
        connections: opts.connections,
        duration: opts.seconds,
        timeout: 10,
        requests: [
          {
            method: 'PATCH',
            headers: { 'content-type': 'application/json' },
            setupRequest: (req) => {
              const i = next++;
              if (opts.kind === 'bulk') return { ...req, path: '/v2/components', body: bodies[i % bodies.length]! };
              const n = i % NODES;
              return { ...req, path: `/v2/components/${xname(n)}`, body: JSON.stringify({ actual_state: { bss_token: token(n) } }) };
            },
          },
        ],
      },
      (err, r) => {
        if (err) return reject(err);
        resolveRun({
          scenario,
          connections: opts.connections,
          seconds: opts.seconds,
          requests: r.requests.total,
          rps: r.requests.average,
          p50: r.latency.p50,
          p99: r.latency.p99,
          max: r.latency.max,
          errors: r.errors + r.timeouts,
          non2xx: r.non2xx,
        });
      },
    );
    void instance;
  });
}


/** An API child process (this file with `--serve`); resolves with it and its URL once it listens. */
async function startApi(args: string[]): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--serve', ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolveUrl, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += String(d);
      const m = /LISTENING (\S+)/.exec(out);
      if (m) resolveUrl(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`the API process exited (${code}) before listening`)));
  });
  return { child, url };
}

function commitOf(): string {
  try {
    return execSync('git rev-parse --short HEAD', { cwd: root }).toString().trim();
  } catch {
    return 'unknown'; // not a git checkout
  }
}

function tableOf(rows: readonly Row[]): string[] {
  return [
    '| scenario | connections | requests | req/s | p50 ms | p99 ms | max ms | errors | non-2xx |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.scenario} | ${r.connections} | ${r.requests} | ${r.rps.toFixed(1)} | ${r.p50} | ${r.p99} | ${r.max} | ${r.errors} | ${r.non2xx} |`),
  ];
}

/** Two API replicas on one redis-server: state reports through one, through both, and the deployment's mix. */
async function replicas(seconds: number): Promise<void> {
  const { startRedis } = await import('../test/helpers/redis.js');
  const redis = await startRedis();
  const apis: ChildProcess[] = [];
  const rows: Row[] = [];
  try {
    const a = await startApi([`--redis=${redis.url}`]);
    apis.push(a.child);
    const b = await startApi([`--redis=${redis.url}`, '--no-populate']);
    apis.push(b.child);
    console.log(`replicas ${a.url} and ${b.url} on ${redis.url} with ${NODES} components; ${seconds} s per scenario`);
    await run(a.url, 'warm-up', { connections: 4, seconds: 2, kind: 'report' });
    await run(b.url, 'warm-up', { connections: 4, seconds: 2, kind: 'report' });
    rows.push(await run(a.url, 'state reports through one replica', { connections: 64, seconds, kind: 'report' }));
    const both = await Promise.all([
      run(a.url, 'state reports through two replicas: replica A', { connections: 32, seconds, kind: 'report' }),
      run(b.url, 'state reports through two replicas: replica B', { connections: 32, seconds, kind: 'report' }),
    ]);
    rows.push(...both, sum('state reports through two replicas: both', both));
    const [bulk, reports] = await Promise.all([
      run(a.url, `mixed: bulk PATCH (${BATCH} per request) through replica A`, { connections: 2, seconds, kind: 'bulk' }),
      run(b.url, 'mixed: state reports through replica B', { connections: 32, seconds, kind: 'report' }),
    ]);
    rows.push(bulk, reports);
  } finally {
    for (const c of apis) c.kill('SIGTERM');
    await redis.stop();
  }
  for (const r of rows) console.log(JSON.stringify(r));
  const failed = rows.filter((r) => r.errors > 0 || r.non2xx > 0);
  const ratio = rows[3]!.rps / rows[0]!.rps;
  const cpu = cpus()[0]?.model.replace(/\s+/g, ' ').trim() ?? 'unknown CPU';
  writeResultsSection(
    'Load on Redis, one and two replicas',
    [
      '## Load on Redis, one and two replicas',
      '',
      'API replicas (each a process of its own, `bos serve`-like) on one redis-server, driven by autocannon',
      'from another process (`npm run bench -- load [seconds] --replicas`): the records and requests of',
      '`## Load`. Every state report is an atomic read-change-write in Redis (WATCH/MULTI/EXEC, batched per',
      'replica), so the rows measure what replicas sharing a database pay for never losing a write. On a',
      '2-core machine the two replicas, redis-server and the load generator share the same two cores: a',
      'second replica adds no CPU here; the ratio below says what writing through two replicas at once',
      'costs against one (each replica batches only its own reports, and conflicts are retried).',
      '',
      `- machine: ${cpu}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${process.platform}`,
      `- date: ${new Date().toISOString().slice(0, 10)}, commit ${commitOf()}, ${seconds} s per scenario after a warm-up`,
      '',
      ...tableOf(rows),
      '',
      `Two replicas against one: ${ratio.toFixed(2)} × the state reports per second, in the same run.`,
      failed.length === 0 ? 'No errors, timeouts or non-2xx answers in any scenario.' : `FAILED: ${failed.map((r) => r.scenario).join('; ')} had errors or non-2xx answers.`,
      '',
    ].join('\n'),
  );
  if (failed.length > 0) process.exit(1);
}

function sum(scenario: string, rows: readonly Row[]): Row {
  return {
    scenario,
    connections: rows.reduce((n, r) => n + r.connections, 0),
    seconds: rows[0]!.seconds,
    requests: rows.reduce((n, r) => n + r.requests, 0),
    rps: rows.reduce((n, r) => n + r.rps, 0),
    p50: Math.max(...rows.map((r) => r.p50)),
    p99: Math.max(...rows.map((r) => r.p99)),
    max: Math.max(...rows.map((r) => r.max)),
    errors: rows.reduce((n, r) => n + r.errors, 0),
    non2xx: rows.reduce((n, r) => n + r.non2xx, 0),
  };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const redisArg = args.find((a) => a.startsWith('--redis='));
  if (args.includes('--serve')) return serve(redisArg?.slice('--redis='.length), !args.includes('--no-populate'));
  const seconds = Number(args.find((a) => /^\d+$/.test(a)) ?? 20);
  if (args.includes('--replicas')) return replicas(seconds);

  const { child, url } = await startApi(redisArg ? [redisArg] : []);
  console.log(`API with ${NODES} components at ${url}${redisArg ? ' (Redis store)' : ' (memory store)'}; ${seconds} s per scenario`);
  const rows: Row[] = [];
  try {
    // Warm-up: a short burst of each kind.
    await run(url, 'warm-up', { connections: 4, seconds: 2, kind: 'report' });
    await run(url, 'warm-up', { connections: 2, seconds: 2, kind: 'bulk' });
    rows.push(await run(url, `bulk PATCH, ${BATCH} components per request (operators)`, { connections: 4, seconds, kind: 'bulk' }));
    rows.push(await run(url, 'state report PATCH, one component per request (nodes)', { connections: 64, seconds, kind: 'report' }));
    const [bulk, reports] = await Promise.all([
      run(url, `mixed: bulk PATCH (${BATCH} per request)`, { connections: 2, seconds, kind: 'bulk' }),
      run(url, 'mixed: state report PATCH', { connections: 32, seconds, kind: 'report' }),
    ]);
    rows.push(bulk, reports);
  } finally {
    child.kill('SIGTERM');
  }
  for (const r of rows) console.log(JSON.stringify(r));
  const failed = rows.filter((r) => r.errors > 0 || r.non2xx > 0);

  const commit = commitOf();
  const cpu = cpus()[0]?.model.replace(/\s+/g, ' ').trim() ?? 'unknown CPU';
  const section = [
    '## Load',
    '',
    `The API alone (${redisArg ? 'Redis' : 'memory'} store, one Node process) under sustained concurrent load on loopback,`,
    'driven by autocannon from another process (`npm run bench -- load [seconds]`): 10,000 components',
    'populated like booted nodes; the bulk PATCH is the list form the operators send (1,000 entries of',
    'error, last_action, event_stats and status, rotating over the machine); the state report is the',
    "node reporter's single-component PATCH with `actual_state.bss_token` (resolved to boot artifacts",
    'through the boot-artifact records), rotating over all 10,000 nodes. Throughput is requests per',
    'second (for the bulk PATCH, ×1,000 components); latencies are those autocannon measured. Any error,',
    'timeout or non-2xx answer fails the run. The 2-core machine was shared with other work.',
    '',
    `- machine: ${cpu}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${process.platform}`,
    `- date: ${new Date().toISOString().slice(0, 10)}, commit ${commit}, ${seconds} s per scenario after a warm-up`,
    '',
    ...tableOf(rows),
    '',
    failed.length === 0 ? 'No errors, timeouts or non-2xx answers in any scenario.' : `FAILED: ${failed.map((r) => r.scenario).join('; ')} had errors or non-2xx answers.`,
    '',
  ].join('\n');
  writeResultsSection('Load', section);
  if (failed.length > 0) process.exit(1);
}

await main();
