/**
 * Fault-scenario harness: the whole system (API + simulator + operators) on loopback with instant
 * machine delays and one-second passes, a boot template, and the end-of-scenario checks every fault
 * test makes: the session completed, every component of it is `stable` or `failed` with an error
 * naming the failing service, no node got more power transitions than its retry policy allows, and
 * no record was lost.
 */
import { expect } from 'vitest';
import { pino, type Logger } from 'pino';
import { Writable } from 'node:stream';
import { startSystem, type RunningSystem, type SystemOptions } from '../../src/system.js';
import { INSTANT_KNOBS, SIM_IMAGES, manifestPath, type MachineRoom, type PowerTransitionOperation } from '../../src/sim/index.js';
import type { Options } from '../../src/common/options.js';

export type Json = any;

/** Options that make a boot take seconds: one-second passes, short waits, three attempts. */
export const FAST_OPTIONS: Partial<Options> = {
  polling_frequency: 1,
  discovery_frequency: 1,
  default_retry_policy: 3,
  max_power_on_wait_time: 2,
  max_power_off_wait_time: 2,
  max_boot_wait_time: 4,
};

/** A pino logger writing into an array of lines (for checks of what was logged). */
export function captureLogger(level = 'info'): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  return { logger: pino({ level }, stream), lines };
}

export async function startFaultSystem(opts: Partial<SystemOptions> & { nodes?: number } = {}): Promise<RunningSystem> {
  return startSystem({
    nodes: opts.nodes ?? 16,
    seed: 7,
    logger: opts.logger ?? pino({ level: 'silent' }),
    ...opts,
    knobs: { ...INSTANT_KNOBS, ...opts.knobs },
    // The logging_level option sets the level of the given logger at run time: keep a quiet run quiet.
    options: { ...FAST_OPTIONS, ...(opts.logger ? {} : { logging_level: 'CRITICAL' }), ...opts.options },
    operatorOptions: { minIntervalMs: 100, ...opts.operatorOptions },
  });
}

/** A small JSON client for one BOS API base (`…/apis/bos`), sending `always` (e.g. an Authorization header) with every request. */
export function bos(base: string, always: Record<string, string> = {}) {
  const api = `${base}/v2`;
  return async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: Json }> {
    const r = await fetch(api + path, {
      method,
      headers: body !== undefined ? { 'content-type': 'application/json', ...always, ...headers } : { ...always, ...headers },
      body: body !== undefined ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(10_000),
    });
    const t = await r.text();
    return { status: r.status, body: t ? JSON.parse(t) : null };
  };
}

export type Call = ReturnType<typeof bos>;

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll `fn` until it returns a truthy value; throws with `what` after `ms`. */
export async function until<T>(what: string, fn: () => Promise<T | undefined | false | null>, ms = 45_000, every = 150): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(every);
  }
}

/** The compute nodes of the room (what a `node_roles_groups: ['Compute']` boot set selects). */
function computeNodes(room: MachineRoom): string[] {
  return room
    .nodes()
    .filter((n) => n.role === 'Compute' && n.enabled && !n.locked)
    .map((n) => n.id)
    .sort();
}

/** The nodes bootTemplate() selects: the compute nodes its boot set's architecture (X86) takes. */
export function x86ComputeNodes(room: MachineRoom): string[] {
  const ids = new Set(computeNodes(room));
  return room
    .nodes()
    .filter((n) => ids.has(n.id) && n.arch !== 'ARM')
    .map((n) => n.id)
    .sort();
}

export function bootTemplate(opts: { image?: string; path?: string; groups?: Record<string, unknown>; cfs?: boolean } = {}): Json {
  return {
    boot_sets: {
      compute: {
        path: opts.path ?? manifestPath(opts.image ?? SIM_IMAGES.computeX86),
        type: 's3',
        kernel_parameters: 'console=ttyS0',
        rootfs_provider: 'sbps',
        rootfs_provider_passthrough: 'sbps:v1:iqn.2023-06.csm.iscsi:_sbps-hsn._tcp.sys:300',
        ...(opts.groups ?? { node_roles_groups: ['Compute'] }),
      },
    },
    ...(opts.cfs === false ? { enable_cfs: false } : { cfs: { configuration: 'demo-config' }, enable_cfs: true }),
  };
}

/** Wait until discovery has created a component for every node of the room. */
export async function waitDiscovered(call: Call, room: MachineRoom): Promise<void> {
  await until('discovery of every node', async () => {
    const r = await call('GET', '/components');
    return r.status === 200 && r.body.length === room.size;
  });
}

/** PUT a template and POST a session of it; returns the session name. */
export async function startSession(call: Call, template: Json, operation = 'boot', tname = 'faults', headers: Record<string, string> = {}): Promise<string> {
  const t = await call('PUT', `/sessiontemplates/${tname}`, template, headers);
  expect(t.status, JSON.stringify(t.body)).toBe(200);
  const s = await call('POST', '/sessions', { template_name: tname, operation }, headers);
  expect(s.status, JSON.stringify(s.body)).toBe(201);
  return s.body.name as string;
}

export async function waitComplete(call: Call, name: string, ms = 60_000, headers: Record<string, string> = {}): Promise<Json> {
  try {
    return await until(`session ${name} to complete`, async () => {
      const r = await call('GET', `/sessions/${name}`, undefined, headers);
      return r.status === 200 && r.body.status?.status === 'complete' ? r.body : undefined;
    }, ms, 250);
  } catch (e) {
    throw new Error(`${(e as Error).message}\n${await sessionDiagnosis(call, name, headers)}`);
  }
}

/** What a session that did not complete is waiting for: its status and its unfinished components. */
async function sessionDiagnosis(call: Call, name: string, headers: Record<string, string>): Promise<string> {
  try {
    const s = await call('GET', `/sessions/${name}`, undefined, headers);
    const c = await call('GET', `/components?session=${encodeURIComponent(name)}`, undefined, headers);
    const open = Array.isArray(c.body) ? c.body.filter((x: Json) => x.enabled) : [];
    const lines = open.slice(0, 10).map((x: Json) =>
      `  ${x.id}: ${JSON.stringify({ status: x.status, last_action: x.last_action, event_stats: x.event_stats, error: x.error, desired: x.desired_state?.boot_artifacts?.kernel, actual: x.actual_state?.boot_artifacts?.kernel })}`);
    return [`session: ${JSON.stringify(s.body?.status)}`, `${open.length} of ${Array.isArray(c.body) ? c.body.length : '?'} components still enabled:`, ...lines].join('\n');
  } catch (e) {
    return `(no diagnosis: ${String(e)})`;
  }
}

/** Power transitions per node and operation, as the room recorded them (only accepted PCS calls). */
export function transitionsPerNode(room: MachineRoom, ops: PowerTransitionOperation[] = ['On'], since?: ReadonlySet<string>): Map<string, number> {
  const per = new Map<string, number>();
  for (const [id, rec] of room.transitions) {
    if (since?.has(id)) continue;
    if (!ops.includes(rec.operation)) continue;
    for (const t of rec.tasks) per.set(t.xname, (per.get(t.xname) ?? 0) + 1);
  }
  return per;
}

export interface OutcomeExpectations {
  /** Nodes the session was to act on. */
  nodes: string[];
  /** Service names one of which every `failed` component's error must name (e.g. ['pcs']). */
  services: string[];
  /** Attempts allowed per node and transition kind (the retry policy), default 3. */
  retryLimit?: number;
  /** Templates that must still exist. */
  templates?: string[];
  headers?: Record<string, string>;
  /**
   * Accept `on_hold` for nodes a service answered nothing usable about: the status operator then
   * holds and disables them with `Component information was not returned by <service>`
   * (docs/operators.md, "status").
   */
  allowOnHold?: boolean;
  /** Count only transitions not in this set (ids of the room's transitions before the session). */
  since?: ReadonlySet<string>;
}

/**
 * The end-of-scenario checks. Returns the session's components by status so a test can add
 * scenario-specific expectations.
 */
export async function checkOutcome(sys: RunningSystem, call: Call, session: string, exp: OutcomeExpectations): Promise<{ stable: Json[]; failed: Json[] }> {
  const s = await call('GET', `/sessions/${session}`, undefined, exp.headers);
  expect(s.status).toBe(200);
  expect(s.body.status.status).toBe('complete');

  const all = await call('GET', '/components');
  expect(all.status).toBe(200);
  // No record lost: a component per node, each exactly once.
  const ids = all.body.map((c: Json) => c.id).sort();
  expect(ids).toEqual(sys.room.nodes().map((n) => n.id).sort());
  for (const t of exp.templates ?? []) expect((await call('GET', `/sessiontemplates/${t}`, undefined, exp.headers)).status).toBe(200);

  const mine = all.body.filter((c: Json) => exp.nodes.includes(c.id));
  expect(mine.map((c: Json) => c.id).sort()).toEqual([...exp.nodes].sort());
  const stable: Json[] = [];
  const failed: Json[] = [];
  for (const c of mine) {
    expect(c.session, `${c.id} belongs to the session`).toBe(session);
    const st = c.status.status;
    if (st === 'on_hold' && exp.allowOnHold) {
      expect(exp.services.some((svc) => c.error === `Component information was not returned by ${svc}`), `${c.id} on hold: ${c.error}`).toBe(true);
      failed.push(c);
      continue;
    }
    expect(['stable', 'failed'], `${c.id}: ${JSON.stringify(c.status)} ${c.error}`).toContain(st);
    if (st === 'failed') {
      failed.push(c);
      const named = exp.services.some((svc) => new RegExp(`\\b${svc}\\b`, 'i').test(c.error ?? ''));
      expect(named, `${c.id} failed with error ${JSON.stringify(c.error)}, which names none of ${exp.services.join(', ')}`).toBe(true);
    } else stable.push(c);
  }
  // Nodes outside the session were not touched.
  for (const c of all.body) if (!exp.nodes.includes(c.id)) expect(c.session ?? '').not.toBe(session);

  const limit = exp.retryLimit ?? 3;
  for (const [xname, n] of transitionsPerNode(sys.room, ['On'], exp.since)) {
    expect(n, `power-on transitions of ${xname}`).toBeLessThanOrEqual(limit);
  }
  for (const [xname, n] of transitionsPerNode(sys.room, ['Soft-Off', 'Off', 'Force-Off'], exp.since)) {
    expect(n, `power-off transitions of ${xname}`).toBeLessThanOrEqual(2 * limit);
  }
  return { stable, failed };
}
