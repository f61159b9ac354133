/**
 * The whole system in one process: the BOS v2 API, the simulated machine room and all eleven operators,
 * on one port laid out like the system's API gateway (BOS at /apis/bos/v2 and /v2, the simulated
 * services at their /apis/... paths, S3 path-style at /<bucket>/<key>), with /metrics beside them.
 * `bos up` runs it; the end-to-end tests and benchmarks start it directly.
 */
import { createServer } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { systemClock, type Clock } from './common/clock.js';
import { OPTION_DEFAULTS, type Options } from './common/options.js';
import { createServices, gatewayUrls, storeBootArtifacts, type ClosableServices } from './clients/index.js';
import type { HsmClient, ImsClient, S3Client, TenantClient } from './clients/types.js';
import { LocalChangeBus, RedisChangeBus, type ChangeBus } from './events/bus.js';
import { parseRedisTarget } from './clients/redis-target.js';
import { bounded, stopController } from './clients/deadline.js';
import { wakeOnChanges } from './events/wiring.js';
import type { Logger } from './log.js';
import { createMetrics, Registry, withProcessMetrics } from './metrics.js';
import { ApiMetrics, observedStore } from './server/metrics.js';
import { startOperators, type RunningOperators, type StartOperatorsOptions } from './operators/index.js';
import { buildApp, problemClientError } from './server/app.js';
import type { TokenVerifier } from './server/auth/verifier.js';
import type { TokenSource } from './clients/http.js';
import { MemoryStore } from './server/store/memory.js';
import type { Store } from './server/store/store.js';
import { buildSimApp, inClusterService, listenServicePorts, MachineRoom, type ServicePortListeners, type SimKnobs } from './sim/index.js';
import { messageOf } from './common/errors.js';

export interface SystemOptions {
  nodes: number;
  seed?: number;
  port?: number;
  host?: string;
  clock?: Clock;
  /** Run on Redis instead of in memory (one server, or `redis+sentinel://`). */
  redisUrl?: string;
  redisPassword?: string;
  redisSentinelPassword?: string;
  redisTls?: boolean;
  /** Replicas a write must reach before it is acknowledged (Redis WAIT), and for how long to wait. */
  redisWaitReplicas?: number;
  redisWaitTimeoutSeconds?: number;
  knobs?: Partial<SimKnobs>;
  /** Also serve each simulated service on its own port from this base (see `listenServicePorts`; 0 = free ports). */
  servicePorts?: number;
  /** Options written at start-up (only keys given here; the rest keep their stored or default value). */
  options?: Partial<Options>;
  /** Options written only when the store holds none yet (a first start); `options` go over them. */
  optionDefaults?: Partial<Options>;
  /** React to API changes within moments instead of waiting a polling period (default true). */
  wakeOnChanges?: boolean;
  /**
   * Verify bearer tokens on the API: the operators call it with `operatorsToken`, each simulated
   * node reports with `nodeToken(xname)` (`bos up --auth`).
   */
  auth?: { verifier: TokenVerifier; operatorsToken: TokenSource; nodeToken: (xname: string) => Promise<string | undefined> };
  /** Operators to run (default all); an empty list runs none. */
  operators?: string[];
  operatorOptions?: Pick<StartOperatorsOptions, 'minIntervalMs' | 'pollingOverride'>;
  logger?: Logger;
  /** Serve the web view at /ui/ and /apis/bos/ui/ (docs/ui.md); `bos up` does unless --no-ui. */
  ui?: boolean;
}

export interface RunningSystem {
  /** Base URL, e.g. http://127.0.0.1:8080. */
  url: string;
  /** The BOS API base the CLI and clients use (`<url>/apis/bos`). */
  bosUrl: string;
  app: FastifyInstance;
  store: Store;
  room: MachineRoom;
  /** The simulator's per-service ports, when `servicePorts` was given. */
  servicePorts?: ServicePortListeners;
  services: ClosableServices;
  operators?: RunningOperators;
  registry: Registry;
  close(): Promise<void>;
}

/** Paths the BOS API answers on the shared port (the web view's too); everything else belongs to the simulator. */
function isApiPath(path: string): boolean {
  return path === '/' || path === '/v2' || path.startsWith('/v2/') || path === '/apis/bos' || path.startsWith('/apis/bos/') || path === '/ui' || path.startsWith('/ui/');
}

/**
 * The API's clients of the tenant service, S3, IMS and HSM for a system whose services are made once
 * its port is known (`need()` gives them then). A request's calls are bounded by its deadline
 * through within(), as with `bos serve`'s own clients.
 */
export function lateClients(need: () => Pick<ClosableServices, 'tenants' | 's3' | 'ims' | 'hsm'>): { tenants: TenantClient; s3: S3Client; ims: ImsClient; hsm: HsmClient } {
  return {
    tenants: { tenantXnames: (t) => need().tenants.tenantXnames(t), within: (d) => bounded(need().tenants, d) },
    s3: {
      getObject: (url, o) => need().s3.getObject(url, o),
      headObject: (url) => need().s3.headObject(url),
      within: (d) => bounded(need().s3, d),
    },
    ims: {
      getImage: (id) => need().ims.getImage(id),
      listImages: () => need().ims.listImages(),
      tagImage: (id, k, v, op) => need().ims.tagImage(id, k, v, op),
      within: (d) => bounded(need().ims, d),
    },
    hsm: {
      listComponents: () => need().hsm.listComponents(),
      queryComponents: (ids, o) => need().hsm.queryComponents(ids, o),
      listGroups: () => need().hsm.listGroups(),
      listPartitions: () => need().hsm.listPartitions(),
      lockedNodes: () => need().hsm.lockedNodes(),
      within: (d) => bounded(need().hsm, d),
    },
  };
}

/** Start API + simulator + operators; resolves once everything listens. */
export async function startSystem(opts: SystemOptions): Promise<RunningSystem> {
  const clock = opts.clock ?? systemClock;
  const logger = opts.logger ?? pino({ level: 'info' });
  const registry = withProcessMetrics(new Registry());
  const metrics = createMetrics(registry);
  const apiMetrics = new ApiMetrics(registry);

  let baseStore: Store;
  let baseBus: ChangeBus;
  if (opts.redisUrl) {
    const { RedisStore } = await import('./server/store/redis/index.js');
    const settings = { password: opts.redisPassword, sentinelPassword: opts.redisSentinelPassword, tls: opts.redisTls };
    baseStore = await RedisStore.connect({ url: opts.redisUrl, ...settings, waitReplicas: opts.redisWaitReplicas, waitTimeoutSeconds: opts.redisWaitTimeoutSeconds });
    baseBus = new RedisChangeBus(parseRedisTarget(opts.redisUrl, settings));
  } else {
    baseStore = new MemoryStore();
    baseBus = new LocalChangeBus();
  }
  const { store, bus } = observedStore(baseStore, baseBus, apiMetrics);

  // Services are created once the port is known; the API reaches tenants, S3, IMS and HSM through them.
  let services: ClosableServices | undefined;
  const { tenants, s3, ims, hsm } = lateClients(() => {
    if (!services) throw new Error('the system is still starting');
    return services;
  });

  const app = await buildApp({
    store,
    tenants,
    s3,
    ims,
    hsm,
    clock,
    logger: logger.child({ part: 'api' }),
    prefixes: ['', '/apis/bos'],
    auth: opts.auth?.verifier,
    metrics: apiMetrics,
    ui: opts.ui,
  });
  const room = new MachineRoom({ nodes: opts.nodes, seed: opts.seed, clock, knobs: opts.knobs });
  if (opts.auth) room.nodeToken = opts.auth.nodeToken;
  const sim = buildSimApp(room);
  await sim.ready();

  // One port, two applications: the BOS API keeps its own body parsing and error answers, the
  // simulator its own; /metrics is answered here. A Host naming a simulated service in-cluster
  // (cray-smd, cray-cfs-api, …) goes to the simulator unless the path is a gateway path.
  const server = createServer((req, res) => {
    const simHost = inClusterService(req); // also turns an absolute-form (proxy) request target into origin-form
    const path = (req.url ?? '/').split('?')[0]!;
    if (path === '/metrics') {
      registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': registry.contentType });
          res.end(text);
        },
        (err: unknown) => {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(`metrics unavailable: ${messageOf(err)}\n`);
        },
      );
      return;
    }
    if (isApiPath(path) && !simHost) app.routing(req, res);
    else sim.routing(req, res);
  });
  server.keepAliveTimeout = 65_000;
  server.on('clientError', problemClientError);

  const host = opts.host ?? '127.0.0.1';
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    await room.close();
    await app.close();
    await sim.close();
    await store.close();
    await bus.close();
    throw new Error(
      `could not listen on ${host}:${opts.port ?? 0}: ${messageOf(e)} (choose another --port)`,
    );
  }
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
  let servicePorts: ServicePortListeners | undefined;
  if (opts.servicePorts !== undefined) {
    try {
      servicePorts = await listenServicePorts((req, res) => sim.routing(req, res), opts.servicePorts, host);
    } catch (e) {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await room.close();
      await app.close();
      await sim.close();
      await store.close();
      await bus.close();
      throw e;
    }
  }

  const given = opts.options ?? {};
  if (Object.keys(given).length > 0 || opts.optionDefaults) {
    const stored = await store.getOptions();
    if (!stored || Object.keys(given).length > 0) {
      await store.putOptions({ ...OPTION_DEFAULTS, ...(stored ?? opts.optionDefaults), ...given });
    }
  }

  let operators: RunningOperators | undefined;
  let latest: Options = { ...OPTION_DEFAULTS };
  // Closing aborts every call in flight and every retry wait, so passes end at once.
  const stopCalls = stopController();
  services = createServices({
    ...gatewayUrls(url),
    bootArtifacts: storeBootArtifacts(store),
    options: () => operators?.options() ?? latest,
    onRequest: metrics.onRequest,
    signal: stopCalls.signal,
    token: opts.auth?.operatorsToken,
  });

  room.bosUrl = `${url}/apis/bos/v2`;
  room.start();

  let unsubscribe = () => {};
  if (!opts.operators || opts.operators.length > 0) {
    operators = startOperators({
      services,
      clock,
      logger: logger.child({ part: 'operators' }),
      metrics,
      only: opts.operators,
      ...opts.operatorOptions,
    });
    latest = operators.options();
    metrics.watchLeadership('', () => true); // one process, no leader election
    if (opts.wakeOnChanges !== false) unsubscribe = wakeOnChanges(bus, operators.operators);
  }

  let closed = false;
  return {
    url,
    bosUrl: `${url}/apis/bos`,
    app,
    store,
    room,
    servicePorts,
    services,
    operators,
    registry,
    async close() {
      if (closed) return;
      closed = true;
      unsubscribe();
      stopCalls.abort(new Error('BOS is stopping'));
      await operators?.stop();
      await room.close();
      await servicePorts?.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await app.close();
      await sim.close();
      await services?.close();
      await bus.close();
      await store.close();
    },
  };
}
