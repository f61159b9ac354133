/**
 * Soak: the whole system (API on the memory store, simulated machine room with its default hardware
 * delays, all eleven operators with change-event wake-ups) on a fast clock (FakeClock, machine time
 * `--speed` times real time), running boot and shutdown sessions of every compute node back to back
 * for `--minutes` of machine time (default 30). Every machine minute it samples the process RSS and
 * the heap after a full collection, and the mean pass time of the status operator (and of all operators) since the last
 * sample, and prints the series: flat RSS and flat pass times mean no leak and no growing work.
 *
 *   npx tsx bench/run.ts soak                        # 2,000 nodes, 30 machine minutes at ×20
 *   npx tsx bench/soak.bench.ts --nodes 500 --minutes 10 --speed 30
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { pino } from 'pino';
import { FakeClock } from '../src/common/clock.js';
import { startSystem } from '../src/system.js';
import { call, machineLine, memoryOf, passTotals, putAllComputeTemplate, roomSize, sleep, waitForComponents } from './scale-common.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
const COMPUTE = arg('nodes', 2000);
const SPEED = arg('speed', 20);
const MINUTES = arg('minutes', 30);
const REAL_LIMIT_MS = arg('real-limit', 420) * 1000;

// A full collection before each heap sample, so the series shows live memory, not the GC sawtooth.
setFlagsFromString('--expose-gc');
const fullGc = runInNewContext('gc') as () => void;

const clock = new FakeClock(Date.now(), { speed: SPEED });
const system = await startSystem({
  nodes: roomSize(COMPUTE),
  seed: 1,
  clock,
  options: { discovery_frequency: 60 },
  logger: pino({ level: 'silent' }),
});
const api = `${system.url}/v2`;
const registry = system.registry;

interface Sample {
  minute: number;
  realS: number;
  rssMiB: number;
  heapMiB: number;
  statusMs: number;
  statusPasses: number;
  allMs: number;
  allPasses: number;
  sessions: number;
}

const samples: Sample[] = [];
const sessionTimes: { name: string; machineS: number }[] = [];
let stop = false;

async function sessions(): Promise<void> {
  for (let i = 0; !stop; i++) {
    const name = `soak-${i}`;
    const started = clock.now();
    // Boot, then shut down, and again: both power every node (a boot of nodes already booted on the
    // same image would have nothing to do).
    await call('POST', `${api}/sessions`, { name, template_name: 'all', operation: i % 2 === 0 ? 'boot' : 'shutdown' });
    for (;;) {
      if (stop) return;
      const s = await call<{ status: { status: string } }>('GET', `${api}/sessions/${name}`);
      if (s.status.status === 'complete') break;
      await sleep(250);
    }
    sessionTimes.push({ name, machineS: (clock.now() - started) / 1000 });
  }
}

try {
  console.log(machineLine());
  console.log(`compute nodes: ${COMPUTE} (room of ${roomSize(COMPUTE)}), default hardware delays, machine time ×${SPEED}, ${MINUTES} machine minutes, polling_frequency 15 s (machine), wake-ups on`);
  await waitForComponents(api, roomSize(COMPUTE), 120_000);
  await putAllComputeTemplate(system.url, api, 'all');
  const startMachine = clock.now();
  const startReal = Date.now();
  const runner = sessions().catch((err: unknown) => {
    console.error(`session loop failed: ${String(err)}`);
    stop = true;
  });
  let last = await passTotals(registry);
  let minute = 0;
  while (!stop && clock.now() - startMachine < MINUTES * 60_000) {
    if (Date.now() - startReal > REAL_LIMIT_MS) {
      console.log(`  stopped at the real-time limit (${REAL_LIMIT_MS / 1000} s) after ${((clock.now() - startMachine) / 60_000).toFixed(1)} machine minutes`);
      break;
    }
    const next = startMachine + (minute + 1) * 60_000;
    while (clock.now() < next && Date.now() - startReal <= REAL_LIMIT_MS) await sleep(50);
    minute++;
    const now = await passTotals(registry);
    const delta = (op?: string) => {
      let sum = 0;
      let count = 0;
      for (const [k, v] of now) {
        if (op && k !== op) continue;
        const p = last.get(k) ?? { seconds: 0, count: 0 };
        sum += v.seconds - p.seconds;
        count += v.count - p.count;
      }
      return { ms: count ? (sum / count) * 1000 : 0, count };
    };
    const st = delta('status');
    const all = delta();
    last = now;
    const mem = memoryOf();
    fullGc();
    const s: Sample = {
      minute,
      realS: (Date.now() - startReal) / 1000,
      rssMiB: mem.rss,
      heapMiB: process.memoryUsage().heapUsed / 2 ** 20, // after the full collection
      statusMs: st.ms,
      statusPasses: st.count,
      allMs: all.ms,
      allPasses: all.count,
      sessions: sessionTimes.length,
    };
    samples.push(s);
    console.log(
      `  minute ${String(minute).padStart(2)} (real ${s.realS.toFixed(0).padStart(3)} s): RSS ${s.rssMiB.toFixed(0)} MiB, heap ${s.heapMiB.toFixed(0)} MiB, ` +
        `status pass ${s.statusMs.toFixed(0)} ms × ${s.statusPasses}, all passes ${s.allMs.toFixed(0)} ms × ${s.allPasses}, sessions complete ${s.sessions}`,
    );
  }
  stop = true;
  await runner;

  const half = Math.floor(samples.length / 2);
  const avg = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
  const early = samples.slice(1, Math.max(2, half));
  const late = samples.slice(half);
  console.log('\n| machine minute | real s | RSS MiB | heap MiB | status pass ms (passes) | mean pass ms, all operators (passes) | sessions complete |');
  console.log('|---|---|---|---|---|---|---|');
  for (const s of samples) {
    console.log(`| ${s.minute} | ${s.realS.toFixed(0)} | ${s.rssMiB.toFixed(0)} | ${s.heapMiB.toFixed(0)} | ${s.statusMs.toFixed(0)} (${s.statusPasses}) | ${s.allMs.toFixed(0)} (${s.allPasses}) | ${s.sessions} |`);
  }
  console.log(
    `\nfirst half (minutes 2-${half}) vs second half: RSS ${avg(early.map((s) => s.rssMiB)).toFixed(0)} → ${avg(late.map((s) => s.rssMiB)).toFixed(0)} MiB, ` +
      `heap ${avg(early.map((s) => s.heapMiB)).toFixed(0)} → ${avg(late.map((s) => s.heapMiB)).toFixed(0)} MiB, ` +
      `status pass ${avg(early.map((s) => s.statusMs)).toFixed(0)} → ${avg(late.map((s) => s.statusMs)).toFixed(0)} ms`,
  );
  console.log(`sessions: ${sessionTimes.map((s) => `${s.name} ${s.machineS.toFixed(0)} s`).join(', ')} (machine time)`);
} finally {
  stop = true;
  clock.stop();
  await system.close();
}
