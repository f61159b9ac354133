/**
 * End-to-end harness: the whole system (BOS API, simulated machine room, all ten operators) on one
 * loopback port, driven by a FakeClock that runs machine time many times faster than real time, with
 * realistic-but-short machine delays. Helpers speak to BOS over HTTP like an administrator would and
 * read the machine room directly to check what really happened to the hardware.
 */
import { pino } from 'pino';
import { FakeClock } from '../../src/common/clock.js';
import type { Options } from '../../src/common/options.js';
import type { SimKnobs, SimNode } from '../../src/sim/index.js';
import { SIM_IMAGES, manifestPath } from '../../src/sim/index.js';
import { startSystem, type RunningSystem, type SystemOptions } from '../../src/system.js';

type Obj = Record<string, any>;

/** Machine delays (ms of machine time): short enough for tests, long enough that phases are visible. */
const E2E_KNOBS: Partial<SimKnobs> = {
  powerOnDelayMs: 5_000,
  powerOffDelayMs: 10_000,
  forceOffDelayMs: 2_000,
  bootDelayMs: 30_000,
  cfsConfigureDelayMs: 10_000,
};

/** Operator options: frequent polling (machine seconds), everything else at its default unless a test says so. */
const E2E_OPTIONS: Partial<Options> = {
  polling_frequency: 5,
  discovery_frequency: 10,
};

export interface E2eOptions {
  nodes: number;
  seed?: number;
  /** Machine seconds per real second (default 50). */
  speed?: number;
  knobs?: Partial<SimKnobs>;
  options?: Partial<Options>;
  redisUrl?: string;
  operators?: string[];
  /** Wait until discovery has created a BOS component for every node (default true). */
  waitForDiscovery?: boolean;
}

export interface E2eSystem {
  sys: RunningSystem;
  clock: FakeClock;
  /** BOS v2 base URL. */
  api: string;
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any }>;
  /** Like call, but throws unless the answer is 2xx. */
  ok(method: string, path: string, body?: unknown): Promise<any>;
  putTemplate(name: string, template: Obj): Promise<Obj>;
  createSession(body: Obj): Promise<Obj>;
  getSession(name: string): Promise<Obj>;
  sessionStatus(name: string): Promise<Obj>;
  /** Wait (bounded, real time) until the session is complete; returns the session record. */
  waitComplete(name: string, timeoutMs?: number): Promise<Obj>;
  /** Wait (bounded, real time) until `cond` returns a truthy value; returns it. */
  waitFor<T>(what: string, cond: () => Promise<T | undefined | null | false> | T | undefined | null | false, timeoutMs?: number): Promise<T>;
  /**
   * Wait until each named operator has run `count` more complete passes that started after this
   * call, so "nothing happened" can be asserted after the operators really had their chance.
   */
  waitPasses(operators: string[], count?: number, timeoutMs?: number): Promise<void>;
  components(query?: Record<string, string>): Promise<Obj[]>;
  component(id: string): Promise<Obj>;
  node(id: string): SimNode;
  /** The room's CFS record of a node. */
  cfs(id: string): Obj;
  /** The room's PCS power status of a node. */
  pcs(id: string): Obj;
  /** Compute node xnames of the room, in layout order. */
  computeNodes(): SimNode[];
  close(): Promise<void>;
}

const PINO_LEVELS: Record<string, string> = { DEBUG: 'debug', INFO: 'info', WARNING: 'warn', ERROR: 'error', CRITICAL: 'fatal' };
const logLevel = process.env.E2E_LOG_LEVEL?.toUpperCase();

/**
 * Real-time bound of every wait. Machine time advances per clock tick, so on a loaded machine
 * everything slows down together (nothing is decided by real time); the bound only stops a hung
 * scenario. Scenarios normally finish within a few seconds.
 */
const WAIT_BOUND_MS = 60_000;

/** Per-test real-time limit for the end-to-end files (a scenario waits several times). */
export const E2E_TEST_TIMEOUT_MS = 150_000;

/** Real milliseconds to sleep between polls of a condition. */
const POLL_MS = 100;

export async function startE2e(opts: E2eOptions): Promise<E2eSystem> {
  const clock = new FakeClock(Date.UTC(2026, 0, 1, 0, 0, 0), { speed: opts.speed ?? 50, tickMs: 10 });
  const sysOpts: SystemOptions = {
    nodes: opts.nodes,
    seed: opts.seed ?? 1,
    clock,
    knobs: { ...E2E_KNOBS, ...opts.knobs },
    // BOS's logging_level option governs the level of the API and the operators once BOS holds
    // one; quiet unless E2E_LOG_LEVEL (DEBUG, INFO, WARNING, ERROR) asks for more.
    options: { ...E2E_OPTIONS, logging_level: logLevel ?? 'CRITICAL', ...opts.options },
    redisUrl: opts.redisUrl,
    operators: opts.operators,
    logger: pino({ level: logLevel ? PINO_LEVELS[logLevel] ?? 'info' : 'silent' }),
  };
  let sys: RunningSystem;
  try {
    sys = await startSystem(sysOpts);
  } catch (e) {
    clock.stop();
    throw e;
  }
  const api = `${sys.bosUrl}/v2`;

  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(api + path, {
      method,
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = null;
    if (text) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
    }
    return { status: res.status, body: parsed as any };
  };
  const ok = async (method: string, path: string, body?: unknown) => {
    const r = await call(method, path, body);
    if (r.status < 200 || r.status >= 300) throw new Error(`${method} ${path}: HTTP ${r.status}: ${JSON.stringify(r.body).slice(0, 500)}`);
    return r.body;
  };

  const waitFor = async <T>(what: string, cond: () => Promise<T | undefined | null | false> | T | undefined | null | false, timeoutMs = WAIT_BOUND_MS): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = await cond();
      if (v) return v as T;
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms (real time) waiting for ${what}`);
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  };

  const components = async (query: Record<string, string> = {}) => {
    const qs = new URLSearchParams(query).toString();
    return (await ok('GET', `/components${qs ? `?${qs}` : ''}`)) as Obj[];
  };

  const room = sys.room;
  const node = (id: string) => {
    const n = room.node(id);
    if (!n) throw new Error(`no node ${id} in the machine room`);
    return n;
  };

  const e2e: E2eSystem = {
    sys,
    clock,
    api,
    call,
    ok,
    putTemplate: (name, template) => ok('PUT', `/sessiontemplates/${encodeURIComponent(name)}`, template),
    createSession: (body) => ok('POST', '/sessions', body),
    getSession: (name) => ok('GET', `/sessions/${encodeURIComponent(name)}`),
    sessionStatus: (name) => ok('GET', `/sessions/${encodeURIComponent(name)}/status`),
    async waitComplete(name, timeoutMs = WAIT_BOUND_MS) {
      let last: Obj | undefined;
      try {
        return await waitFor(`session ${name} to complete`, async () => {
          last = await e2e.getSession(name);
          return last.status?.status === 'complete' ? last : undefined;
        }, timeoutMs);
      } catch (e) {
        const st = await e2e.sessionStatus(name).catch(() => undefined);
        throw new Error(`${(e as Error).message}; session: ${JSON.stringify(last?.status)}; status: ${JSON.stringify(st)}`);
      }
    },
    waitFor,
    async waitPasses(operators, count = 2, timeoutMs = WAIT_BOUND_MS) {
      const runners = operators.map((name) => {
        const r = sys.operators?.operators.get(name as never);
        if (!r) throw new Error(`operator ${name} is not running`);
        return r;
      });
      // One pass may be under way already: it does not count.
      const targets = runners.map((r) => r.health().passes + count + 1);
      await waitFor(`${count} more passes of ${operators.join(', ')}`, () => runners.every((r, i) => r.health().passes >= targets[i]!), timeoutMs);
    },
    components,
    component: (id) => ok('GET', `/components/${encodeURIComponent(id)}`),
    node,
    cfs: (id) => room.cfsComponent(node(id)),
    pcs: (id) => {
      const st = room.powerStatus([id])[0];
      if (!st) throw new Error(`PCS knows no node ${id}`);
      return st;
    },
    computeNodes: () => room.nodes().filter((n) => n.role === 'Compute'),
    async close() {
      try {
        await sys.close();
      } finally {
        clock.stop();
      }
    },
  };

  if (opts.waitForDiscovery !== false && (!opts.operators || opts.operators.includes('discovery'))) {
    await waitFor(`discovery of all ${opts.nodes} nodes`, async () => (await components()).length >= opts.nodes);
  }
  return e2e;
}

/** Boot sets covering every compute node: X86 (incl. nodes whose Arch is unknown) and ARM. */
export function computeTemplate(configuration = 'compute-config', extra: { kernel_parameters?: string } = {}): Obj {
  return {
    description: 'compute nodes, both architectures',
    enable_cfs: true,
    cfs: { configuration },
    boot_sets: {
      'compute-x86': {
        path: manifestPath(SIM_IMAGES.computeX86),
        type: 's3',
        node_roles_groups: ['Compute'],
        arch: 'X86',
        kernel_parameters: extra.kernel_parameters ?? 'console=ttyS0 spire_join_token=${SPIRE_JOIN_TOKEN}',
        rootfs_provider: 'sbps',
        rootfs_provider_passthrough: 'sbps:v1:iqn.2023-06.csm.iscsi:_sbps-hsn._tcp.sys:300',
      },
      'compute-arm': {
        path: manifestPath(SIM_IMAGES.computeArm),
        type: 's3',
        node_roles_groups: ['Compute'],
        arch: 'ARM',
        kernel_parameters: extra.kernel_parameters ?? 'console=ttyAMA0',
        rootfs_provider: 'sbps',
        rootfs_provider_passthrough: 'sbps:v1:iqn.2023-06.csm.iscsi:_sbps-hsn._tcp.sys:300',
      },
    },
  };
}

/** A template with one X86 boot set over the given groups/roles/node list. */
export function simpleTemplate(select: { node_list?: string[]; node_groups?: string[]; node_roles_groups?: string[] }, opts: { configuration?: string; arch?: string; image?: string } = {}): Obj {
  return {
    enable_cfs: true,
    cfs: { configuration: opts.configuration ?? 'simple-config' },
    boot_sets: {
      nodes: {
        path: manifestPath(opts.image ?? SIM_IMAGES.computeX86),
        type: 's3',
        ...select,
        arch: opts.arch ?? 'X86',
        kernel_parameters: 'console=ttyS0',
        rootfs_provider: 'sbps',
      },
    },
  };
}
