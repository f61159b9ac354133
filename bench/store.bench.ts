/**
 * Store and API benchmark: 100,000 components populated like booted nodes, in the memory store and
 * in Redis, measured at the store and through the HTTP API:
 *
 *   - GET /v2/components (everything)
 *   - GET /v2/components?enabled=true&status=stable (a realistic mix: most nodes match)
 *   - PATCH /v2/components with 2,800 list items (what session setup sends for one batch)
 *
 * Prints a table and writes it into bench/RESULTS.md under `## Store and API` (other sections are
 * left alone). Options:
 *
 *   --components N   (default 100000)   --patch N (default 2800)   --reps N (default 5)
 *   --stores memory,redis               --no-write (print only)
 *   BENCH_REDIS_URL=redis://...  use that Redis (it is FLUSHED) instead of a throw-away redis-server
 */
import { arg, writeResultsSection } from './scale-common.js';
import { execSync, spawn, spawnSync } from 'node:child_process';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import Table from 'cli-table3';
import { Redis } from 'ioredis';
import type { Component } from '../src/common/types.js';
import { computeStatus } from '../src/common/status.js';
import { startServer } from '../src/server/app.js';
import { MemoryStore } from '../src/server/store/memory.js';
import { RedisStore } from '../src/server/store/redis/index.js';
import type { Store } from '../src/server/store/store.js';
import { startRedis, type TestRedis } from '../test/helpers/redis.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

const N = Number(arg('components', '100000'));
const PATCH_N = Number(arg('patch', '2800'));
const REPS = Math.max(1, Number(arg('reps', '5')));
const STORES = arg('stores', 'memory,redis').split(',');
const WRITE = !process.argv.includes('--no-write');

const TARGET_LIST_MS = 1500;
const TARGET_PATCH_MS = 250;

// ---------------------------------------------------------------------------------------------
// Data: xnames of a large machine (x1000c0s0b0n0 ...), every field set the way a booted node has it.

function xname(i: number): string {
  const cab = 1000 + Math.floor(i / 256);
  const r = i % 256;
  return `x${cab}c${r >> 5}s${(r >> 2) & 7}b${(r >> 1) & 1}n${r & 1}`;
}

/** Deterministic pseudo-random in [0, 1) from an integer. */
function rnd(i: number, salt: number): number {
  let x = Math.imul(i ^ Math.imul(salt + 1, 0x9e3779b9), 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return (x >>> 0) / 2 ** 32;
}

const IMAGE = '8f3a9b2c-6d41-4e7f-9a0b-1c2d3e4f5a6b';
const ETAG = 'b1946ac92492d2347c6235b4d2611184';
const KERNEL = `s3://boot-images/${IMAGE}/kernel`;
const INITRD = `s3://boot-images/${IMAGE}/initrd`;
/** The kernel parameters a node boots with: console, network, the root filesystem and its data. */
const PARAMS =
  `console=ttyS0,115200 ip=dhcp quiet spire_join_token=\${SPIRE_JOIN_TOKEN} ` +
  `root=sbps-s3:s3://boot-images/${IMAGE}/rootfs:${ETAG}-217:sbps:v1:iqn.2023-06.csm.iscsi:_sbps-hsn._tcp.example.com:300 ` +
  `nmd_data=url=s3://boot-images/${IMAGE}/rootfs,etag=${ETAG}-217 bos_session_id=`;

function component(i: number): Component {
  const id = xname(i);
  const session = `boot-compute-${(i % 4) + 1}`;
  const token = (rnd(i, 1) * 2 ** 52).toString(16).padStart(13, '0') + (rnd(i, 2) * 2 ** 52).toString(16).padStart(13, '0');
  const p = rnd(i, 3);
  // The mix: mostly stable; some booting, some powering off, some configuring; a few failed or held.
  const phase = p < 0.85 ? '' : p < 0.9 ? 'powering_on' : p < 0.93 ? 'powering_off' : 'configuring';
  const o = rnd(i, 4);
  const override = o < 0.02 ? 'failed' : o < 0.03 ? 'on_hold' : '';
  const action = phase === 'powering_on' ? 'powering_on' : phase === 'powering_off' ? 'powering_off_gracefully' : 'actual_state_cleanup';
  return {
    id,
    actual_state: {
      boot_artifacts: { kernel: KERNEL, kernel_parameters: PARAMS + session, initrd: INITRD, timestamp: '2026-11-20T08:14:03' },
      bss_token: token,
      last_updated: '2026-11-20T08:21:47',
    },
    desired_state: {
      boot_artifacts: { kernel: KERNEL, kernel_parameters: PARAMS + session, initrd: INITRD },
      configuration: 'compute-25.3.0',
      bss_token: token,
      last_updated: '2026-11-20T08:12:09',
    },
    staged_state: { configuration: '', boot_artifacts: { kernel: '', kernel_parameters: '', initrd: '' }, session: '', last_updated: '2026-11-19T17:02:55' },
    last_action: { action, failed: false, last_updated: '2026-11-20T08:14:03' },
    event_stats: { power_on_attempts: 1, power_off_graceful_attempts: phase === 'powering_off' ? 1 : 0, power_off_forceful_attempts: 0 },
    status: { phase, status_override: override },
    enabled: rnd(i, 5) < 0.95,
    error: override === 'failed' ? 'The retry limit has been hit for this component, but no services have reported specific errors' : '',
    session,
    retry_policy: 3,
  };
}

/** A session-setup patch for one component: new desired state, enabled, owned by the session. */
function setupPatch(id: string, n: number): Partial<Component> & { id: string } {
  return {
    id,
    desired_state: {
      boot_artifacts: { kernel: KERNEL, kernel_parameters: PARAMS + `bench-${n}`, initrd: INITRD },
      configuration: 'compute-25.3.1',
      bss_token: '',
    },
    staged_state: {},
    last_action: { action: 'session_setup', failed: false },
    enabled: true,
    error: '',
    session: `bench-${n}`,
    status: { phase: 'powering_on', status_override: '' },
  };
}

// ---------------------------------------------------------------------------------------------

interface Row {
  store: string;
  what: string;
  median: number;
  min: number;
  max: number;
  detail: string;
  /** Median CPU time of this Node process (all threads) per run: less sensitive to a busy machine. */
  cpu: number;
  target?: number;
}

async function timed<T>(reps: number, fn: (rep: number) => Promise<T>): Promise<{ times: number[]; cpu: number[]; last: T }> {
  await fn(-1); // warm-up, not counted
  const times: number[] = [];
  const cpu: number[] = [];
  let last!: T;
  for (let r = 0; r < reps; r++) {
    const c = process.cpuUsage();
    const t = performance.now();
    last = await fn(r);
    times.push(performance.now() - t);
    const u = process.cpuUsage(c);
    cpu.push((u.user + u.system) / 1000);
  }
  return { times, cpu, last };
}

function stats(times: number[]): { median: number; min: number; max: number } {
  const s = [...times].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)]!, min: s[0]!, max: s[s.length - 1]! };
}

/**
 * The HTTP client is another process, as it is in real use: `curl` when it is installed (time to
 * the last byte as curl reports it, body discarded), otherwise fetch() in a worker thread. Either
 * way the server's JavaScript thread does not also receive the response. Record counts are checked
 * once per operation afterwards, outside the timing.
 */
interface HttpResult {
  status: number;
  bytes: number;
  ms: number;
}
const hasCurl = spawnSync('curl', ['--version'], { stdio: 'ignore' }).status === 0;
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
parentPort.on('message', async ({ id, url, method, body }) => {
  try {
    const t = performance.now();
    const res = await fetch(url, { method, body, headers: body ? { 'content-type': 'application/json' } : undefined });
    const buf = Buffer.from(await res.arrayBuffer());
    parentPort.postMessage({ id, status: res.status, bytes: buf.length, ms: performance.now() - t });
  } catch (err) {
    parentPort.postMessage({ id, status: 0, bytes: 0, ms: 0 });
  }
});
`;
let worker: Worker | undefined;
let nextRequest = 0;
const clientName = hasCurl ? 'curl, another process' : 'fetch() in a worker thread';

function http(url: string, method = 'GET', body?: string): Promise<HttpResult> {
  if (hasCurl) {
    return new Promise((resolve, reject) => {
      const args = ['-s', '-o', '/dev/null', '-w', '%{http_code} %{size_download} %{time_total}', '-X', method, url];
      if (body !== undefined) args.push('-H', 'content-type: application/json', '--data-binary', '@-');
      const child = spawn('curl', args, { stdio: ['pipe', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d) => (out += d.toString()));
      child.on('error', reject);
      child.on('exit', () => {
        const [code, size, seconds] = out.trim().split(' ');
        resolve({ status: Number(code), bytes: Number(size), ms: Number(seconds) * 1000 });
      });
      child.stdin.end(body ?? '');
    });
  }
  worker ??= new Worker(WORKER_SOURCE, { eval: true });
  const w = worker;
  const id = nextRequest++;
  return new Promise((resolve) => {
    const onMessage = (m: HttpResult & { id: number }) => {
      if (m.id !== id) return;
      w.off('message', onMessage);
      resolve(m);
    };
    w.on('message', onMessage);
    w.postMessage({ id, url, method, body });
  });
}

/** Send once more, untimed, and count the records of the JSON array answered. */
async function countOf(url: string, method = 'GET', body?: string): Promise<number> {
  const res = await fetch(url, { method, body, headers: body ? { 'content-type': 'application/json' } : undefined });
  const v: unknown = await res.json();
  if (!Array.isArray(v)) throw new Error(`${method} ${url} answered ${res.status}: ${JSON.stringify(v).slice(0, 300)}`);
  return v.length;
}

/** Like timed(), with the time measured by the client (request sent → last byte received). */
async function timedHttp(reps: number, fn: (rep: number) => Promise<HttpResult>): Promise<{ times: number[]; cpu: number[]; last: HttpResult }> {
  await fn(-2);
  await fn(-1); // two warm-ups: the first PATCH also compiles the schema paths
  const times: number[] = [];
  const cpu: number[] = [];
  let last!: HttpResult;
  for (let r = 0; r < reps; r++) {
    const c = process.cpuUsage();
    last = await fn(r);
    const u = process.cpuUsage(c);
    if (last.status !== 200) throw new Error(`HTTP ${last.status} (expected 200); run the request by hand to see the problem`);
    times.push(last.ms);
    cpu.push((u.user + u.system) / 1000);
  }
  return { times, cpu, last };
}

async function benchStore(name: string, store: Store, rows: Row[]): Promise<void> {
  const t0 = performance.now();
  for (let i = 0; i < N; i += 5_000) {
    const chunk: Component[] = [];
    for (let j = i; j < Math.min(N, i + 5_000); j++) chunk.push(component(j));
    await store.components.putMany(chunk);
  }
  const fillMs = performance.now() - t0;
  const count = await store.components.count();
  if (count !== N) throw new Error(`${name}: expected ${N} components after filling, found ${count}`);
  const recordBytes = JSON.stringify(component(0)).length;
  console.log(`${name}: filled ${N} components (${recordBytes} bytes of JSON each) in ${fillMs.toFixed(0)} ms`);
  const add = (what: string, run: { times: number[]; cpu: number[] }, detail: string, target?: number) => {
    const s = stats(run.times);
    const cpu = stats(run.cpu).median;
    rows.push({ store: name, what, ...s, cpu, detail, target });
    console.log(`  ${what}: median ${s.median.toFixed(0)} ms (min ${s.min.toFixed(0)}, max ${s.max.toFixed(0)}, node cpu ${cpu.toFixed(0)} ms) ${detail}`);
  };
  const expectedStable = Array.from({ length: N }, (_, i) => component(i)).filter((c) => c.enabled === true && computeStatus(c) === 'stable').length;

  // --- store level
  {
    const run = await timed(REPS, () => store.components.list());
    if (run.last.length !== N) throw new Error(`${name}: list returned ${run.last.length}, expected ${N}`);
    add('store list() all', run, `${N} records`);
  }
  {
    const filter = (c: Component) => c.enabled === true && computeStatus(c) === 'stable';
    const run = await timed(REPS, () => store.components.list({ filter }));
    if (run.last.length !== expectedStable) throw new Error(`${name}: filtered list returned ${run.last.length}, expected ${expectedStable}`);
    add('store list() enabled+stable', run, `${run.last.length} matches`);
  }
  {
    const ids = Array.from({ length: PATCH_N }, (_, i) => xname(Math.floor((i * N) / PATCH_N)));
    add(`store getMany(${PATCH_N})`, await timed(REPS, () => store.components.getMany(ids)), '');
    const recs = ids.map((id, i) => ({ ...component(Math.floor((i * N) / PATCH_N)), id }));
    const w = await timed(REPS, () => store.components.putMany(recs));
    add(`store putMany(${PATCH_N})`, w, name === 'redis' ? 'one MSET' : '');
  }

  // --- through the HTTP API
  const server = await startServer({ store, port: 0, logger: false });
  try {
    {
      const url = `${server.url}/v2/components`;
      const run = await timedHttp(REPS, () => http(url));
      const n = await countOf(url);
      if (n !== N) throw new Error(`${name}: GET /v2/components returned ${n} components, expected ${N}`);
      add('GET /v2/components', run, `${n} components, ${(run.last.bytes / 1e6).toFixed(0)} MB`, TARGET_LIST_MS);
    }
    {
      const url = `${server.url}/v2/components?enabled=true&status=stable`;
      const run = await timedHttp(REPS, () => http(url));
      const n = await countOf(url);
      if (n !== expectedStable) throw new Error(`${name}: filtered GET returned ${n}, expected ${expectedStable}`);
      add('GET ?enabled=true&status=stable', run, `${n} of ${N} match, ${(run.last.bytes / 1e6).toFixed(0)} MB`);
    }
    {
      // Spread over the whole machine, as a session over several cabinets would be.
      const url = `${server.url}/v2/components`;
      const ids = Array.from({ length: PATCH_N }, (_, i) => xname(Math.floor((i * N) / PATCH_N) + 1));
      const bodies = Array.from({ length: REPS + 3 }, (_, r) => JSON.stringify(ids.map((id) => setupPatch(id, r))));
      const run = await timedHttp(REPS, (rep) => http(url, 'PATCH', bodies[rep + 2]!));
      const n = await countOf(url, 'PATCH', bodies[REPS + 2]);
      if (n !== PATCH_N) throw new Error(`${name}: PATCH returned ${n} records, expected ${PATCH_N}`);
      const stored = await store.components.get(ids[7]!);
      if (stored?.session !== `bench-${REPS + 2}`) throw new Error(`${name}: PATCH did not reach the store`);
      add(`PATCH /v2/components (${PATCH_N} items)`, run, `${(Buffer.byteLength(bodies[1]!) / 1e6).toFixed(1)} MB body`, TARGET_PATCH_MS);
    }
  } finally {
    await server.close();
  }
}

function machine(): string {
  const cpu = os.cpus()[0]?.model.trim() ?? 'unknown CPU';
  return `${cpu}, ${os.availableParallelism()} cores (nproc), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${os.platform()}`;
}

function commit(): string {
  try {
    const sha = execSync('git rev-parse --short HEAD', { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    return sha || 'unknown';
  } catch {
    return 'unknown';
  }
}

function verdict(r: Row): string {
  if (!r.target) return '–';
  return `< ${r.target} ms: ${r.median <= r.target ? 'met' : 'MISSED'}`;
}

function markdown(rows: Row[], notes: string[]): string {
  const lines = [
    '## Store and API',
    '',
    `${N.toLocaleString('en-US')} components populated like booted nodes (${JSON.stringify(component(0)).length} bytes of JSON each: boot artifacts with`,
    'realistic kernel parameters, BSS token, desired/staged state, last action, event stats, status), in each store,',
    'measured at the store and through the HTTP API on loopback (`npm run bench -- store`). The filtered',
    'listing matches the realistic mix (about 80 % enabled and stable). The bulk PATCH is the list form',
    `with ${PATCH_N.toLocaleString('en-US')} session-setup items spread over the machine. Times are the median of ${REPS} runs after`,
    `warm-ups; the HTTP times are those of the client (${clientName}) from sending the request to`,
    'the last byte of the answer. The node cpu column is the CPU time of the benchmark process (server and store;',
    'with Redis not the redis-server) per run.',
    '',
    `- machine: ${machine()}`,
    `- date: ${new Date().toISOString().slice(0, 10)}, commit ${commit()}`,
    '',
    '| store | operation | median ms | min ms | max ms | node cpu ms | detail | target |',
    '|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) => `| ${r.store} | ${r.what} | ${r.median.toFixed(0)} | ${r.min.toFixed(0)} | ${r.max.toFixed(0)} | ${r.cpu.toFixed(0)} | ${r.detail} | ${verdict(r)} |`,
    ),
    '',
    ...notes,
  ];
  return lines.join('\n').trimEnd() + '\n';
}


async function flush(url: string): Promise<void> {
  const r = new Redis(url, { lazyConnect: true });
  await r.connect();
  await r.flushall();
  await r.quit();
}

/** How a full listing is served, and what profiling (`node --cpu-prof`) showed; written under the table. */
const HOW_LISTED = [
  'How a full listing is served. The work is proportional to the bytes of JSON (189 MB for 100,000',
  'records). The API shows the records through `listShared()` (the store\'s own record objects, not',
  'copies) and keeps the output JSON of each record object (status attached, internal timestamp',
  'left out), so a listing serialises only records that changed since the previous one and otherwise',
  'joins cached strings. The memory store keeps its records as objects. The Redis store keeps a',
  'listing cache per process (id → value text and parsed record, at most 250,000 ids, ids a listing',
  'no longer finds are dropped) that Redis itself keeps true: the values are read through a',
  'connection with `CLIENT TRACKING ON REDIRECT`, and Redis sends the id of every value read that',
  'changes afterwards, whoever changes it, to a second, subscribed connection. A full listing then',
  'costs one SCAN of the ids, their sort, a PING on that second connection (so every change made',
  'before the listing is applied) and MGETs of only the ids not cached or changed. Values fetched',
  'are compared with the cached text first, and an unchanged one reuses the cached record (and its',
  'output JSON). Limited listings, and every listing while Redis refuses tracking (before Redis 6)',
  'or a tracking connection is down, fetch every value and compare. Before the cache, each listing',
  'received the whole table from Redis, and about 80 % of the Node CPU was `JSON.parse` of it and',
  'garbage collection, with the API then serialising it again (5.0 s for the full listing over',
  'HTTP, 4.1 s of Node CPU). Fetching and comparing every value, without tracking, brought it to',
  'about 1.4 s of Node CPU (about 2.8 s on this busy machine): decoding 189 MB of replies in',
  'ioredis and the garbage of those strings is most of what remains there. The first listing after',
  'a start parses everything (about 4 s for the store). The rows are medians after warm-ups, with',
  'the records unchanged between runs: a listing after a change pays for the changed records only.',
  'The machine was shared with other work while measuring, so the wall-clock figures vary by up to a',
  'factor of two between runs; the node cpu column is steadier.',
];

const loadAtStart = os.loadavg()[0]!;

async function main(): Promise<void> {
  console.log(`machine: ${machine()}`);
  const rows: Row[] = [];
  for (const kind of STORES) {
    if (kind === 'memory') {
      const store = new MemoryStore();
      await benchStore('memory', store, rows);
      await store.close();
    } else if (kind === 'redis') {
      let redis: TestRedis | undefined;
      const url = process.env.BENCH_REDIS_URL ?? (redis = await startRedis()).url;
      try {
        await flush(url);
        const store = await RedisStore.connect({ url });
        try {
          await benchStore('redis', store, rows);
        } finally {
          await store.close();
        }
      } finally {
        await redis?.stop();
      }
    } else {
      throw new Error(`unknown store '${kind}': use --stores memory,redis`);
    }
    (globalThis as { gc?: () => void }).gc?.();
  }
  await worker?.terminate();

  const table = new Table({ head: ['store', 'operation', 'median ms', 'min ms', 'max ms', 'node cpu ms', 'detail', 'target'] });
  for (const r of rows) table.push([r.store, r.what, r.median.toFixed(0), r.min.toFixed(0), r.max.toFixed(0), r.cpu.toFixed(0), r.detail, verdict(r)]);
  console.log(table.toString());

  const missed = rows.filter((r) => r.target && r.median > r.target);
  const load = `Load average (1 min) at the start ${loadAtStart.toFixed(1)}, at the end ${os.loadavg()[0]!.toFixed(1)}, on ${os.availableParallelism()} cores.`;
  const verdictLine = missed.length ? `Targets missed: ${missed.map((r) => `${r.store} ${r.what} (${r.median.toFixed(0)} ms)`).join(', ')}.` : 'All targets met.';
  const notes = [`${verdictLine} ${load}`, '', ...HOW_LISTED];
  if (WRITE) writeResultsSection('Store and API', markdown(rows, notes));
}

await main();
