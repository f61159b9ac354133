import { type Command, InvalidArgumentError } from 'commander';
import { FakeClock, systemClock, type Clock } from '../common/clock.js';
import { parseDuration } from '../common/duration.js';
import {
  INSTANT_KNOBS,
  SERVICE_PORT_ORDER,
  SIM_CONTROL_PATH,
  SIM_IN_CLUSTER_PATHS,
  SIM_SERVICES,
  SIM_SERVICE_HOSTS,
  SIM_PATHS,
  checkServicePortBase,
  defaultLayout,
  describeServicePorts,
  startSimulator,
  stream,
  type SimKnobs,
  type SimService,
} from '../sim/index.js';
import { messageOf } from '../common/errors.js';

/** Options of the simulator flags (shared by `bos sim` and the all-in-one server). */
export interface SimulatorCliOptions {
  nodes: number;
  seed?: number;
  bosUrl?: string;
  instant?: boolean;
  speed?: number;
  powerOnDelay?: number;
  powerOffDelay?: number;
  forceOffDelay?: number;
  bootDelay?: number;
  cfsDelay?: number;
  reportPeriod?: number;
  failRate?: Partial<Record<SimService, number>>;
  latency?: Partial<Record<SimService, number>>;
  initialPower?: 'on' | 'off';
  ignoreSoftOff?: string;
  neverBoot?: string;
  locked?: string;
  disabled?: string;
  cfsFailNodes?: string;
  failingConfig?: string[];
  cfsPageSize?: number;
  /** Base of the per-service ports (`--service-ports`). */
  servicePorts?: number;
}

/** `500ms`, or a duration of common/duration (`30s`, `2m`, `4h`, `0`) → milliseconds. */
export function parseMachineDelay(value: string): number {
  const ms = /^(\d+)ms$/.exec(value);
  if (ms) return Number(ms[1]);
  try {
    return parseDuration(value) * 1000;
  } catch {
    throw new InvalidArgumentError(`"${value}" is not a delay: use e.g. 500ms, 30s, 2m, 4h or 0`);
  }
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`"${value}" is not a whole number ≥ 1`);
  return n;
}

function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`"${value}" is not a whole number ≥ 0`);
  return n;
}

/** `--service-ports P`: a base port whose block of one port per service fits (0 = free ports). */
function servicePortBase(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError(`"${value}" is not a port number`);
  try {
    checkServicePortBase(n);
  } catch (e) {
    throw new InvalidArgumentError(messageOf(e));
  }
  return n;
}

/** The in-cluster base URLs the simulator answers by Host header (`http://cray-smd/hsm/v2`, …). */
export function inClusterNamesLine(): string {
  return SERVICE_PORT_ORDER.map((svc) => `http://${SIM_SERVICE_HOSTS[svc]}${SIM_IN_CLUSTER_PATHS[svc]}${svc === 's3' ? ' (S3)' : ''}`).join(', ');
}

/** `hsm=0.1,pcs=0.05` → per-service numbers (checked against `check`). */
function perService(what: string, check: (n: number) => boolean) {
  return (value: string): Partial<Record<SimService, number>> => {
    const out: Partial<Record<SimService, number>> = {};
    for (const part of value.split(',').map((p) => p.trim()).filter(Boolean)) {
      const [svc, raw] = part.split('=');
      const n = Number(raw);
      if (!svc || !(SIM_SERVICES as readonly string[]).includes(svc)) {
        throw new InvalidArgumentError(`"${part}": service must be one of ${SIM_SERVICES.join(', ')} (e.g. hsm=0.1,pcs=0.05)`);
      }
      if (raw === undefined || raw === '' || !Number.isFinite(n) || !check(n)) throw new InvalidArgumentError(`"${part}": ${what}`);
      out[svc as SimService] = n;
    }
    return out;
  };
}

/** Add the simulator's knob flags to a command. */
export function addSimulatorOptions(cmd: Command): Command {
  return cmd
    .option('--nodes <n>', 'number of simulated nodes', positiveInt, 100)
    .option('--seed <n>', 'seed of the pseudo-random choices (same seed, same run)', nonNegativeInt)
    .option('--bos-url <url>', 'BOS API base the booted nodes report to, e.g. http://127.0.0.1:8080/apis/bos/v2')
    .option('--instant', 'no machine delays: transitions, boots and configuration complete at once')
    .option('--speed <x>', 'run machine time this many times faster than real time', (v) => {
      const n = Number(v);
      if (!(n > 0)) throw new InvalidArgumentError(`"${v}" is not a positive number`);
      return n;
    })
    .option('--power-on-delay <delay>', 'PCS On → powered (e.g. 5s)', parseMachineDelay)
    .option('--power-off-delay <delay>', 'PCS Soft-Off → off', parseMachineDelay)
    .option('--force-off-delay <delay>', 'PCS Force-Off → off', parseMachineDelay)
    .option('--boot-delay <delay>', 'powered → booted (HSM Ready) and reporting', parseMachineDelay)
    .option('--cfs-delay <delay>', 'CFS pending → configured once booted', parseMachineDelay)
    .option('--report-period <delay>', 'state reporter period (default 3h = 0.75 × 4h)', parseMachineDelay)
    .option('--fail-rate <svc=p,...>', `share of calls answered 500 per service (${SIM_SERVICES.join(', ')})`, perService('rate must be between 0 and 1', (n) => n >= 0 && n <= 1))
    .option('--latency <svc=ms,...>', 'extra real-time latency per service in milliseconds', perService('latency must be ≥ 0 ms', (n) => n >= 0))
    .option('--initial-power <on|off>', 'power state the nodes start in', (v) => {
      if (v !== 'on' && v !== 'off') throw new InvalidArgumentError('use on or off');
      return v;
    })
    .option('--ignore-soft-off <n|xnames>', 'nodes that ignore a graceful power-off: a count (picked by seed) or a comma list')
    .option('--never-boot <n|xnames>', 'nodes that power on but never boot')
    .option('--locked <n|xnames>', 'nodes locked in HSM')
    .option('--disabled <n|xnames>', 'nodes disabled in HSM')
    .option('--cfs-fail-nodes <n|xnames>', 'nodes whose CFS configuration always fails')
    .option('--failing-config <names>', 'CFS configurations that fail (comma list)', (v) => v.split(',').map((s) => s.trim()).filter(Boolean))
    .option('--cfs-page-size <n>', 'CFS page size when the caller gives no limit', positiveInt)
    .option(
      '--service-ports <port>',
      `also listen on one port per service from this base, in-cluster paths without a prefix or Host header: ${SERVICE_PORT_ORDER.map((s, i) => `${s} +${i}`).join(', ')} (0 = any free ports)`,
      servicePortBase,
    );
}

/** A count picks that many compute nodes (seeded); anything else is a comma list of xnames. */
function pickNodes(spec: string | undefined, label: string, computeIds: string[], seed: number): string[] | undefined {
  if (spec === undefined) return undefined;
  if (/^\d+$/.test(spec)) return stream(seed, `cli-${label}`).sample(computeIds, Number(spec));
  return spec.split(',').map((s) => s.trim()).filter(Boolean);
}

/** Knobs and clock from parsed flags. */
export function simulatorConfigFromOptions(o: SimulatorCliOptions): { knobs: Partial<SimKnobs>; clock: Clock; seed: number } {
  const seed = o.seed ?? 1;
  const compute = defaultLayout(o.nodes).nodes.filter((n) => n.role === 'Compute').map((n) => n.id);
  const knobs: Partial<SimKnobs> = { ...(o.instant ? INSTANT_KNOBS : {}) };
  const set = <K extends keyof SimKnobs>(k: K, v: SimKnobs[K] | undefined) => {
    if (v !== undefined) knobs[k] = v;
  };
  set('powerOnDelayMs', o.powerOnDelay);
  set('powerOffDelayMs', o.powerOffDelay);
  set('forceOffDelayMs', o.forceOffDelay);
  set('bootDelayMs', o.bootDelay);
  set('cfsConfigureDelayMs', o.cfsDelay);
  set('reportPeriodMs', o.reportPeriod);
  set('failureRate', o.failRate);
  set('latencyMs', o.latency);
  set('initialPower', o.initialPower);
  set('ignoreSoftOff', pickNodes(o.ignoreSoftOff, 'ignore-soft-off', compute, seed));
  set('neverBoot', pickNodes(o.neverBoot, 'never-boot', compute, seed));
  set('locked', pickNodes(o.locked, 'locked', compute, seed));
  set('disabled', pickNodes(o.disabled, 'disabled', compute, seed));
  set('cfsFailNodes', pickNodes(o.cfsFailNodes, 'cfs-fail-nodes', compute, seed));
  set('failingConfigurations', o.failingConfig);
  set('cfsPageSize', o.cfsPageSize);
  const clock = o.speed && o.speed !== 1 ? new FakeClock(Date.now(), { speed: o.speed }) : systemClock;
  return { knobs, clock, seed };
}

export function register(program: Command): void {
  const cmd = program
    .command('sim')
    .description('run the simulated machine room: HSM, PCS, BSS, CFS, IMS, S3 and tenant endpoints over N simulated nodes on one port')
    .option('--port <port>', 'port to listen on (0 = any free port)', nonNegativeInt, 8090)
    .option('--host <host>', 'address to listen on', '127.0.0.1');
  addSimulatorOptions(cmd).action(async (opts: SimulatorCliOptions & { port: number; host: string }) => {
    const { knobs, clock, seed } = simulatorConfigFromOptions(opts);
    const sim = await startSimulator({
      nodes: opts.nodes,
      seed,
      clock,
      port: opts.port,
      host: opts.host,
      bosUrl: opts.bosUrl,
      knobs,
      servicePorts: opts.servicePorts,
      metrics: true,
    });
    const out = process.stdout;
    out.write(`simulated machine room: ${sim.room.size} nodes, seed ${seed}${opts.speed ? `, machine time ×${opts.speed}` : ''}\n`);
    for (const [svc, path] of Object.entries(SIM_PATHS)) {
      out.write(`  ${svc.padEnd(6)} ${svc === 's3' ? `${sim.url} (path style: ${sim.url}/<bucket>/<key>)` : sim.url + path}\n`);
    }
    out.write(`  control ${sim.url}${SIM_CONTROL_PATH} (summary, nodes, knobs)\n`);
    out.write(`  metrics ${sim.url}/metrics\n`);
    out.write(`  in-cluster names, by Host header or as HTTP proxy: ${inClusterNamesLine()}\n`);
    if (sim.servicePorts) out.write(describeServicePorts(sim.servicePorts).join('\n') + '\n');
    out.write(opts.bosUrl ? `  nodes report to ${opts.bosUrl}/components/<xname>\n` : '  no --bos-url: nodes do not report their state\n');
    const stop = async () => {
      await sim.close();
      process.exit(0);
    };
    process.once('SIGINT', () => void stop());
    process.once('SIGTERM', () => void stop());
  });
}
