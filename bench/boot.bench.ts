/**
 * Boot at scale: API + simulated machine room (zero hardware delays) + all ten operators in one
 * process over loopback HTTP. For each store (memory, Redis) and with change-event wake-ups on and
 * off (off: polling only, `polling_frequency` 15 s, the default), a boot session and then a reboot
 * session of every compute node are timed from creation until BOS marks them `complete`.
 *
 *   npx tsx bench/run.ts boot                      # 10,000 nodes, every combination
 *   npx tsx bench/boot.bench.ts 2000 --store memory --wake on
 */
import { pino } from 'pino';
import { INSTANT_KNOBS } from '../src/sim/index.js';
import { startSystem } from '../src/system.js';
import { startRedis, type TestRedis } from '../test/helpers/redis.js';
import { call, machineLine, putAllComputeTemplate, roomSize, sessionTime, timeSession, waitForComponents, type SessionResult } from './scale-common.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}
const positional = process.argv.slice(2).filter((a, i, all) => !a.startsWith('--') && !(all[i - 1] ?? '').startsWith('--'));
const COMPUTE = Number(positional[0] ?? 10_000);
const stores = arg('store', 'both') === 'both' ? ['memory', 'redis'] : [arg('store', 'memory')];
const wakes = arg('wake', 'both') === 'both' ? [true, false] : [arg('wake', 'on') === 'on'];
const POLLING = Number(arg('polling', '15'));

interface Row {
  store: string;
  wake: boolean;
  discoveryMs: number;
  boot: SessionResult;
  reboot: SessionResult;
  bootCpuMs: number;
  rebootCpuMs: number;
}

type PassTotals = Map<string, { count: number; seconds: number }>;

/** Passes run so far and their summed duration, per operator (from the system's metrics registry). */
async function passTotals(system: { registry: { getSingleMetric(name: string): unknown } }): Promise<PassTotals> {
  const metric = system.registry.getSingleMetric('bos_operator_pass_duration_seconds') as
    | { get(): Promise<{ values: { metricName?: string; labels: Record<string, string | number>; value: number }[] }> }
    | undefined;
  const out: PassTotals = new Map();
  for (const v of (await metric?.get())?.values ?? []) {
    const op = String(v.labels.operator);
    const t = out.get(op) ?? { count: 0, seconds: 0 };
    if (v.metricName?.endsWith('_count')) t.count += v.value;
    else if (v.metricName?.endsWith('_sum')) t.seconds += v.value;
    out.set(op, t);
  }
  return out;
}

/** "status 12 passes 9.1 s, power-on 3 passes 2.0 s, …": the passes between two snapshots. */
function passLine(before: PassTotals, after: PassTotals): string {
  return [...after.entries()]
    .map(([op, t]) => ({ op, count: t.count - (before.get(op)?.count ?? 0), seconds: t.seconds - (before.get(op)?.seconds ?? 0) }))
    .filter((t) => t.count > 0)
    .sort((a, b) => b.seconds - a.seconds)
    .map((t) => `${t.op} ${t.count}× ${t.seconds.toFixed(1)} s`)
    .join(', ');
}

/** CPU time (user + system, ms) of this process, which runs the API, the simulator and the operators. */
function cpuSince(start: NodeJS.CpuUsage): number {
  const c = process.cpuUsage(start);
  return (c.user + c.system) / 1000;
}

async function runOne(store: string, wake: boolean): Promise<Row> {
  let redis: TestRedis | undefined;
  if (store === 'redis') redis = await startRedis();
  const system = await startSystem({
    nodes: roomSize(COMPUTE),
    seed: 1,
    knobs: INSTANT_KNOBS,
    redisUrl: redis?.url,
    wakeOnChanges: wake,
    options: { polling_frequency: POLLING, discovery_frequency: 1 },
    logger: pino({ level: 'silent' }),
  });
  try {
    const api = `${system.url}/v2`;
    const discoveryMs = await waitForComponents(api, roomSize(COMPUTE));
    // Discovery has done its work; keep it from listing every node each second during the sessions.
    await call('PATCH', `${api}/options`, { discovery_frequency: 300 });
    await putAllComputeTemplate(system.url, api, 'all-compute');
    const tag = `${store}-${wake ? 'wake' : 'poll'}`;
    let cpu0 = process.cpuUsage();
    const limitMs = wake ? 150_000 : 300_000;
    const passes0 = await passTotals(system);
    const boot = await timeSession(api, `boot-${tag}`, 'all-compute', 'boot', limitMs);
    const bootCpuMs = cpuSince(cpu0);
    cpu0 = process.cpuUsage();
    const passes1 = await passTotals(system);
    console.log(`  ${store}, wake-ups ${wake ? 'on' : 'off'}: boot ${boot.nodes} nodes ${sessionTime(boot)} (${boot.successful}% ok)`);
    console.log(`    passes (count, summed wall time): ${passLine(passes0, passes1)}`);
    const reboot = await timeSession(api, `reboot-${tag}`, 'all-compute', 'reboot', limitMs);
    const rebootCpuMs = cpuSince(cpu0);
    console.log(`  ${store}, wake-ups ${wake ? 'on' : 'off'}: reboot ${reboot.nodes} nodes ${sessionTime(reboot)} (${reboot.successful}% ok)`);
    console.log(`    passes (count, summed wall time): ${passLine(passes1, await passTotals(system))}`);
    return { store, wake, discoveryMs, boot, reboot, bootCpuMs, rebootCpuMs };
  } finally {
    await system.close();
    await redis?.stop();
  }
}

console.log(machineLine());
console.log(`compute nodes: ${COMPUTE} (room of ${roomSize(COMPUTE)}), instant hardware, polling_frequency ${POLLING} s`);
const rows: Row[] = [];
for (const store of stores) for (const wake of wakes) rows.push(await runOne(store, wake));

console.log('\n| store | wake-ups | nodes | boot to complete | reboot to complete | process cpu boot / reboot | successful | target (boot < 20 s with wake-ups) |');
console.log('|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  const target = r.wake ? (r.boot.complete && r.boot.ms < 20_000 ? 'met' : 'MISSED') : '–';
  console.log(
    `| ${r.store} | ${r.wake ? 'on' : `off (polling ${POLLING} s)`} | ${r.boot.nodes} | ${sessionTime(r.boot)} | ${sessionTime(r.reboot)} | ${(r.bootCpuMs / 1000).toFixed(1)} s / ${(r.rebootCpuMs / 1000).toFixed(1)} s | ${r.boot.successful}% / ${r.reboot.successful}% | ${target} |`,
  );
}
