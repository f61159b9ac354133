/**
 * API server scale benchmark on the memory store: a full GET /v2/components of 100,000 booted
 * components (target < 1.5 s) and a bulk PATCH of 2,800 components (target < 250 ms), plus a paged
 * filtered listing and the filter form of the bulk PATCH. Client and server share this process, over
 * loopback HTTP; the listing is read with a light client that counts bytes. Run with `npx tsx bench/api.bench.ts [components] [iterations]`.
 */
import http from 'node:http';
import os from 'node:os';
import { execSync } from 'node:child_process';
import type { Component } from '../src/common/types.js';
import { startServer } from '../src/server/app.js';
import { MemoryStore } from '../src/server/store/memory.js';

const COMPONENTS = Number(process.argv[2] ?? 100_000);
const ITER = Number(process.argv[3] ?? 10);
const BATCH = 2800;

function xname(i: number): string {
  return `x${3000 + Math.floor(i / 512)}c${Math.floor(i / 64) % 8}s${Math.floor(i / 8) % 8}b${Math.floor(i / 2) % 4}n${i % 2}`;
}

/** A component as it looks after a boot: every section filled in. */
function booted(i: number): Component {
  const ts = '2026-11-23T10:00:00';
  const artifacts = {
    kernel: 's3://boot-images/1f4c7bd6-2c2a-4d1e-9a59-0c3e8f6a1b2c/kernel',
    initrd: 's3://boot-images/1f4c7bd6-2c2a-4d1e-9a59-0c3e8f6a1b2c/initrd',
    kernel_parameters: 'console=ttyS0,115200 ip=dhcp quiet root=sbps-s3:s3://boot-images/1f4c7bd6/rootfs bos_update_frequency=4h',
  };
  return {
    id: xname(i),
    actual_state: { boot_artifacts: { ...artifacts, timestamp: ts }, bss_token: `token-${i}`, last_updated: ts },
    desired_state: { boot_artifacts: artifacts, configuration: 'compute-25.3.0', bss_token: `token-${i}`, last_updated: ts },
    staged_state: { boot_artifacts: { kernel: '', initrd: '', kernel_parameters: '' }, configuration: '', session: '', last_updated: ts },
    last_action: { action: 'powering_on', failed: false, last_updated: ts },
    event_stats: { power_on_attempts: 1, power_off_graceful_attempts: 0, power_off_forceful_attempts: 0 },
    status: { phase: i % 10 === 0 ? 'configuring' : '', status_override: '' },
    enabled: i % 10 === 0,
    error: '',
    session: 'boot-compute',
    retry_policy: 3,
  };
}

interface Result {
  name: string;
  median: number;
  p95: number;
  max: number;
  target?: number;
}

async function measure(name: string, run: () => Promise<void>, target?: number): Promise<Result> {
  for (let i = 0; i < 2; i++) await run();
  const times: number[] = [];
  for (let i = 0; i < ITER; i++) {
    const t0 = performance.now();
    await run();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const q = (p: number) => times[Math.min(times.length - 1, Math.floor(p * times.length))]!;
  return { name, median: q(0.5), p95: q(0.95), max: times[times.length - 1]!, target };
}

/** GET a URL, counting the body bytes without keeping them (a light client, like a load tester). */
function drain(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let n = 0;
        res.on('data', (d: Buffer) => (n += d.length));
        res.on('end', () => (res.statusCode === 200 ? resolve(n) : reject(new Error(`HTTP ${res.statusCode}`))));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

async function expectOk(res: Response): Promise<ArrayBuffer> {
  const buf = await res.arrayBuffer();
  if (!res.ok) throw new Error(`HTTP ${res.status}: ${Buffer.from(buf).toString('utf8').slice(0, 200)}`);
  return buf;
}

const store = new MemoryStore();
const records = Array.from({ length: COMPONENTS }, (_, i) => booted(i));
await store.components.putMany(records);
const srv = await startServer({ store, logger: false });
try {
  const json = { 'content-type': 'application/json' };
  const first = JSON.parse(Buffer.from(await expectOk(await fetch(`${srv.url}/v2/components`))).toString('utf8')) as Component[];
  if (first.length !== COMPONENTS) throw new Error(`listing returned ${first.length} components`);
  const results: Result[] = [];
  results.push(
    await measure(`GET /v2/components (${COMPONENTS} components, ~${Math.round(JSON.stringify(first).length / 2 ** 20)} MiB)`, async () => {
      await drain(`${srv.url}/v2/components`);
    }, 1500),
  );
  let round = 0;
  results.push(
    await measure(`PATCH /v2/components, list form (${BATCH} components)`, async () => {
      const start = (round++ * BATCH) % (COMPONENTS - BATCH);
      const patches = records.slice(start, start + BATCH).map((c) => ({
        id: c.id,
        error: '',
        last_action: { action: 'powering_on', failed: false },
        event_stats: { power_on_attempts: 2 },
      }));
      await expectOk(await fetch(`${srv.url}/v2/components`, { method: 'PATCH', headers: json, body: JSON.stringify(patches) }));
    }, 250),
  );
  results.push(
    await measure(`PATCH /v2/components, filter form (${BATCH} ids)`, async () => {
      const start = (round++ * BATCH) % (COMPONENTS - BATCH);
      const ids = records.slice(start, start + BATCH).map((c) => c.id).join(',');
      await expectOk(await fetch(`${srv.url}/v2/components`, { method: 'PATCH', headers: json, body: JSON.stringify({ patch: { enabled: false }, filters: { ids } }) }));
    }),
  );
  results.push(
    await measure(`GET /v2/components?enabled=true&status=configuring&page_size=${BATCH}`, async () => {
      await expectOk(await fetch(`${srv.url}/v2/components?enabled=true&status=configuring&page_size=${BATCH}`));
    }),
  );

  let commit = 'unknown';
  try {
    commit = execSync('git rev-parse --short HEAD', { encoding: 'utf8' }).trim();
  } catch {
    /* not a git checkout */
  }
  console.log(`machine: ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()}`);
  console.log(`date: ${new Date().toISOString().slice(0, 10)}, commit ${commit}, ${ITER} iterations after 2 warm-up calls, loopback HTTP, memory store`);
  console.log('');
  console.log('| call | median ms | p95 ms | max ms | target |');
  console.log('|---|---|---|---|---|');
  let ok = true;
  for (const r of results) {
    const pass = r.target === undefined || r.p95 < r.target;
    if (!pass) ok = false;
    console.log(`| ${r.name} | ${r.median.toFixed(1)} | ${r.p95.toFixed(1)} | ${r.max.toFixed(1)} | ${r.target ? `< ${r.target} ms: ${pass ? 'met' : 'MISSED'}` : '–'} |`);
  }
  if (!ok) process.exitCode = 1;
} finally {
  await srv.close();
}
