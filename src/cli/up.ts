/**
 * `bos up`: the whole system in one process on the embedded default (what `npm start` runs): the BOS
 * v2 API on the in-memory store (or Redis with --redis), the simulated machine room, all eleven
 * operators and /metrics, on one port laid out like the system's API gateway.
 */
import { Command, InvalidArgumentError } from 'commander';
import { pino } from 'pino';
import { isOptionName, OPTION_NAMES, type Options } from '../common/options.js';
import type { SimKnobs } from '../sim/knobs.js';
import { bosLevel } from '../log.js';
import type { TokenSource } from '../clients/http.js';
import { startSystem, type RunningSystem, type SystemOptions } from '../system.js';
import { parseOptionValue } from './admin/options.js';
import { readPasswordFile } from './redis.js';
import { parsePort } from './serve.js';
import { describeServicePorts } from '../sim/index.js';
import { addSimulatorOptions, inClusterNamesLine, simulatorConfigFromOptions, type SimulatorCliOptions } from './sim.js';

/**
 * Machine delays of the demo room: long enough to watch each phase go by, short enough that a boot
 * of 64 nodes completes in well under a minute.
 */
export const DEMO_KNOBS: Readonly<Partial<SimKnobs>> = Object.freeze({
  powerOnDelayMs: 2_000,
  powerOffDelayMs: 3_000,
  forceOffDelayMs: 1_000,
  bootDelayMs: 6_000,
  cfsConfigureDelayMs: 4_000,
});

/** Operator tuning of the demo: poll every 2 s (changes through the API wake operators at once). */
export const DEMO_OPTIONS = Object.freeze({
  polling_frequency: 2,
  discovery_frequency: 10,
  max_power_on_wait_time: 30,
  max_power_off_wait_time: 15,
  max_boot_wait_time: 60,
});

export interface UpOptions extends Omit<SimulatorCliOptions, 'bosUrl'> {
  nodes: number;
  port: number;
  host: string;
  seed: number;
  instant?: boolean;
  /** BOS options written at start-up (`--option key=value`), over the demo tuning. */
  option?: Partial<Options>;
  redis?: string;
  redisPasswordFile?: string;
  redisTls?: boolean;
  logLevel: string;
  /** --log-level was on the command line (it then sets logging_level on a restart too). */
  logLevelGiven?: boolean;
  /** false (`--no-operators`): the API and the simulator only, for other operators (upstream's) to drive. */
  operators?: boolean;
  /** Verify tokens, issued by a development issuer made at start (`--auth`). */
  auth?: boolean;
  /** false (`--no-ui`): no web view at /ui/. */
  ui?: boolean;
}

/** Hours the administrator token `bos up --auth` prints stays valid. */
const ADMIN_TOKEN_HOURS = 24;

function positiveInt(what: string, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || n < 1 || n > max) {
      throw new InvalidArgumentError(`"${value}" is not a valid ${what}: use a whole number from 1 to ${max}`);
    }
    return n;
  };
}

/** `--option key=value` (repeatable): one BOS option, typed and checked by the option rules. */
export function collectOption(text: string, previous: Partial<Options> = {}): Partial<Options> {
  const eq = text.indexOf('=');
  const key = (eq < 0 ? text : text.slice(0, eq)).trim();
  if (eq < 0 || !isOptionName(key)) {
    throw new InvalidArgumentError(
      eq < 0 ? `"${text}" is not key=value (e.g. cleanup_completed_session_ttl=1m)` : `"${key}" is not a BOS option (one of ${OPTION_NAMES.join(', ')})`,
    );
  }
  let value: number | boolean | string;
  try {
    value = parseOptionValue(key, text.slice(eq + 1).trim());
  } catch (err) {
    throw new InvalidArgumentError(`${key}: ${(err as Error).message}`);
  }
  return { ...previous, [key]: value };
}

/** The development issuer and the tokens of `bos up --auth`: the operators and the administrator as admins, each node with its xname. */
async function devAuth(): Promise<{ system: NonNullable<SystemOptions['auth']>; adminToken: string }> {
  const { DevIssuer } = await import('../server/auth/dev-issuer.js');
  const issuer = await DevIssuer.create();
  const admin = { realm_access: { roles: ['admin'] } };
  const nodes = new Map<string, TokenSource>();
  return {
    adminToken: await issuer.mint('bos-admin', admin, ADMIN_TOKEN_HOURS * 3600),
    system: {
      verifier: issuer.verifier(),
      operatorsToken: issuer.source('bos-operators', admin),
      nodeToken: (xname) => {
        let src = nodes.get(xname);
        if (!src) nodes.set(xname, (src = issuer.source(xname, { realm_access: { roles: ['system-compute'] }, xname })));
        return src.get();
      },
    },
  };
}

export async function up(o: UpOptions): Promise<RunningSystem> {
  const logger = pino({ level: o.logLevel });
  const auth = o.auth ? await devAuth() : undefined;
  // The demo delays unless --instant; any knob flag given overrides them.
  const sim = simulatorConfigFromOptions(o);
  const system = await startSystem({
    nodes: o.nodes,
    seed: o.seed,
    port: o.port,
    host: o.host,
    clock: sim.clock,
    knobs: { ...(o.instant ? {} : DEMO_KNOBS), ...sim.knobs },
    servicePorts: o.servicePorts,
    // The demo tuning on a first start only: a restart on Redis keeps what was stored (and changed).
    // The logging_level option governs the operators' level; start it at the level asked for.
    optionDefaults: { ...DEMO_OPTIONS, logging_level: bosLevel(o.logLevel) },
    options: { ...(o.logLevelGiven ? { logging_level: bosLevel(o.logLevel) } : {}), ...o.option },
    redisUrl: o.redis,
    redisPassword: o.redisPasswordFile ? readPasswordFile(o.redisPasswordFile) : undefined,
    redisTls: o.redisTls,
    ...(o.operators === false ? { operators: [] } : {}),
    ...(auth ? { auth: auth.system } : {}),
    ui: o.ui !== false,
    logger,
  });
  const u = system.url;
  process.stdout.write(
    [
      `BOS is up with ${o.nodes} simulated nodes on ${o.redis ? 'Redis' : 'the in-memory store'}${o.instant ? ' (instant hardware)' : ''}${o.speed && o.speed !== 1 ? ` (machine time ×${o.speed})` : ''}${o.operators === false ? ', no operators' : ''}:`,
      `  BOS v2 API   ${u}/apis/bos/v2   (also ${u}/v2)`,
      ...(o.ui !== false ? [`  web view     ${u}/ui/   (sessions and every node, live)`] : []),
      `  metrics      ${u}/metrics`,
      `  HSM          ${u}/apis/smd/hsm/v2/State/Components`,
      `  IMS images   ${u}/apis/ims/v3/images`,
      `  PCS, BSS, CFS, tenants and S3 under ${u}/apis/... and ${u}/boot-images/...`,
      `  in-cluster names, by Host header or as HTTP proxy: http://cray-bos/v2, ${inClusterNamesLine()}`,
      ...(system.servicePorts ? describeServicePorts(system.servicePorts) : []),
      ...(auth
        ? [
            `  tokens       required by the API (development issuer; the operators and the simulated nodes have theirs).`,
            `               An administrator token, valid ${ADMIN_TOKEN_HOURS} h, for the bos commands and the demo:`,
            `  export BOS_TOKEN=${auth.adminToken}`,
          ]
        : []),
      `Next: in another terminal, \`npm run demo -- --url ${u}/apis/bos\` boots every compute node and shows the progress;`,
      `      \`bos components list --url ${u}/apis/bos\` lists the nodes. Ctrl-C stops.`,
      '',
    ].join('\n'),
  );
  return system;
}

/** The simulator's flags `bos up` defines itself (with its own defaults) or has no use for. */
const OWN_FLAGS = new Set(['--nodes', '--seed', '--instant', '--bos-url']);

export function register(program: Command): void {
  const cmd = program
    .command('up')
    .description('run the BOS v2 API, all operators and a simulated machine room in one process (the embedded default)')
    .option('--nodes <n>', 'number of simulated nodes', positiveInt('node count', 200_000), 64)
    .option('--port <port>', 'port of the API-gateway-shaped listener (0 = any free port)', parsePort, 8080)
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--seed <n>', 'seed of the simulation (same seed, same machine room and faults)', positiveInt('seed', 2 ** 31 - 1), 1)
    .option('--instant', 'no simulated hardware delays: power, boot and configuration complete at once')
    .option('--redis <url>', 'keep BOS data in Redis (survives a restart) instead of in memory')
    .option('--redis-password-file <file>', 'file holding the Redis password')
    .option('--redis-tls', 'connect to Redis over TLS')
    .option('--log-level <level>', 'log level of the process (trace, debug, info, warn, error, silent)', 'warn')
    .option('--no-operators', "run no operators: the API and the simulator only, for other operators (e.g. upstream's) to drive")
    .option('--auth', 'verify bearer tokens on the API, issued by a development issuer made at start; prints an administrator token')
    .option('--no-ui', 'no web view at /ui/')
    .option('--option <key=value>', 'set a BOS option at start-up (repeatable), e.g. --option cleanup_completed_session_ttl=1m', collectOption);
  // The simulator's knob flags (machine delays, --speed, faulty nodes, failure rates), as `bos sim` has them.
  for (const opt of addSimulatorOptions(new Command()).options) {
    if (!OWN_FLAGS.has(opt.long ?? '')) cmd.addOption(opt);
  }
  cmd
    .addHelpText(
      'after',
      [
        '',
        'Without --instant the machine runs the demo delays (power on 2s, off 3s, boot 6s, CFS 4s); a delay flag',
        'overrides one of them. Node flags take a count (picked by --seed) or a comma list of xnames.',
        '',
        'Examples:',
        '  bos up                      # 64 nodes on http://127.0.0.1:8080',
        '  bos up --nodes 1000 --instant',
        '  bos up --redis redis://127.0.0.1:6379   # restart it and everything is still there',
        '  bos up --instant --never-boot 2 --failing-config bad --option default_retry_policy=1 --option max_boot_wait_time=5',
        '  bos up --instant --speed 30 --option cleanup_completed_session_ttl=1m   # complete sessions gone in ~2 s',
        '',
      ].join('\n'),
    )
    .action(async (o: UpOptions) => {
      const system = await up({ ...o, logLevelGiven: cmd.getOptionValueSource('logLevel') === 'cli' });
      let stopping = false;
      const stop = async () => {
        if (stopping) return;
        stopping = true;
        process.stdout.write('stopping: finishing the current operator passes...\n');
        await system.close();
        process.stdout.write('stopped\n');
        process.exit(0);
      };
      process.on('SIGINT', () => void stop());
      process.on('SIGTERM', () => void stop());
    });
}
