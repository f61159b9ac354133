/**
 * One pass of each operator at scale (default 100,000 compute nodes): the BOS API (memory store), a
 * simulated machine room of as many nodes (instant hardware) and the eleven operators, in one process
 * over loopback HTTP, with the operator loops not started: every pass is driven by hand with
 * `runner.runOnce()`, in the order a boot and then a reboot needs them. The nodes' state reports
 * are written by the bench in bulk PATCHes (the simulator's per-node reporters are switched off),
 * so each pass is measured alone.
 *
 * With `--split`, the shape of a deployment instead: the API (on Redis: a throw-away redis-server)
 * and the machine room each run in a child process (bench/system-child.ts), the operators in this
 * one, so they share the machine's two cores as separate pods would; the table then gives the CPU
 * of the operators, the API, the simulator and redis-server during each pass.
 *
 *   npx tsx bench/run.ts operators            # 100,000 nodes
 *   npx tsx bench/operators.bench.ts 10000 [--split] [--rounds=N]   (N status passes over every component changed, default 2)
 */
import { pino } from 'pino';
import { OPTION_DEFAULTS } from '../src/common/options.js';
import { createServices, type ClosableServices } from '../src/clients/index.js';
import { startOperators, type OperatorName } from '../src/operators/index.js';
import { INSTANT_KNOBS } from '../src/sim/index.js';
import { startSystem } from '../src/system.js';
import { call, machineLine, memoryOf, putAllComputeTemplate, roomSize, speedProbe, startSystemChild } from './scale-common.js';

const SPLIT = process.argv.includes('--split');
const COMPUTE = Number(process.argv.slice(2).find((a) => !a.startsWith('--')) ?? 100_000);
/** `--rounds=N`: status passes that change every component, after the first (default 2). */
const ROUNDS = Number(process.argv.find((a) => a.startsWith('--rounds='))?.slice('--rounds='.length) ?? 2);
if (!Number.isInteger(ROUNDS) || ROUNDS < 1) throw new Error(`--rounds must be a whole number of at least 1, not ${ROUNDS}`);
const STATUS_TARGET_MS = 4000;

interface Target {
  /** Root URL of the API. */
  url: string;
  /** Root URL of the simulated services. */
  simUrl: string;
  services: ClosableServices;
  close(): Promise<void>;
  /** Split only: start or stop the CPU profiles of the API (BENCH_CHILD_PROFILE) and the simulator (BENCH_SIM_PROFILE). */
  toggleChildProfile?(): Promise<void>;
  /** Split only: CPU used so far by the API, the simulator and redis-server, in ms. */
  childCpuMs?(): { api: number; sim: number; redis: number };
}

/** API + machine room in this process, memory store. */
async function inProcess(): Promise<Target> {
  const system = await startSystem({ nodes: roomSize(COMPUTE), seed: 1, knobs: INSTANT_KNOBS, operators: [], logger: pino({ level: 'silent' }) });
  // No per-node reporters: the bench writes the reports in bulk (below).
  system.room.bosUrl = undefined;
  return { url: system.url, simUrl: system.url, services: system.services, close: () => system.close() };
}

/** API (Redis store) and machine room each in a child process; this process's clients reach them over loopback. */
async function split(): Promise<Target> {
  const child = await startSystemChild(roomSize(COMPUTE));
  const services = createServices({ ...child.urls, redisUrl: child.redisUrl, options: () => OPTION_DEFAULTS });
  return {
    url: child.apiUrl,
    simUrl: child.simUrl,
    services,
    toggleChildProfile: () => child.toggleProfile(),
    childCpuMs: () => child.cpuMs(),
    async close() {
      await services.close();
      await child.stop();
    },
  };
}

const system = SPLIT ? await split() : await inProcess();
const api = `${system.url}/v2`;
const ops = startOperators({ services: system.services, autoStart: false, logger: pino({ level: 'silent' }) });

interface Row {
  step: string;
  operator: OperatorName;
  ms: number;
  cpuMs: number;
  /** Split only: CPU of the API, the simulator and redis-server during the pass. */
  apiCpuMs?: number;
  simCpuMs?: number;
  redisCpuMs?: number;
  selected: number;
  acted: number;
  ok: boolean;
  error?: string;
}
const rows: Row[] = [];

/**
 * CPU profiles: BENCH_STATUS_PROFILE=<file> profiles this process (the operators), BENCH_CHILD_PROFILE=<file>
 * the API and BENCH_SIM_PROFILE=<file> the simulator (split). The pass profiled is the first whose step contains BENCH_PROFILE_STEP, or else an
 * extra status pass over every component, every one changed, at the end.
 */
const PROFILE_STEP = process.env.BENCH_PROFILE_STEP;
let profileTaken = false;

async function startProfile(): Promise<() => Promise<void>> {
  profileTaken = true;
  const { Session } = await import('node:inspector/promises');
  const { writeFileSync } = await import('node:fs');
  const file = process.env.BENCH_STATUS_PROFILE;
  const s = new Session();
  if (file) {
    s.connect();
    await s.post('Profiler.enable');
    await s.post('Profiler.start');
  }
  await system.toggleChildProfile?.();
  return async () => {
    await system.toggleChildProfile?.();
    if (file) {
      const { profile } = await s.post('Profiler.stop');
      writeFileSync(file, JSON.stringify(profile));
      s.disconnect();
    }
  };
}

async function pass(operator: OperatorName, step: string): Promise<Row> {
  const profiled = PROFILE_STEP !== undefined && !profileTaken && step.includes(PROFILE_STEP);
  const stopProfile = profiled ? await startProfile() : undefined;
  const cpu0 = process.cpuUsage();
  const child0 = system.childCpuMs?.();
  const t0 = performance.now();
  const r = await ops.operators.get(operator)!.runOnce();
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const child1 = system.childCpuMs?.();
  await stopProfile?.();
  const row: Row = { step, operator, ms, cpuMs: (cpu.user + cpu.system) / 1000, selected: r.selected, acted: r.acted, ok: r.ok, error: r.error };
  if (child0 && child1) {
    row.apiCpuMs = child1.api - child0.api;
    row.simCpuMs = child1.sim - child0.sim;
    row.redisCpuMs = child1.redis - child0.redis;
  }
  rows.push(row);
  console.log(`  ${operator.padEnd(21)} ${step.padEnd(44)} ${String(Math.round(ms)).padStart(6)} ms  selected ${r.selected}, acted ${r.acted}${r.ok ? '' : `, FAILED: ${r.error}`}`);
  return row;
}

/** What the nodes' reporters would send once booted, for every node at once (bulk PATCH). */
async function reportAll(): Promise<void> {
  const comps = await call<{ id: string; desired_state?: { bss_token?: string } }[]>('GET', `${api}/components?enabled=true`);
  const patches = comps.filter((c) => c.desired_state?.bss_token).map((c) => ({ id: c.id, actual_state: { bss_token: c.desired_state!.bss_token } }));
  for (let i = 0; i < patches.length; i += 5000) await call('PATCH', `${api}/components`, patches.slice(i, i + 5000));
}

async function enableAll(): Promise<void> {
  const ids = (await call<{ id: string }[]>('GET', `${api}/components`)).map((c) => c.id);
  for (let i = 0; i < ids.length; i += 5000) await call('PATCH', `${api}/components`, ids.slice(i, i + 5000).map((id) => ({ id, enabled: true })));
}

try {
  console.log(machineLine());
  console.log(
    `compute nodes: ${COMPUTE} (room of ${roomSize(COMPUTE)}), ${SPLIT ? 'API (Redis store) and simulator each in a child process, operators in this one' : 'one process, memory store'}, ` +
      'instant hardware, operator options at their defaults (max_component_batch_size 2800)',
  );
  await pass('discovery', 'HSM nodes new to BOS: create every one');
  await pass('discovery', 'nothing new');
  await putAllComputeTemplate(system.simUrl, api, 'all');
  await call('POST', `${api}/sessions`, { name: 'boot', template_name: 'all', operation: 'boot' });
  await pass('session-setup', 'boot session: desired state of every node');
  await pass('status', 'boot: every node off, to power on');
  await pass('power-on', 'every node: IMS, BSS, CFS, PCS On');
  // Every node powered on and not booted yet: the pass decides nothing changes (a typical pass during a boot).
  const quietRows: Row[] = [];
  for (let i = 0; i < 2; i++) quietRows.push(await pass('status', `every node powered on, not booted: no change (round ${i + 1})`));
  await reportAll();
  const statusAfterBoot = await pass('status', 'every node booted: decide, disable (PATCH)');
  await pass('configuration', 'nothing configuring');
  await pass('power-off-graceful', 'nothing to power off');
  await pass('power-off-forceful', 'nothing to power off');
  await pass('session-completion', 'boot session: every node done');
  await pass('actual-state-cleanup', 'every actual state fresh');
  await pass('session-cleanup', 'nothing old enough');
  // The status pass over every component: each node booted and configured is enabled again before
  // the pass, which decides each one is stable and disables it (one PATCH entry per node).
  const statusRows: Row[] = [statusAfterBoot];
  for (let i = 0; i < ROUNDS; i++) {
    await enableAll();
    statusRows.push(await pass('status', `every node enabled again, booted: decide, disable (round ${i + 1})`));
  }
  await call('POST', `${api}/sessions`, { name: 'reboot', template_name: 'all', operation: 'reboot' });
  await pass('session-setup', 'reboot session: desired state of every node');
  await pass('status', 'reboot: on, boot artifacts differ');
  await pass('power-off-graceful', 'reboot: every node');
  await pass('power-off-forceful', 'reboot: none past the graceful wait');
  await pass('status', 'reboot: every node off');
  await pass('power-on', 'reboot: every node');
  if (PROFILE_STEP === undefined && process.env.BENCH_STATUS_PROFILE) {
    await reportAll();
    await enableAll();
    const stopProfile = await startProfile();
    await pass('status', 'profiled');
    await stopProfile();
  }

  const mem = memoryOf();
  const best = Math.min(...statusRows.map((r) => r.ms));
  const median = statusRows.map((r) => r.ms).sort((a, b) => a - b)[Math.floor(statusRows.length / 2)]!;
  console.log(`\nspeed probe at the end: ${speedProbe()} ms (at the start: see the machine line)`);
  console.log(`process peak RSS (${SPLIT ? 'operators' : 'API + simulator + operators, one process'}): ${Math.round(mem.hwm)} MiB`);
  const cpuColumns = SPLIT ? ' operators cpu ms | API cpu ms | simulator cpu ms | redis-server cpu ms |' : ' process cpu ms |';
  console.log(`\n| operator | pass | nodes selected | acted | wall ms |${cpuColumns}`);
  console.log(`|---|---|---|---|---|${SPLIT ? '---|---|---|---|' : '---|'}`);
  for (const r of rows) {
    const cpu = SPLIT ? [r.cpuMs, r.apiCpuMs, r.simCpuMs, r.redisCpuMs].map((v) => Math.round(v ?? NaN)).join(' | ') : `${Math.round(r.cpuMs)}`;
    console.log(`| ${r.operator} | ${r.step} | ${r.selected} | ${r.acted} | ${Math.round(r.ms)} | ${cpu} |${r.ok ? '' : ` FAILED: ${r.error}`}`);
  }
  const quiet = Math.min(...quietRows.map((r) => r.ms));
  console.log(`\nstatus pass over ${COMPUTE} enabled components that need no change: best ${Math.round(quiet)} ms of ${quietRows.length} (target < ${STATUS_TARGET_MS} ms: ${quiet < STATUS_TARGET_MS ? 'met' : 'MISSED'})`);
  console.log(
    `status pass over ${COMPUTE} enabled components, every one changed: best ${Math.round(best)} ms, median ${Math.round(median)} ms of ${statusRows.length} ` +
      `(target < ${STATUS_TARGET_MS} ms: ${median < STATUS_TARGET_MS ? 'met' : best < STATUS_TARGET_MS ? 'met by the best, missed by the median' : 'MISSED'})`,
  );
} finally {
  await ops.stop();
  await system.close();
}
