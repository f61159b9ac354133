/**
 * Simulator scale benchmark: a 10,000-node machine room answering a full HSM component listing and
 * a PCS power status of every node (targets: each under 300 ms), plus the CFS listing the status
 * operator pages through, and a boot storm: every node powered on at once with no machine delays,
 * timed until each has reported its BSS token to a loopback BOS stand-in. Run with `npx tsx bench/sim.bench.ts [nodes] [iterations]`.
 */
import os from 'node:os';
import { execSync } from 'node:child_process';
import Fastify from 'fastify';
import { INSTANT_KNOBS, startSimulator } from '../src/sim/index.js';

const NODES = Number(process.argv[2] ?? 10_000);
const ITER = Number(process.argv[3] ?? 30);
const TARGET_MS = 300;

interface Result {
  name: string;
  median: number;
  p95: number;
  max: number;
  bytes: number;
}

async function measure(name: string, run: () => Promise<number>): Promise<Result> {
  for (let i = 0; i < 3; i++) await run(); // warm up
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < ITER; i++) {
    const t0 = performance.now();
    bytes = await run();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const q = (p: number) => times[Math.min(times.length - 1, Math.floor(p * times.length))]!;
  return { name, median: q(0.5), p95: q(0.95), max: times[times.length - 1]!, bytes };
}

async function body(res: Response, check: (j: unknown) => boolean): Promise<number> {
  const text = await res.text();
  if (!res.ok) throw new Error(`HTTP ${res.status}: ${text.slice(0, 200)}`);
  if (!check(JSON.parse(text))) throw new Error('unexpected answer');
  return text.length;
}

const sim = await startSimulator({ nodes: NODES, seed: 1, knobs: { initialPower: 'on' } });
try {
  const ids = sim.room.nodes().map((n) => n.id);
  const json = { 'content-type': 'application/json' };
  const results: Result[] = [];
  results.push(
    await measure(`HSM GET /State/Components (${NODES} nodes)`, async () =>
      body(await fetch(`${sim.url}/apis/smd/hsm/v2/State/Components`), (j) => (j as { Components: unknown[] }).Components.length === NODES),
    ),
  );
  results.push(
    await measure(`PCS POST /power-status (${NODES} xnames)`, async () =>
      body(
        await fetch(`${sim.url}/apis/power-control/v1/power-status`, { method: 'POST', headers: json, body: JSON.stringify({ xname: ids }) }),
        (j) => (j as { status: unknown[] }).status.length === NODES,
      ),
    ),
  );
  results.push(
    await measure(`HSM POST /State/Components/Query (${NODES} ids, enabled)`, async () =>
      body(
        await fetch(`${sim.url}/apis/smd/hsm/v2/State/Components/Query`, {
          method: 'POST',
          headers: json,
          body: JSON.stringify({ ComponentIDs: ids, enabled: ['True'] }),
        }),
        (j) => (j as { Components: unknown[] }).Components.length === NODES,
      ),
    ),
  );
  results.push(
    await measure(`CFS GET /components, all pages (${NODES} components)`, async () => {
      let total = 0;
      let count = 0;
      let next: Record<string, string | number> | null = {};
      while (next) {
        const qs = new URLSearchParams(Object.entries(next).map(([k, v]): [string, string] => [k, String(v)])).toString();
        const res = await fetch(`${sim.url}/apis/cfs/v3/components${qs ? '?' + qs : ''}`);
        const page = (await res.json()) as { components: unknown[]; next: Record<string, string | number> | null };
        count += page.components.length;
        total += 1;
        next = page.next;
      }
      if (count !== NODES) throw new Error(`CFS paging returned ${count} components`);
      return total;
    }),
  );

  // Boot storm on a second, instant room reporting to a minimal BOS stand-in.
  const bos = Fastify({ logger: false });
  let reported = 0;
  let allReported: () => void = () => undefined;
  const done = new Promise<void>((r) => (allReported = r));
  bos.patch('/apis/bos/v2/components/:id', async () => {
    if (++reported === NODES) allReported();
    return {};
  });
  await bos.listen({ port: 0, host: '127.0.0.1' });
  const bosAddr = bos.server.address();
  const bosPort = typeof bosAddr === 'object' && bosAddr ? bosAddr.port : 0;
  const storm = await startSimulator({ nodes: NODES, seed: 2, bosUrl: `http://127.0.0.1:${bosPort}/apis/bos/v2`, knobs: INSTANT_KNOBS });
  let stormMs = NaN;
  try {
    const t0 = performance.now();
    const res = await fetch(`${storm.url}/apis/power-control/v1/transitions`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ operation: 'On', taskDeadlineMinutes: 1, location: storm.room.nodes().map((n) => ({ xname: n.id })) }),
    });
    if (!res.ok) throw new Error(`PCS transition answered ${res.status}`);
    await done;
    stormMs = performance.now() - t0;
  } finally {
    await storm.close();
    await bos.close();
  }

  let commit = 'unknown';
  try {
    commit = execSync('git rev-parse --short HEAD', { encoding: 'utf8' }).trim();
  } catch {
    /* not a git checkout */
  }
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  console.log(`machine: ${cpu}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()}`);
  console.log(`date: ${new Date().toISOString().slice(0, 10)}, commit ${commit}, ${ITER} iterations after 3 warm-up calls, loopback HTTP`);
  console.log('');
  console.log('| call | median ms | p95 ms | max ms | target |');
  console.log('|---|---|---|---|---|');
  let ok = true;
  for (const r of results) {
    const targeted = r.name.startsWith('HSM GET') || r.name.startsWith('PCS');
    const pass = r.p95 < TARGET_MS;
    if (targeted && !pass) ok = false;
    console.log(`| ${r.name} | ${r.median.toFixed(1)} | ${r.p95.toFixed(1)} | ${r.max.toFixed(1)} | ${targeted ? `< ${TARGET_MS} ms: ${pass ? 'met' : 'MISSED'}` : '–'} |`);
  }
  console.log('');
  console.log(
    `boot storm (one run): PCS On of ${NODES} nodes → every node reported to BOS in ${stormMs.toFixed(0)} ms ` +
      `(${Math.round((NODES / stormMs) * 1000)} reports/s, instant knobs, 64 reports in flight, simulator and BOS stand-in in one process)`,
  );
  if (!ok) process.exitCode = 1;
} finally {
  await sim.close();
}
