/**
 * Peak memory of each part at scale (default 100,000 compute nodes), each in its own process as in
 * a deployment: `bos serve` (the API, on Redis), `bos sim` (the machine room, instant hardware, nodes
 * reporting to the API) and `bos operators` (all eleven, waking on the API's change events through
 * Redis). Discovery fills BOS with every node, then a boot session of every compute node runs (up
 * to a time limit), then every component is enabled again so the status operator passes over all
 * of them. The peak RSS (VmHWM in /proc/<pid>/status) of each process is read at the end, and
 * sampled (VmRSS) along the way.
 *
 *   npx tsx bench/run.ts rss                 # 100,000 nodes
 *   npx tsx bench/rss.bench.ts 10000 [--boot-limit 240] [--sources] [--reporters N] [--api-node-args "--trace-gc"] [--image-node-options] [--operators-node-options "..."] [--api-node-options "..."]
 *
 * Every process runs the compiled code (built first into .bench-dist/, leaving dist/ alone), as the
 * image does; --sources runs bin/bos.js instead (the TypeScript sources through tsx when dist/ is not
 * current: a loader thread and its memory in every process).
 *
 * The API and the operators run with the NODE_OPTIONS their containers get in deploy/base (V8
 * heap ceilings); --image-node-options runs them with the image's alone (no ceiling);
 * --operators-node-options gives the operators other ones (for instance the per-operator
 * containers' ceiling, deploy/components/operator-per-container), --api-node-options the API.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createWriteStream, readFileSync } from 'node:fs';
import { loadAll } from 'js-yaml';
import { SIM_PATHS } from '../src/sim/index.js';
import { SIM_CONTROL_PATH } from '../src/sim/routing.js';
import { startRedis } from '../test/helpers/redis.js';
import { freePort } from '../test/helpers/net.js';
import { cpuNow, timelineTable, watchBoot } from './timeline.js';
import { passLine, passTotalsFromText, requestTotalsFromText, call, countComponents, machineLine, memoryOf, putAllComputeTemplate, roomSize, sleep } from './scale-common.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const positional = process.argv.slice(2).filter((a, i, all) => !a.startsWith('--') && !(all[i - 1] ?? '').startsWith('--'));
const COMPUTE = Number(positional[0] ?? 100_000);
const bootLimitArg = process.argv.indexOf('--boot-limit');
const BOOT_LIMIT_MS = (bootLimitArg >= 0 ? Number(process.argv[bootLimitArg + 1]) : 300) * 1000;
const OPERATORS_TARGET_MIB = 1024;
const IMAGE_ONLY = process.argv.includes('--image-node-options');
const apiOptionsArg = process.argv.indexOf('--api-node-options');
/** NODE_OPTIONS for the API instead of deploy/base's (another heap ceiling to try). */
const API_NODE_OPTIONS = apiOptionsArg >= 0 ? process.argv[apiOptionsArg + 1] : undefined;
const SOURCES = process.argv.includes('--sources');
/** A build of its own (scripts/build.mjs --out), so dist/ and what bin/bos.js runs stay as they were. */
const BUILD_DIR = '.bench-dist';
/** What each child runs: the compiled CLI, or bin/bos.js (the sources through tsx when dist/ is not current). */
const ENTRY = SOURCES ? join(root, 'bin', 'bos.js') : join(root, BUILD_DIR, 'src', 'cli', 'main.js');
const apiArgsArg = process.argv.indexOf('--api-node-args');
/** Flags for the API's node command line, for those NODE_OPTIONS refuses (e.g. "--trace-gc", with BENCH_LOG_DIR). */
const API_NODE_ARGS = apiArgsArg >= 0 ? process.argv[apiArgsArg + 1]!.split(' ').filter(Boolean) : [];
const reportersArg = process.argv.indexOf('--reporters');
/** The simulator's reporterConcurrency knob (state reports in flight at once) instead of its default. */
const REPORTERS = reportersArg >= 0 ? Number(process.argv[reportersArg + 1]) : undefined;
const opsOptionsArg = process.argv.indexOf('--operators-node-options');
/** NODE_OPTIONS for the operators instead of deploy/base's (another heap ceiling to try). */
const OPERATORS_NODE_OPTIONS = opsOptionsArg >= 0 ? process.argv[opsOptionsArg + 1] : undefined;
if (opsOptionsArg >= 0 && !OPERATORS_NODE_OPTIONS) throw new Error('--operators-node-options needs a value, e.g. "--max-old-space-size=384"');

/**
 * NODE_OPTIONS of a container of deploy/base (the API's and the operators' V8 heap ceilings), so the
 * figures are those of a deployment; with --image-node-options only the image's (no ceiling: V8
 * sizes the heap from the machine's memory, as `bos` run by hand does).
 */
function nodeOptions(file: string, container: string): Record<string, string> {
  if (container === 'operators' && OPERATORS_NODE_OPTIONS) return { NODE_OPTIONS: OPERATORS_NODE_OPTIONS };
  if (container === 'api' && API_NODE_OPTIONS) return { NODE_OPTIONS: API_NODE_OPTIONS };
  if (IMAGE_ONLY) return {};
  const where = `deploy/base/${file}`;
  for (const doc of loadAll(readFileSync(join(root, where), 'utf8')) as { spec?: { template?: { spec?: { containers?: { name: string; env?: { name: string; value?: string }[] }[] } } } }[]) {
    const c = doc?.spec?.template?.spec?.containers?.find((x) => x.name === container);
    const v = c?.env?.find((e) => e.name === 'NODE_OPTIONS')?.value;
    if (v) return { NODE_OPTIONS: v };
  }
  throw new Error(`${where}: container ${container} sets no NODE_OPTIONS; run with --image-node-options to measure without`);
}

/** With BENCH_PROFILE_DIR=<dir>, every child writes CPU profiles into <dir>/<name>/ when it exits (one per thread). */
function profiled(name: string): string[] {
  const dir = process.env.BENCH_PROFILE_DIR;
  return dir ? ['--cpu-prof', `--cpu-prof-dir=${join(dir, name)}`] : [];
}

const children: { name: string; proc: ChildProcess; log: string[] }[] = [];
function start(name: string, args: string[], env: Record<string, string> = {}): ChildProcess {
  // NODE_OPTIONS as the image sets it (Dockerfile), unless `env` sets the deployment's (nodeOptions()).
  const proc = spawn(process.execPath, [...profiled(name), ...(name === 'api' ? API_NODE_ARGS : []), ENTRY, ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '--max-semi-space-size=64', ...env },
  });
  const log: string[] = [];
  // With BENCH_LOG_DIR=<dir>, each child's whole output goes to <dir>/<name>.log too (for --trace-gc).
  const file = process.env.BENCH_LOG_DIR ? createWriteStream(join(process.env.BENCH_LOG_DIR, `${name}.log`)) : undefined;
  const keep = (b: Buffer) => {
    file?.write(b);
    log.push(b.toString());
    if (log.length > 50) log.shift();
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  children.push({ name, proc, log });
  return proc;
}

async function waitFor(url: string, what: string, limitMs = 60_000): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    try {
      const r = await fetch(url);
      if (r.status < 500) return;
    } catch {
      // not up yet
    }
    if (Date.now() - t0 > limitMs) throw new Error(`${what} did not answer at ${url} within ${limitMs / 1000} s`);
    await sleep(250);
  }
}

/** Passes of one operator so far, from its /metrics. */
async function passes(metricsUrl: string, operator: string): Promise<number> {
  const text = await (await fetch(`${metricsUrl}/metrics`)).text();
  let n = 0;
  for (const m of text.matchAll(new RegExp(`^bos_operator_passes_total\\{[^}]*operator="${operator}"[^}]*\\} (\\d+)`, 'gm'))) n += Number(m[1]);
  return n;
}

const series: string[] = [];
function sample(label: string, pids: Record<string, number>): void {
  // RSS now, and the peak so far in brackets (a peak between two samples shows in the next one).
  const parts = Object.entries(pids).map(([name, pid]) => {
    const m = memoryOf(pid);
    return `${name} ${Math.round(m.rss)} (${Math.round(m.hwm)})`;
  });
  series.push(`${label}: ${parts.join(', ')} MiB`);
  console.log(`  RSS ${label}: ${parts.join(', ')} MiB`);
}

if (!SOURCES) execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs'), '--out', BUILD_DIR], { cwd: root, stdio: 'ignore' });
const redis = await startRedis();
try {
  console.log(machineLine());
  console.log(`code: ${SOURCES ? 'the TypeScript sources through tsx (--sources)' : `compiled (${BUILD_DIR}/), as the image runs it`}`);
  console.log(`compute nodes: ${COMPUTE} (room of ${roomSize(COMPUTE)}); API on Redis, simulator with instant hardware, operators; separate processes`);
  const apiOptions = nodeOptions('api.yaml', 'api');
  const operatorsOptions = nodeOptions('operators.yaml', 'operators');
  console.log(
    `NODE_OPTIONS: API ${apiOptions.NODE_OPTIONS ?? 'the image\'s (--max-semi-space-size=64), no heap ceiling'}; ` +
      `operators ${operatorsOptions.NODE_OPTIONS ?? 'the image\'s'}; simulator the image's`,
  );
  const [apiPort, simPort, metricsPort] = [await freePort(), await freePort(), await freePort()];
  const apiBase = `http://127.0.0.1:${apiPort}`;
  const sim = `http://127.0.0.1:${simPort}`;
  const api = `${apiBase}/v2`;
  const metrics = `http://127.0.0.1:${metricsPort}`;

  const simProc = start('sim', ['sim', '--nodes', String(roomSize(COMPUTE)), '--instant', '--port', String(simPort), '--bos-url', api]);
  const apiProc = start('api', [
    'serve', '--port', String(apiPort), '--redis', redis.url, '--log-level', 'warn',
    '--ims-url', `${sim}${SIM_PATHS.ims}`, '--tapms-url', `${sim}${SIM_PATHS.tapms}`,
  ], { S3_PROTOCOL: 'http', S3_GATEWAY: `127.0.0.1:${simPort}`, S3_ACCESS_KEY: 'bench', S3_SECRET_KEY: 'bench', ...apiOptions });
  await waitFor(`${api}/options`, 'bos serve');
  await waitFor(`${sim}${SIM_PATHS.hsm}/State/Components?limit=1`, 'bos sim');
  await call('PATCH', `${api}/options`, { discovery_frequency: 5, logging_level: 'WARNING' });
  if (REPORTERS !== undefined) await call('PATCH', `${sim}${SIM_CONTROL_PATH}/knobs`, { reporterConcurrency: REPORTERS });
  const opsProc = start('operators', [
    'operators', '--bos-url', api, '--hsm-url', `${sim}${SIM_PATHS.hsm}`, '--pcs-url', `${sim}${SIM_PATHS.pcs}`, '--bss-url', `${sim}${SIM_PATHS.bss}`,
    '--cfs-url', `${sim}${SIM_PATHS.cfs}`, '--ims-url', `${sim}${SIM_PATHS.ims}`, '--tapms-url', `${sim}${SIM_PATHS.tapms}`,
    '--s3-protocol', 'http', '--s3-gateway', `127.0.0.1:${simPort}`, '--s3-access-key', 'bench', '--s3-secret-key', 'bench', '--redis', redis.url, '--metrics-port', String(metricsPort),
    '--operator-log-level', 'warn',
  ], operatorsOptions);
  await waitFor(`${metrics}/metrics`, 'bos operators');
  const memPids = { api: apiProc.pid!, sim: simProc.pid!, operators: opsProc.pid! };
  sample('started', memPids);

  const t0 = Date.now();
  for (;;) {
    const n = await countComponents(api);
    if (n >= roomSize(COMPUTE)) break;
    if (Date.now() - t0 > 300_000) throw new Error(`discovery found ${n} of ${roomSize(COMPUTE)} in 300 s`);
    await sleep(1000);
  }
  console.log(`  discovery: ${roomSize(COMPUTE)} components in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  await call('PATCH', `${api}/options`, { discovery_frequency: 300 });
  sample('after discovery', memPids);

  await putAllComputeTemplate(sim, api, 'all');
  console.log(`  boot session: every compute node (${COMPUTE})`);
  const pids = { api: apiProc.pid!, sim: simProc.pid!, operators: opsProc.pid!, redis: redis.pid! };
  const passes0 = passTotalsFromText(await (await fetch(`${metrics}/metrics`)).text());
  const requests0 = requestTotalsFromText(await (await fetch(`${apiBase}/metrics`)).text());
  const cpu0 = cpuNow(pids);
  const tb = Date.now();
  await call('POST', `${api}/sessions`, { name: 'boot', template_name: 'all', operation: 'boot' });
  let nextSample = tb + 15_000;
  const { milestones, complete } = await watchBoot(
    { sessionUrl: `${api}/sessions/boot`, simCountsUrl: `${sim}${SIM_CONTROL_PATH}/counts`, pids, nodes: COMPUTE },
    tb,
    cpu0,
    BOOT_LIMIT_MS,
    () => {
      if (Date.now() < nextSample) return;
      sample(`boot +${Math.round((Date.now() - tb) / 1000)} s`, memPids);
      nextSample += 15_000;
    },
  );
  const bootState = complete ? `complete in ${((milestones[milestones.length - 1]!.at - tb) / 1000).toFixed(1)} s` : `not complete after the ${BOOT_LIMIT_MS / 1000} s limit`;
  console.log(`\nTimeline of the boot (CPU seconds per process in each interval):\n${timelineTable(milestones)}\n`);
  console.log(`Operator passes during the boot (count, summed wall time): ${passLine(passes0, passTotalsFromText(await (await fetch(`${metrics}/metrics`)).text()))}`);
  console.log(`API requests during the boot (count, summed time to answer): ${passLine(requests0, requestTotalsFromText(await (await fetch(`${apiBase}/metrics`)).text()))}\n`);
  console.log(`  boot session: ${bootState}`);
  sample('after the boot', memPids);

  // Every component enabled: the status operator's next passes go over all of them.
  const ids: string[] = [];
  for (let after: string | undefined; ; ) {
    const page = await call<{ id: string }[]>('GET', `${api}/components?page_size=5000${after ? `&start_after_id=${after}` : ''}`);
    ids.push(...page.map((c) => c.id));
    if (page.length < 5000) break;
    after = page[page.length - 1]!.id;
  }
  const before = await passes(metrics, 'status');
  const statusBefore = passTotalsFromText(await (await fetch(`${metrics}/metrics`)).text()).get('status') ?? { count: 0, seconds: 0 };
  for (let i = 0; i < ids.length; i += 5000) await call('PATCH', `${api}/components`, ids.slice(i, i + 5000).map((id) => ({ id, enabled: true })));
  const ts = Date.now();
  while ((await passes(metrics, 'status')) < before + 2 && Date.now() - ts < 180_000) await sleep(1000);
  const statusAfter = passTotalsFromText(await (await fetch(`${metrics}/metrics`)).text()).get('status') ?? { count: 0, seconds: 0 };
  const statusPasses = statusAfter.count - statusBefore.count;
  console.log(`  status passes over every component: ${statusPasses}, ${((statusAfter.seconds - statusBefore.seconds) / Math.max(1, statusPasses)).toFixed(2)} s each on average`);
  sample('after status passes over every component', memPids);

  // Two full listings, as an administrator's `bos components list` or a monitoring job asks.
  for (const n of [1, 2]) {
    const t = performance.now();
    const r = await fetch(`${api}/components`);
    const body = await r.text();
    console.log(`  full listing ${n}: ${roomSize(COMPUTE)} components, ${(body.length / 2 ** 20).toFixed(0)} MiB of JSON in ${((performance.now() - t) / 1000).toFixed(2)} s`);
  }
  sample('after two full listings', memPids);

  const peak = Object.fromEntries(Object.entries(memPids).map(([k, pid]) => [k, Math.round(memoryOf(pid).hwm)])) as Record<keyof typeof memPids, number>;
  console.log('\n| process | peak RSS (VmHWM) | target |');
  console.log('|---|---|---|');
  console.log(`| bos operators | ${peak.operators} MiB | < ${OPERATORS_TARGET_MIB} MiB: ${peak.operators < OPERATORS_TARGET_MIB ? 'met' : 'MISSED'} |`);
  console.log(`| bos serve (API, Redis store) | ${peak.api} MiB | – |`);
  console.log(`| bos sim | ${peak.sim} MiB | – |`);
  console.log(`\nRSS series (MiB; the peak so far in brackets):\n${series.map((s) => `- ${s}`).join('\n')}`);
} catch (err) {
  for (const c of children) console.error(`--- ${c.name} (last output) ---\n${c.log.join('').slice(-2000)}`);
  throw err;
} finally {
  for (const c of children) c.proc.kill('SIGTERM');
  // A child writing its CPU profile takes longer to exit.
  for (let waited = 0; waited < (process.env.BENCH_PROFILE_DIR ? 60_000 : 2000) && children.some((c) => c.proc.exitCode === null && c.proc.signalCode === null); waited += 250) await sleep(250);
  for (const c of children) if (c.proc.exitCode === null) c.proc.kill('SIGKILL');
  await redis.stop();
}
