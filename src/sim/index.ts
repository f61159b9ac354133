import type { Clock } from '../common/clock.js';
import { buildSimApp, SIM_PATHS } from './app.js';
import type { SimKnobs } from './knobs.js';
import { MachineRoom } from './room.js';
import { simMetrics } from './metrics.js';
import { listenServicePorts, type ServicePortListeners } from './routing.js';

export { MachineRoom,  } from './room.js';
export type {
  SimNode,
  
  
  
  
  
  PowerTransitionOperation,
  CfsConfiguration,
  CfsSession,
} from './room.js';
export { buildSimApp,  SIM_PATHS, SIM_CONTROL_PATH,  } from './app.js';
export {
  SIM_SERVICE_HOSTS,
  SIM_IN_CLUSTER_PATHS,
  SERVICE_PORT_ORDER,
  checkServicePortBase,
  describeServicePorts,
  inClusterService,
  listenServicePorts,
  serviceForHost,
  
  
} from './routing.js';
import { messageOf } from '../common/errors.js';
export type { ServicePortListeners,  } from './routing.js';
export {  INSTANT_KNOBS, SIM_SERVICES,  } from './knobs.js';
export type { SimKnobs, SimService } from './knobs.js';
export { defaultLayout, computeXname } from './layout.js';
export { SIM_IMAGES, SIM_BROKEN_MANIFESTS,  manifestPath } from './images.js';
export {  stream } from './prng.js';

export interface StartSimulatorOptions {
  nodes: number;
  seed?: number;
  clock?: Clock;
  /** Default 0 (a free port). */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** BOS API base the nodes report to, e.g. `http://127.0.0.1:8080/apis/bos/v2`. */
  bosUrl?: string;
  knobs?: Partial<SimKnobs>;
  /**
   * Also listen on one port per service, from this base in SERVICE_PORT_ORDER (HSM base, PCS
   * base+1, BSS +2, CFS +3, IMS +4, TAPMS +5, S3 +6; 0 = a free port each), serving the in-cluster
   * paths without a Host header. Default: no such ports.
   */
  servicePorts?: number;
  /** Serve `/metrics` (process metrics, boots and reports: src/sim/metrics.ts); `bos sim` does. */
  metrics?: boolean;
}

export interface RunningSimulator {
  /** Base URL of the simulator, e.g. `http://127.0.0.1:40123` (services under SIM_PATHS). */
  url: string;
  /** Every service base URL. */
  urls: Record<keyof typeof SIM_PATHS, string>;
  /** The per-service ports, when `servicePorts` was given. */
  servicePorts?: ServicePortListeners;
  room: MachineRoom;
  close(): Promise<void>;
}

/** The base URL of each simulated service under a simulator base URL. */
function serviceUrls(base: string): Record<keyof typeof SIM_PATHS, string> {
  const b = base.replace(/\/+$/, '');
  return Object.fromEntries(Object.entries(SIM_PATHS).map(([k, p]) => [k, b + p])) as Record<keyof typeof SIM_PATHS, string>;
}

/** Build a machine room, serve it over HTTP and start its clock-driven scheduler. */
export async function startSimulator(opts: StartSimulatorOptions): Promise<RunningSimulator> {
  const room = new MachineRoom({ nodes: opts.nodes, seed: opts.seed, clock: opts.clock, bosUrl: opts.bosUrl, knobs: opts.knobs });
  const app = buildSimApp(room);
  if (opts.metrics) {
    const registry = simMetrics(room);
    app.get('/metrics', async (_req, reply) => reply.type(registry.contentType).send(await registry.metrics()));
  }
  const host = opts.host ?? '127.0.0.1';
  try {
    await app.listen({ port: opts.port ?? 0, host });
  } catch (e) {
    await room.close();
    throw new Error(`the simulator could not listen on ${host}:${opts.port ?? 0}: ${messageOf(e)}`);
  }
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port ?? 0;
  const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  const url = `http://${shownHost}:${port}`;
  let servicePorts: ServicePortListeners | undefined;
  if (opts.servicePorts !== undefined) {
    try {
      servicePorts = await listenServicePorts((req, res) => app.routing(req, res), opts.servicePorts, host);
    } catch (e) {
      await room.close();
      await app.close();
      throw e;
    }
  }
  room.start();
  let closed = false;
  return {
    url,
    urls: serviceUrls(url),
    servicePorts,
    room,
    async close() {
      if (closed) return;
      closed = true;
      await room.close();
      await servicePorts?.close();
      await app.close();
    },
  };
}
