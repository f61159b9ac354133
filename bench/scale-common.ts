/**
 * Helpers shared by the scale benchmarks (boot, operators, rss, soak): machine facts, a small JSON
 * HTTP client, waiting for discovery, the two-boot-set template that covers every compute node,
 * session timing, reading a process's peak RSS and CPU, the operators' pass totals, and the API +
 * simulator child process of the split (deployment-shaped) runs.
 */
import { execSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import type { Registry } from 'prom-client';
import { gatewayUrls, type ServiceUrls } from '../src/clients/index.js';
import { freePort } from '../test/helpers/net.js';
import { startRedis } from '../test/helpers/redis.js';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The value after `--name` on the command line, or `fallback` when it is missing or empty. */
export function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

/** The middle value (the upper one of an even count), as the benches report it. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Machine, Node version, date and commit, one line. */
export function machineLine(): string {
  let commit = 'unknown';
  try {
    commit = execSync('git rev-parse --short HEAD', { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    // not a git checkout
  }
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const mem = (os.totalmem() / 2 ** 30).toFixed(0);
  const load = os.loadavg().map((l) => l.toFixed(1)).join(' ');
  return `machine: ${cpu}, nproc ${os.availableParallelism()}, ${mem} GiB, Node ${process.version}; date ${new Date().toISOString().slice(0, 16)}Z; commit ${commit}; load ${load}; speed probe ${speedProbe()} ms`;
}

/**
 * The machine's speed at the moment, as the median ms of five rounds of a fixed piece of the work
 * the scale benches measure (JSON.stringify and JSON.parse of 10,000 component-like records of
 * about 2 KB). The machines these benches run on have slower periods (every process 30–50 % slower
 * for minutes or hours); figures taken at different probe values are not comparable as they are.
 */
export function speedProbe(): number {
  const params = 'console=ttyS0,115200 bad_page=panic crashkernel=512M hugepagelist=2m-2g intel_iommu=off '.repeat(8);
  const records = Array.from({ length: 10_000 }, (_, i) => ({
    id: `x${1000 + (i >> 8)}c0s${i & 255}b0n0`,
    desired_state: { boot_artifacts: { kernel: `s3://boot-images/${i}/kernel`, kernel_parameters: `${params}${i}`, initrd: `s3://boot-images/${i}/initrd` }, configuration: 'cfg' },
    actual_state: { boot_artifacts: { kernel: `s3://boot-images/${i}/kernel`, kernel_parameters: `${params}${i}`, initrd: `s3://boot-images/${i}/initrd` }, last_updated: '2026-12-04T00:00:00' },
    enabled: true,
    status: { phase: '', status_override: '', status: 'stable' },
  }));
  const times: number[] = [];
  for (let round = 0; round < 5; round++) {
    const t0 = performance.now();
    const parsed = JSON.parse(JSON.stringify(records)) as unknown[];
    if (parsed.length !== records.length) throw new Error('speed probe: records lost');
    times.push(performance.now() - t0);
  }
  return Math.round(times.sort((a, b) => a - b)[2]!);
}

export async function call<T = unknown>(method: string, url: string, body?: unknown): Promise<T> {
  const res = await fetch(url, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${url}: HTTP ${res.status}: ${text.slice(0, 300)}`);
  return (text ? JSON.parse(text) : null) as T;
}

/** Count BOS components one page at a time (no 100 MB answer just to count). */
export async function countComponents(api: string): Promise<number> {
  let n = 0;
  let after: string | undefined;
  for (;;) {
    const q = `page_size=5000${after ? `&start_after_id=${encodeURIComponent(after)}` : ''}`;
    const page = await call<{ id: string }[]>('GET', `${api}/components?${q}`);
    n += page.length;
    if (page.length < 5000) return n;
    after = page[page.length - 1]!.id;
  }
}

/** Wait until BOS holds `n` components; returns the ms it took. */
export async function waitForComponents(api: string, n: number, limitMs = 180_000): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    const have = await countComponents(api);
    if (have >= n) return performance.now() - t0;
    if (performance.now() - t0 > limitMs) throw new Error(`discovery found only ${have} of ${n} nodes in ${limitMs / 1000} s`);
    await sleep(250);
  }
}

/**
 * A template booting every compute node: the X86 image on the X86/unknown-arch ones, the ARM image
 * on the ARM ones. With the default layout, a room of `compute + 11` nodes has `compute` compute
 * nodes (3 management and 8 application nodes besides).
 */
export async function putAllComputeTemplate(root: string, api: string, name: string): Promise<void> {
  const images = await call<{ name: string; link: { path: string } }[]>('GET', `${root}/apis/ims/v3/images`);
  const path = (n: string) => images.find((i) => i.name === n)!.link.path;
  await call('PUT', `${api}/sessiontemplates/${name}`, {
    enable_cfs: true,
    cfs: { configuration: 'cos-config' },
    boot_sets: {
      x86: { path: path('compute-cos-x86_64'), type: 's3', node_roles_groups: ['Compute'], arch: 'X86', rootfs_provider: 'sbps', kernel_parameters: 'console=ttyS0' },
      arm: { path: path('compute-cos-aarch64'), type: 's3', node_roles_groups: ['Compute'], arch: 'ARM', rootfs_provider: 'sbps', kernel_parameters: 'console=ttyS0' },
    },
  });
}

/** Nodes of the default layout for `compute` compute nodes. */
export function roomSize(compute: number): number {
  return compute + 11;
}

export interface SessionResult {
  ms: number;
  /** False when the time limit came first (ms is then the limit). */
  complete: boolean;
  nodes: number;
  successful: number;
  failed: number;
  /** percent_complete of the phases when the session ended or the limit came. */
  percentComplete: number;
}

/** Create a session and wait until BOS marks it complete, or at most `limitMs`. */
export async function timeSession(api: string, name: string, template: string, operation: 'boot' | 'reboot' | 'shutdown', limitMs = 300_000): Promise<SessionResult> {
  const t0 = performance.now();
  await call('POST', `${api}/sessions`, { name, template_name: template, operation });
  let complete = false;
  for (;;) {
    const s = await call<{ status: { status: string } }>('GET', `${api}/sessions/${name}`);
    if (s.status.status === 'complete') {
      complete = true;
      break;
    }
    if (performance.now() - t0 > limitMs) break;
    await sleep(100);
  }
  const ms = performance.now() - t0;
  const st = await call<{ managed_components_count: number; percent_successful: number; percent_failed: number; phases: { percent_complete: number } }>(
    'GET',
    `${api}/sessions/${name}/status`,
  );
  return { ms, complete, nodes: st.managed_components_count, successful: st.percent_successful, failed: st.percent_failed, percentComplete: st.phases.percent_complete };
}

/** `12.3 s`, or `not complete after 300 s (99.96% of nodes done)`. */
export function sessionTime(r: SessionResult): string {
  return r.complete ? `${(r.ms / 1000).toFixed(1)} s` : `not complete after ${(r.ms / 1000).toFixed(0)} s (${r.percentComplete}% of nodes done)`;
}

/** VmHWM / VmRSS of a process in MiB (Linux /proc). */
export function memoryOf(pid: number | 'self' = 'self'): { hwm: number; rss: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  return { hwm: kb('VmHWM') / 1024, rss: kb('VmRSS') / 1024 };
}

/** CPU time (user + system) a process has used so far, in ms (Linux /proc; clock ticks of 10 ms). */
function cpuMsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10; // utime, stime (fields 14 and 15 of stat)
}

/**
 * Replace the section headed `## <heading>` of bench/RESULTS.md with `section` (which starts with that
 * heading), or append it when the file has no such section. Other sections are kept as they are.
 */
export function writeResultsSection(heading: string, section: string, file = resultsFile()): void {
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmark results\n';
  const escaped = heading.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const start = text.search(new RegExp(`^## ${escaped}\\s*$`, 'm'));
  let out: string;
  if (start < 0) {
    out = text.trimEnd() + '\n\n' + section;
  } else {
    const rest = text.slice(start + 1);
    const next = rest.search(/^## /m);
    const end = next < 0 ? text.length : start + 1 + next;
    out = text.slice(0, start) + section + (end < text.length ? '\n' + text.slice(end) : '');
  }
  writeFileSync(file, out);
  console.log(`wrote the results into ${file}`);
}

function resultsFile(): string {
  return join(dirname(fileURLToPath(import.meta.url)), 'RESULTS.md');
}

/** Passes run so far and their summed duration in seconds, per operator. */
export type PassTotals = Map<string, { count: number; seconds: number }>;

/** Read the pass-duration histogram (`bos_operator_pass_duration_seconds`) of an operators registry. */
export async function passTotals(registry: Registry): Promise<PassTotals> {
  const out: PassTotals = new Map();
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === 'bos_operator_pass_duration_seconds');
  for (const v of (metric?.values ?? []) as { metricName?: string; labels: Record<string, string | number>; value: number }[]) {
    const op = String(v.labels.operator);
    const t = out.get(op) ?? { count: 0, seconds: 0 };
    if (v.metricName?.endsWith('_count')) t.count += v.value;
    else if (v.metricName?.endsWith('_sum')) t.seconds += v.value;
    out.set(op, t);
  }
  return out;
}

/**
 * Count and summed seconds of a histogram in a /metrics text, per key made of each series' labels
 * (series with the same key add up).
 */
function histogramTotalsFromText(text: string, metric: string, keyOf: (label: (name: string) => string) => string): PassTotals {
  const out: PassTotals = new Map();
  for (const m of text.matchAll(new RegExp(`^${metric}_(sum|count)\\{([^}]*)\\} (\\S+)$`, 'gm'))) {
    const key = keyOf((name) => new RegExp(`${name}="([^"]*)"`).exec(m[2]!)?.[1] ?? '');
    const t = out.get(key) ?? { count: 0, seconds: 0 };
    if (m[1] === 'count') t.count += Number(m[3]);
    else t.seconds += Number(m[3]);
    out.set(key, t);
  }
  return out;
}

/** The pass totals of an operators process from its /metrics text. */
export function passTotalsFromText(text: string): PassTotals {
  return histogramTotalsFromText(text, 'bos_operator_pass_duration_seconds', (label) => label('operator'));
}

/** API requests so far by method and route template, from the API's /metrics text. */
export function requestTotalsFromText(text: string): PassTotals {
  return histogramTotalsFromText(text, 'bos_api_request_duration_seconds', (label) => `${label('method')} ${label('route')}`);
}

/**
 * "status 12× 9.1 s, power-on 3× 2.0 s, …": the passes (or API requests) between two snapshots,
 * longest first.
 */
export function passLine(before: PassTotals, after: PassTotals): string {
  return [...after.entries()]
    .map(([op, t]) => ({ op, count: t.count - (before.get(op)?.count ?? 0), seconds: t.seconds - (before.get(op)?.seconds ?? 0) }))
    .filter((t) => t.count > 0)
    .sort((a, b) => b.seconds - a.seconds)
    .map((t) => `${t.op} ${t.count}× ${t.seconds.toFixed(1)} s`)
    .join(', ');
}

export interface SystemChild {
  /** Root URL of the API (`<apiUrl>/v2`, `<apiUrl>/apis/bos/v2`). */
  apiUrl: string;
  /** Root URL of the simulated services (laid out as the system's API gateway). */
  simUrl: string;
  /** Every service's URL: BOS at the API, the rest at the simulator. */
  urls: ServiceUrls;
  /** The throw-away redis-server the API stores in (and publishes change events on). */
  redisUrl: string;
  /** CPU time (user + system) the API, the simulator and redis-server have used so far, in ms (Linux /proc). */
  cpuMs(): { api: number; sim: number; redis: number };
  /** Start, or stop and write, the CPU profile of the API (BENCH_CHILD_PROFILE=<file>) and of the simulator (BENCH_SIM_PROFILE=<file>). */
  toggleProfile(): Promise<void>;
  stop(): Promise<void>;
}

/** bench/system-child.ts in one role, once it prints the URL it listens on. */
async function startChild(args: string[], profileFile: string | undefined): Promise<{ proc: ChildProcess; url: string; output: () => string; profiled: boolean }> {
  const script = join(dirname(fileURLToPath(import.meta.url)), 'system-child.ts');
  const flags = process.execArgv.filter((a) => a.startsWith('--max-semi-space-size'));
  const env = { ...process.env, BENCH_CHILD_PROFILE: profileFile ?? '' };
  const proc: ChildProcess = spawn(process.execPath, [...flags, '--import', 'tsx', script, ...args], { stdio: ['ignore', 'pipe', 'inherit'], env });
  let out = '';
  proc.stdout!.setEncoding('utf8');
  proc.stdout!.on('data', (d: string) => (out += d));
  const url = await new Promise<string>((resolve, reject) => {
    const check = () => {
      const m = /listening (\S+)/.exec(out);
      if (m) resolve(m[1]!);
    };
    proc.stdout!.on('data', check);
    proc.once('exit', (code) => reject(new Error(`bench/system-child.ts ${args[0]} exited (${code}) before listening`)));
  });
  return { proc, url, output: () => out, profiled: !!profileFile };
}

/**
 * The shape of a deployment around the operators: a throw-away redis-server, the BOS API on it and
 * a machine room of `nodes` nodes (instant hardware), each in a process of its own
 * (bench/system-child.ts), as the API and the services it drives run on other pods and nodes than
 * the operators. With `reporters` booted nodes report to the API. The children get this process's
 * `--max-semi-space-size`.
 */
export async function startSystemChild(nodes: number, opts: { reporters?: boolean } = {}): Promise<SystemChild> {
  const redis = await startRedis();
  const simPort = await freePort();
  const simUrl = `http://127.0.0.1:${simPort}`;
  const api = await startChild(['api', redis.url, simUrl], process.env.BENCH_CHILD_PROFILE);
  const sim = await startChild(['sim', String(nodes), String(simPort), ...(opts.reporters ? [`${api.url}/apis/bos/v2`] : [])], process.env.BENCH_SIM_PROFILE);
  const stop = async (p: ChildProcess) => {
    if (p.exitCode !== null || p.signalCode !== null) return;
    const exited = once(p, 'exit');
    p.kill('SIGTERM');
    await exited;
  };
  return {
    apiUrl: api.url,
    simUrl: sim.url,
    urls: { ...gatewayUrls(sim.url), bosUrl: `${api.url}/apis/bos/v2` },
    redisUrl: redis.url,
    cpuMs: () => ({ api: cpuMsOf(api.proc.pid!), sim: cpuMsOf(sim.proc.pid!), redis: redis.pid === undefined ? NaN : cpuMsOf(redis.pid) }),
    async toggleProfile() {
      // Only a child given a profile file handles SIGUSR2.
      for (const child of [api, sim].filter((c) => c.profiled)) {
        const before = child.output().length;
        child.proc.kill('SIGUSR2');
        while (!/profil(ing|ed)\n$/.test(child.output().slice(before))) await sleep(50);
      }
    },
    async stop() {
      await Promise.all([stop(sim.proc), stop(api.proc)]);
      await redis.stop();
    },
  };
}
