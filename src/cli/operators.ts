/**
 * `bos operators`: run the reconciliation operators (all eleven, or `--only` some) against a BOS API and
 * the HSM, PCS, BSS, CFS, IMS, tenant and S3 services, with `/metrics`, `/healthz` and `/readyz` on
 * the metrics port. Configured by environment variables and flags (src/config.ts); SIGTERM or SIGINT
 * lets the current passes finish, releases the leader lease if held, and exits.
 *
 *   bos operators --bos-url http://cray-bos/v2 --metrics-port 9090
 *   bos operators --only status,power-on --operator-log-level debug
 */
import type { Command } from 'commander';
import { loadConfig, s3Endpoint, SETTINGS, type Config, type ConfigFlags } from '../config.js';
import type { Services } from '../clients/types.js';
import { stopController } from '../clients/deadline.js';
import { createLogger, type Logger } from '../log.js';
import { createMetrics, Registry, withProcessMetrics, type OperatorMetrics } from '../metrics.js';
import { startOperators, type RunningOperators } from '../operators/index.js';
import { Heartbeat, liveness, readiness, startHealthServer, type HealthServer } from '../operators/health.js';
import type { LeadershipGate } from '../operators/runner.js';
import { redisConnection } from './redis.js';

/** The settings `bos operators` reads (everything else in the table belongs to the API). */
export const OPERATOR_SETTING_KEYS: readonly (keyof Config)[] = [
  'bosUrl',
  'hsmUrl',
  'pcsUrl',
  'bssUrl',
  'cfsUrl',
  'imsUrl',
  'tapmsUrl',
  's3Protocol',
  's3Gateway',
  's3AccessKey',
  's3SecretKey',
  'tokenFile',
  'redisUrl',
  'redisPasswordFile',
  'redisSentinelPasswordFile',
  'redisTls',
  'redisWaitReplicas',
  'redisWaitTimeout',
  'host',
  'metricsPort',
  'operatorLogLevel',
  'only',
  'livenessDeltaMax',
  'largePassThreshold',
  'leaderElection',
  'leaseName',
  'leaseNamespace',
  'leaseIdentity',
  'leaseDurationSeconds',
  'renewDeadlineSeconds',
  'retryPeriodSeconds',
];

const BOOLEAN_KEYS = new Set<keyof Config>(['redisTls', 'leaderElection']);

/** Where a setting means something more specific for this process than for the API. */
const HELP_FOR_OPERATORS: Partial<Record<keyof Config, string>> = {
  host: 'address the metrics port binds (`0.0.0.0` in a pod)',
  redisUrl: 'Redis of the BOS database: boot-artifact records (DB 4) and change events that wake the operators; default for the records `redis://cray-bos-db:6379`',
};
const DEFAULT_BOOT_ARTIFACTS_REDIS = 'redis://cray-bos-db:6379';

function camel(flag: string): string {
  return flag.replace(/^--/, '').replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

export interface OperatorsProcess {
  operators: RunningOperators;
  health: HealthServer;
  registry: Registry;
  metrics: OperatorMetrics;
  /** Finish current passes, release the lease, close connections and the HTTP server. */
  close(): Promise<void>;
}

export interface OperatorsProcessDeps {
  /** Services to use instead of HTTP clients built from the config (tests, embedding). */
  services?: Services & { close?: () => Promise<void> };
  logger?: Logger;
  /** Leadership gate to use instead of the Lease from the config. */
  leadership?: LeadershipGate;
}

/** Start the operators process described by `config`. */
export async function startOperatorsProcess(config: Config, deps: OperatorsProcessDeps = {}): Promise<OperatorsProcess> {
  const logger = deps.logger ?? createLogger({ level: config.operatorLogLevel });
  const registry = withProcessMetrics(new Registry());
  const metrics = createMetrics(registry);
  // Shutdown order: operators (current passes finish), change bus, lease, connections, probes.
  let stopBus: (() => Promise<void>) | undefined;
  let stopElector: (() => Promise<void>) | undefined;

  let operators: RunningOperators | undefined;
  let services: Services & { close?: () => Promise<void> };
  // Stopping aborts every call in flight and every retry wait, so a pass ends at once even while a
  // service is down (the next process finishes what it left: every pass can be repeated).
  const stopCalls = stopController();
  if (deps.services) {
    services = deps.services;
  } else {
    const { createServices } = await import('../clients/index.js');
    const endpoint = s3Endpoint(config);
    services = createServices({
      bosUrl: config.bosUrl,
      hsmUrl: config.hsmUrl,
      pcsUrl: config.pcsUrl,
      bssUrl: config.bssUrl,
      cfsUrl: config.cfsUrl,
      imsUrl: config.imsUrl,
      tenantsUrl: config.tapmsUrl,
      s3: endpoint ? { endpoint, accessKey: config.s3AccessKey, secretKey: config.s3SecretKey } : {},
      redisUrl: redisConnection(config, DEFAULT_BOOT_ARTIFACTS_REDIS).target,
      redisWait: { replicas: config.redisWaitReplicas, timeoutSeconds: config.redisWaitTimeout },
      tokenFile: config.tokenFile || undefined,
      options: () => operators!.options(),
      onRequest: metrics.onRequest,
      signal: stopCalls.signal,
    });
  }

  let leadership = deps.leadership;
  if (!leadership && config.leaderElection) {
    const { startLeaderElection } = await import('../leader/index.js');
    const election = startLeaderElection(config, { logger: logger.child({ part: 'leader' }) });
    leadership = election.gate;
    stopElector = () => election.stop();
  }

  metrics.watchLeadership(config.leaderElection && !deps.leadership ? `${config.leaseNamespace}/${config.leaseName}` : '', () => leadership?.isLeader() ?? true);
  operators = startOperators({ services, logger, metrics, only: config.only, leadership, largePassThreshold: config.largePassThreshold });

  if (config.redisUrl) {
    const { RedisChangeBus } = await import('../events/bus.js');
    const { wakeOnChanges } = await import('../events/wiring.js');
    const bus = new RedisChangeBus(redisConnection(config).target);
    const unsubscribe = wakeOnChanges(bus, operators.operators);
    stopBus = async () => {
      unsubscribe();
      await bus.close();
    };
  }

  const heartbeat = new Heartbeat(Math.max(1000, Math.min(5000, (config.livenessDeltaMax * 1000) / 4)));
  const health = await startHealthServer({
    registry,
    port: config.metricsPort,
    host: config.host,
    live: () => liveness(operators!.health(), heartbeat.ageMs(), Date.now(), { livenessDeltaMaxSeconds: config.livenessDeltaMax }),
    ready: () => readiness(services),
  });
  logger.info({ url: health.url, operators: [...operators.operators.keys()] }, `operators running; metrics and probes on ${health.url}`);

  const running = operators;
  const closers: (() => Promise<void> | void)[] = [
    () => stopCalls.abort(new Error('the operators are stopping')),
    () => running.stop(),
    () => stopBus?.(),
    () => stopElector?.(),
    () => services.close?.(),
    () => heartbeat.stop(),
    () => health.close(),
  ];
  let closing: Promise<void> | undefined;
  return {
    operators,
    health,
    registry,
    metrics,
    close() {
      closing ??= (async () => {
        for (const c of closers) {
          try {
            await c();
          } catch (err) {
            logger.error({ err: (err as Error).message }, 'error while shutting down');
          }
        }
      })();
      return closing;
    },
  };
}

/** Commander flags → config flags by setting key. */
export function flagsFromCommander(opts: Record<string, unknown>): ConfigFlags {
  const out: ConfigFlags = {};
  for (const s of SETTINGS) {
    if (!OPERATOR_SETTING_KEYS.includes(s.key)) continue;
    const v = opts[camel(s.flag)];
    if (v !== undefined) out[s.key] = v;
  }
  return out;
}

export function register(program: Command): void {
  const cmd = program
    .command('operators')
    .description('run the BOS reconciliation operators with /metrics, /healthz and /readyz on the metrics port');
  for (const s of SETTINGS) {
    if (!OPERATOR_SETTING_KEYS.includes(s.key)) continue;
    const help = `${HELP_FOR_OPERATORS[s.key] ?? s.description} (env ${s.env})`;
    if (BOOLEAN_KEYS.has(s.key)) cmd.option(`${s.flag} [value]`, `${help}; true or false`);
    else cmd.option(`${s.flag} <value>`, help);
  }
  cmd.addHelpText(
    'after',
    '\nOperators: discovery, session-setup, power-on, power-off-graceful, power-off-forceful, configuration,\n' +
      '  status, actual-state-cleanup, session-completion, session-cleanup\n' +
      'Examples:\n' +
      '  bos operators --bos-url http://127.0.0.1:8080/apis/bos/v2 --metrics-port 9090\n' +
      '  BOS_OPERATORS=status,power-on bos operators\n',
  );
  cmd.action(async (opts: Record<string, unknown>) => {
    const config = loadConfig(process.env, flagsFromCommander(opts));
    const proc = await startOperatorsProcess(config);
    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      process.stderr.write(`bos operators: ${signal}: finishing the current passes...\n`);
      await proc.close();
      process.exit(0);
    };
    process.on('SIGTERM', () => void stop('SIGTERM'));
    process.on('SIGINT', () => void stop('SIGINT'));
  });
}
