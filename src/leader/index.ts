/**
 * Leader election for an operators process, from the settings of src/config.ts:
 *
 *   const config = loadConfig(process.env, flags);
 *   const election = startLeaderElection(config, { logger });
 *   const running = startOperators({ ..., leadership: election.gate });
 *   // on SIGTERM: await running.stop(); await election.stop();   (stop acting, then release the Lease)
 *
 * With leader election off (the default outside a cluster) the gate always says "leader".
 */
import type { KubeConfig, CoordinationV1Api } from '@kubernetes/client-node';
import type { Clock } from '../common/clock.js';
import type { Config } from '../config.js';
import { ALWAYS_LEADER, LeaderElector, type LeaderLogger, type LeadershipGate, type LeaseApi } from './lease.js';

export * from './lease.js';

export type LeaderElectionSettings = Pick<
  Config,
  'leaderElection' | 'leaseName' | 'leaseNamespace' | 'leaseIdentity' | 'leaseDurationSeconds' | 'renewDeadlineSeconds' | 'retryPeriodSeconds'
>;

export interface LeaderElection {
  /** Pass to the operators (`leadership`). */
  gate: LeadershipGate;
  /** The elector when leader election is on. */
  elector?: LeaderElector;
  /** Stop competing and release the Lease if held (no-op when off). */
  stop(): Promise<void>;
}

export interface StartLeaderElectionOptions {
  kubeConfig?: KubeConfig;
  api?: CoordinationV1Api | LeaseApi;
  clock?: Clock;
  logger?: LeaderLogger;
}

export function startLeaderElection(settings: LeaderElectionSettings, opts: StartLeaderElectionOptions = {}): LeaderElection {
  if (!settings.leaderElection) return { gate: ALWAYS_LEADER, stop: async () => undefined };
  const elector = new LeaderElector({
    namespace: settings.leaseNamespace,
    leaseName: settings.leaseName,
    identity: settings.leaseIdentity,
    leaseDurationSeconds: settings.leaseDurationSeconds,
    renewDeadlineSeconds: settings.renewDeadlineSeconds,
    retryPeriodSeconds: settings.retryPeriodSeconds,
    ...opts,
  });
  opts.logger?.info(
    { lease: `${settings.leaseNamespace}/${settings.leaseName}`, identity: settings.leaseIdentity },
    'leader election on: operators act only while this replica holds the lease',
  );
  elector.start();
  return { gate: elector.gate(), elector, stop: () => elector.stop() };
}
