/**
 * Boot at scale: API + simulated machine room (zero hardware delays) + all eleven operators in one
 * process over loopback HTTP. For each store (memory, Redis) and with change-event wake-ups on and
 * off (off: polling only, `polling_frequency` 15 s, the default), a boot session and then a reboot
 * session of every compute node are timed from creation until BOS marks them `complete`.
 *
 * With `--split` (Redis store only), the shape of a deployment instead: the API and the simulator
 * each in a child process (bench/system-child.ts), the operators in this one, woken through Redis
 * pub/sub. `--serial on|both` (split only) also runs the operators with one HTTP request in flight
 * at a time across every client, so the gain of their concurrency is a ratio taken in one run.
 *
 *   npx tsx bench/run.ts boot                      # 10,000 nodes, every combination
 *   npx tsx bench/boot.bench.ts 2000 --store memory --wake on
 *   npx tsx bench/boot.bench.ts 10000 --store redis --split
 *   npx tsx bench/boot.bench.ts 10000 --store redis --split --wake both --serial both
 */
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { createServices } from '../src/clients/index.js';
import { OPTION_DEFAULTS, type Options } from '../src/common/options.js';
import { RedisChangeBus } from '../src/events/bus.js';
import { wakeOnChanges } from '../src/events/wiring.js';
import { startOperators } from '../src/operators/index.js';
import { INSTANT_KNOBS } from '../src/sim/index.js';
import { startSystem } from '../src/system.js';
import { startRedis, type TestRedis } from '../test/helpers/redis.js';
import {
  arg,
  call,
  machineLine,
  passLine,
  passTotals,
  putAllComputeTemplate,
  roomSize,
  sessionTime,
  startSystemChild,
  timeSession,
  waitForComponents,
  type PassTotals,
  type SessionResult,
} from './scale-common.js';

const positional = process.argv.slice(2).filter((a, i, all) => !a.startsWith('--') && !(all[i - 1] ?? '').startsWith('--'));
const COMPUTE = Number(positional[0] ?? 10_000);
const stores = arg('store', 'both') === 'both' ? ['memory', 'redis'] : [arg('store', 'memory')];
const wakes = arg('wake', 'both') === 'both' ? [true, false] : [arg('wake', 'on') === 'on'];
const POLLING = Number(arg('polling', '15'));
const SPLIT = process.argv.includes('--split');
const serials = arg('serial', 'off') === 'both' ? [false, true] : [arg('serial', 'off') === 'on'];
if (serials.includes(true) && !SPLIT) {
  console.error('boot bench: --serial needs --split (the operators run in this process with their own clients)');
  process.exit(2);
}
if (SPLIT && stores.includes('memory')) {
  console.error('boot bench: --split runs the API in its own process, which needs the Redis store: add --store redis');
  process.exit(2);
}

interface Row {
  store: string;
  wake: boolean;
  serial: boolean;
  discoveryMs: number;
  boot: SessionResult;
  reboot: SessionResult;
  bootCpu: { self: number; child?: number };
  rebootCpu: { self: number; child?: number };
}

/** CPU time (user + system, ms) this process has used so far. */
function ownCpuMs(): number {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
}

/** Where the boot runs: the URL of the API and how to read its pass totals and CPU time. */
interface Target {
  /** Root URL of the API. */
  url: string;
  /** Root URL of the simulated services. */
  simUrl: string;
  passTotals(): Promise<PassTotals>;
  /** CPU time so far, ms: this process, and the API and simulator processes in split mode. */
  cpu(): { self: number; child?: number };
  /** Split only: start or stop the CPU profiles of the API (BENCH_CHILD_PROFILE=<file>) and the simulator (BENCH_SIM_PROFILE=<file>), around the boot. */
  toggleChildProfile?(): Promise<void>;
  close(): Promise<void>;
}

/** API + simulator + operators in this process (`bos up`). */
async function inProcess(store: string, wake: boolean): Promise<Target> {
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
  return {
    url: system.url,
    simUrl: system.url,
    passTotals: () => passTotals(system.registry),
    cpu: () => ({ self: ownCpuMs() }),
    async close() {
      await system.close();
      await redis?.stop();
    },
  };
}

/**
 * The shape of a deployment (`bos serve` | `bos sim` | `bos operators`): the API on the Redis store
 * and the simulator each in a child process (bench/system-child.ts, nodes reporting to the API), the
 * eleven operators in this one, woken through Redis pub/sub.
 */
async function split(wake: boolean, serial: boolean): Promise<Target> {
  const child = await startSystemChild(roomSize(COMPUTE), { reporters: true });
  await call('PATCH', `${child.apiUrl}/v2/options`, { polling_frequency: POLLING, discovery_frequency: 1 });
  const registry = new Registry();
  let latest: Options = { ...OPTION_DEFAULTS };
  const services = createServices({ ...child.urls, redisUrl: child.redisUrl, options: () => latest, requestsAtOnce: serial ? 1 : undefined });
  const ops = startOperators({ services, registry, logger: pino({ level: 'silent' }) });
  const timer = setInterval(() => (latest = ops.options()), 1000);
  let bus: RedisChangeBus | undefined;
  let unsubscribe = () => {};
  if (wake) {
    bus = new RedisChangeBus(child.redisUrl);
    unsubscribe = wakeOnChanges(bus, ops.operators);
  }
  return {
    url: child.apiUrl,
    simUrl: child.simUrl,
    passTotals: () => passTotals(registry),
    cpu: () => {
      const c = child.cpuMs();
      return { self: ownCpuMs(), child: c.api + c.sim };
    },
    toggleChildProfile: () => child.toggleProfile(),
    async close() {
      clearInterval(timer);
      unsubscribe();
      await bus?.close();
      await ops.stop();
      await services.close();
      await child.stop();
    },
  };
}

function cpuDelta(a: { self: number; child?: number }, b: { self: number; child?: number }): { self: number; child?: number } {
  return { self: b.self - a.self, child: a.child !== undefined && b.child !== undefined ? b.child - a.child : undefined };
}

async function runOne(store: string, wake: boolean, serial: boolean): Promise<Row> {
  const target = SPLIT ? await split(wake, serial) : await inProcess(store, wake);
  try {
    const api = `${target.url}/v2`;
    const discoveryMs = await waitForComponents(api, roomSize(COMPUTE));
    // Discovery has done its work; keep it from listing every node each second during the sessions.
    await call('PATCH', `${api}/options`, { discovery_frequency: 300 });
    await putAllComputeTemplate(target.simUrl, api, 'all-compute');
    const tag = `${store}-${wake ? 'wake' : 'poll'}${serial ? '-serial' : ''}`;
    const limitMs = wake ? 150_000 : 300_000;
    const how = `${store}${SPLIT ? ' (split)' : ''}, wake-ups ${wake ? 'on' : 'off'}${serial ? ', one request at a time' : ''}`;
    const cpu0 = target.cpu();
    const passes0 = await target.passTotals();
    await target.toggleChildProfile?.();
    const boot = await timeSession(api, `boot-${tag}`, 'all-compute', 'boot', limitMs);
    await target.toggleChildProfile?.();
    const cpu1 = target.cpu();
    const passes1 = await target.passTotals();
    console.log(`  ${how}: boot ${boot.nodes} nodes ${sessionTime(boot)} (${boot.successful}% ok)`);
    console.log(`    passes (count, summed wall time): ${passLine(passes0, passes1)}`);
    const reboot = await timeSession(api, `reboot-${tag}`, 'all-compute', 'reboot', limitMs);
    const cpu2 = target.cpu();
    console.log(`  ${how}: reboot ${reboot.nodes} nodes ${sessionTime(reboot)} (${reboot.successful}% ok)`);
    console.log(`    passes (count, summed wall time): ${passLine(passes1, await target.passTotals())}`);
    return { store, wake, serial, discoveryMs, boot, reboot, bootCpu: cpuDelta(cpu0, cpu1), rebootCpu: cpuDelta(cpu1, cpu2) };
  } finally {
    await target.close();
  }
}

console.log(machineLine());
console.log(`compute nodes: ${COMPUTE} (room of ${roomSize(COMPUTE)}), instant hardware, polling_frequency ${POLLING} s`);
const rows: Row[] = [];
for (const store of stores) {
  for (const wake of wakes) {
    for (const serial of serials) {
      // One request at a time is compared with change events on; polling only adds nothing to that ratio.
      if (serial && !wake && wakes.includes(true)) continue;
      rows.push(await runOne(store, wake, serial));
    }
  }
}

const cpuText = (c: { self: number; child?: number }) =>
  c.child === undefined ? `${(c.self / 1000).toFixed(1)} s` : `${(c.self / 1000).toFixed(1)} s + ${(c.child / 1000).toFixed(1)} s`;
console.log(`\n| store | wake-ups | nodes | boot to complete | reboot to complete | ${SPLIT ? 'cpu operators + API/sim' : 'process cpu'} boot / reboot | successful | target (boot < 20 s with wake-ups) |`);
console.log('|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  const target = r.wake ? (r.boot.complete && r.boot.ms < 20_000 ? 'met' : 'MISSED') : '–';
  const how = `${r.store}${SPLIT ? ' (split)' : ''}${r.serial ? ', one request at a time' : ''}`;
  console.log(
    `| ${how} | ${r.wake ? 'on' : `off (polling ${POLLING} s)`} | ${r.boot.nodes} | ${sessionTime(r.boot)} | ${sessionTime(r.reboot)} | ${cpuText(r.bootCpu)} / ${cpuText(r.rebootCpu)} | ${r.boot.successful}% / ${r.reboot.successful}% | ${target} |`,
  );
}

// Each lever as a ratio of two boots of this run: change events against polling only, and the
// operators' concurrency against one request at a time.
const find = (wake: boolean, serial: boolean) => rows.find((r) => r.wake === wake && r.serial === serial && r.boot.complete);
const ratio = (slow: Row | undefined, fast: Row | undefined, what: string) => {
  if (slow && fast) console.log(`${what}: boot ${(slow.boot.ms / fast.boot.ms).toFixed(2)}× (${sessionTime(slow.boot)} against ${sessionTime(fast.boot)})`);
};
ratio(find(false, false), find(true, false), 'change events against polling only');
ratio(find(true, true), find(true, false), 'concurrent requests against one at a time (change events on)');
