/**
 * How a request reaches a simulated service. Three layouts lead to the same handlers:
 *
 * - the API gateway layout (`/apis/smd/hsm/v2/...`, SIM_PATHS), on any Host;
 * - the in-cluster layout, chosen by the Host header (or the host of an absolute-form request
 *   target, as an HTTP client sends through a proxy): `http://cray-smd/hsm/v2/...`,
 *   `http://cray-power-control/power-status`, `http://cray-cfs-api/v3/...` (the fully qualified
 *   `cray-smd.services.svc.cluster.local` too);
 * - one port per service (`--service-ports`), serving that service's in-cluster paths whatever the
 *   Host header says.
 *
 * Everything is rewritten to the gateway layout before fastify routes it (`simRewriteUrl`). Paths of
 * the JSON services lose doubled and trailing slashes on the way (upstream BOS asks HSM for
 * `/hsm/v2//State/Components`); S3 keys are left exactly as sent.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { SimService } from './knobs.js';
import { messageOf } from '../common/errors.js';

/** Where each service lives on the simulator's port (the API gateway layout). */
export const SIM_PATHS = {
  hsm: '/apis/smd/hsm/v2',
  pcs: '/apis/power-control/v1',
  bss: '/apis/bss/boot/v1',
  cfs: '/apis/cfs/v3',
  ims: '/apis/ims/v3',
  tapms: '/apis/tapms/v1alpha3',
  s3: '',
} as const satisfies Record<SimService, string>;

/** The simulator's own inspection and fault-staging API (not part of any real service). */
export const SIM_CONTROL_PATH = '/apis/sim/v1';

/** The in-cluster (Kubernetes service) host name of each simulated service. */
export const SIM_SERVICE_HOSTS = {
  hsm: 'cray-smd',
  pcs: 'cray-power-control',
  bss: 'cray-bss',
  cfs: 'cray-cfs-api',
  ims: 'cray-ims',
  tapms: 'cray-tapms',
  s3: 'rgw-vip',
} as const satisfies Record<SimService, string>;

/** The path each service's API starts at under its in-cluster name (`http://cray-smd/hsm/v2`). */
export const SIM_IN_CLUSTER_PATHS = {
  hsm: '/hsm/v2',
  pcs: '',
  bss: '/boot/v1',
  cfs: '/v3',
  ims: '/v3',
  tapms: '/v1alpha3',
  s3: '',
} as const satisfies Record<SimService, string>;

/** `--service-ports P`: service i of this list listens on P + i. */
export const SERVICE_PORT_ORDER: readonly SimService[] = ['hsm', 'pcs', 'bss', 'cfs', 'ims', 'tapms', 's3'];

/** Whom a request is for: a simulated service, the control API, or some other gateway path. */
export type SimTarget = SimService | 'control' | 'other';

interface Routed {
  target: SimTarget;
  /** The request target in the gateway layout (path and query). */
  url: string;
}

const routed = new WeakMap<IncomingMessage, Routed>();
const forced = new WeakMap<IncomingMessage, SimService>();

const HOST_TO_SERVICE = new Map<string, SimService>(Object.entries(SIM_SERVICE_HOSTS).map(([svc, host]) => [host, svc as SimService]));

/** The service an in-cluster host name stands for: `cray-smd`, `cray-smd:80`, `cray-smd.services.svc.cluster.local`. */
export function serviceForHost(host: string | undefined): SimService | undefined {
  if (!host) return undefined;
  let h = host.trim().toLowerCase();
  if (h.startsWith('[')) return undefined; // an IPv6 literal
  h = h.replace(/:\d*$/, '').replace(/\.$/, '');
  const dot = h.indexOf('.');
  return HOST_TO_SERVICE.get(dot < 0 ? h : h.slice(0, dot));
}

/**
 * An absolute-form request target (`GET http://cray-smd/hsm/v2/... HTTP/1.1`, what a client sends
 * to an HTTP proxy) becomes origin-form, its host the Host header. Idempotent.
 */
function toOriginForm(req: IncomingMessage): void {
  const url = req.url ?? '/';
  const m = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)(.*)$/i.exec(url);
  if (!m) return;
  const authority = m[1]!.replace(/^[^@]*@/, '');
  if (authority) req.headers.host = authority;
  const rest = m[2] ?? '';
  req.url = rest.startsWith('/') ? rest : `/${rest}`;
}

/** Collapse doubled slashes and drop a trailing one. */
function cleanPath(path: string): string {
  const p = path.replace(/\/{2,}/g, '/');
  return p.length > 1 && p.endsWith('/') ? p.slice(0, -1) : p;
}

function isGatewayPath(cleaned: string): boolean {
  return cleaned === '/apis' || cleaned.startsWith('/apis/');
}

function gatewayTarget(cleaned: string): SimTarget {
  if (cleaned === SIM_CONTROL_PATH || cleaned.startsWith(`${SIM_CONTROL_PATH}/`)) return 'control';
  for (const svc of SERVICE_PORT_ORDER) {
    const base = SIM_PATHS[svc];
    if (base && (cleaned === base || cleaned.startsWith(`${base}/`))) return svc;
  }
  return 'other';
}

/** An in-cluster path of `svc` in the gateway layout (unknown paths land where no route is). */
function inCluster(svc: SimService, path: string): string {
  if (svc === 's3') return path;
  const p = cleanPath(path);
  const prefix = SIM_IN_CLUSTER_PATHS[svc];
  if (prefix === '') return SIM_PATHS[svc] + (p === '/' ? '' : p);
  if (p === prefix || p.startsWith(`${prefix}/`)) return SIM_PATHS[svc] + p.slice(prefix.length);
  return `${SIM_PATHS[svc]}/-not-found-${p}`;
}

/**
 * The in-cluster service a request's Host names, when the request is for it: gateway paths
 * (`/apis/...`) go by their prefix on any Host, so they never count as in-cluster.
 */
export function inClusterService(req: IncomingMessage): SimService | undefined {
  toOriginForm(req);
  const path = (req.url ?? '/').split('?')[0]!;
  if (isGatewayPath(cleanPath(path))) return undefined;
  return serviceForHost(req.headers.host);
}

function route(req: IncomingMessage): Routed {
  toOriginForm(req);
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const query = q < 0 ? '' : url.slice(q);
  const pinned = forced.get(req);
  if (pinned) return { target: pinned, url: inCluster(pinned, path) + query };
  const cleaned = cleanPath(path);
  if (isGatewayPath(cleaned)) {
    const target = gatewayTarget(cleaned);
    return { target, url: cleaned + query };
  }
  const svc = serviceForHost(req.headers.host);
  if (svc) return { target: svc, url: inCluster(svc, path) + query };
  return { target: 's3', url };
}

/** fastify's `rewriteUrl` for the simulator's own instance: every layout to the gateway layout. */
export function simRewriteUrl(req: IncomingMessage): string {
  const r = route(req);
  routed.set(req, r);
  return r.url;
}

/** Whom a request (already routed, or in the gateway layout) is for. */
export function targetOf(req: IncomingMessage): SimTarget {
  const r = routed.get(req);
  if (r) return r.target;
  const path = (req.url ?? '/').split('?')[0]!;
  const cleaned = cleanPath(path);
  return isGatewayPath(cleaned) ? gatewayTarget(cleaned) : 's3';
}

/** The base URL of each service's in-cluster API under `origin` (`http://cray-smd` → `http://cray-smd/hsm/v2`). */
function inClusterBase(svc: SimService, origin: string): string {
  return origin.replace(/\/+$/, '') + SIM_IN_CLUSTER_PATHS[svc];
}

export interface ServicePortListeners {
  /** Port of each service. */
  ports: Record<SimService, number>;
  /** Base URL of each service's in-cluster API on its port (`http://127.0.0.1:27001/hsm/v2`). */
  urls: Record<SimService, string>;
  close(): Promise<void>;
}

/** Check a `--service-ports` base: every port of the block must be a valid TCP port. */
export function checkServicePortBase(base: number): void {
  const last = base + SERVICE_PORT_ORDER.length - 1;
  if (!Number.isInteger(base) || base < 0 || (base > 0 && last > 65535)) {
    throw new RangeError(`service ports ${base}..${last} do not fit: use 0 (any free ports) or a base from 1 to ${65535 - SERVICE_PORT_ORDER.length + 1}`);
  }
}

/**
 * Listen on one port per service (`base`, `base + 1`, … in SERVICE_PORT_ORDER; 0 = a free port
 * each). Each port hands its requests to `handler` (the simulator's fastify `routing`) pinned to its
 * service, so they need neither a gateway prefix nor a Host header.
 */
export async function listenServicePorts(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  base: number,
  host = '127.0.0.1',
): Promise<ServicePortListeners> {
  checkServicePortBase(base);
  const servers: Server[] = [];
  const ports = {} as Record<SimService, number>;
  const urls = {} as Record<SimService, string>;
  const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  const closeAll = async () => {
    await Promise.all(
      servers.map(
        (s) =>
          new Promise<void>((r) => {
            s.closeAllConnections();
            s.close(() => r());
          }),
      ),
    );
  };
  try {
    for (const [i, svc] of SERVICE_PORT_ORDER.entries()) {
      const server = createServer((req, res) => {
        forced.set(req, svc);
        handler(req, res);
      });
      server.keepAliveTimeout = 65_000;
      const want = base === 0 ? 0 : base + i;
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(want, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      servers.push(server);
      const addr = server.address();
      ports[svc] = typeof addr === 'object' && addr ? addr.port : want;
      urls[svc] = inClusterBase(svc, `http://${shownHost}:${ports[svc]}`);
    }
  } catch (e) {
    await closeAll();
    throw new Error(`the ${SERVICE_PORT_ORDER[servers.length]} service port could not listen: ${messageOf(e)}`);
  }
  let closed = false;
  return {
    ports,
    urls,
    async close() {
      if (closed) return;
      closed = true;
      await closeAll();
    },
  };
}

/** The lines `bos sim`/`bos up` print about the service ports. */
export function describeServicePorts(l: ServicePortListeners): string[] {
  return [
    '  per-service ports (in-cluster paths, no Host header needed):',
    ...SERVICE_PORT_ORDER.map((svc) => `    ${svc.padEnd(6)} ${l.urls[svc]}${svc === 's3' ? '/<bucket>/<key>' : ''}`),
  ];
}
