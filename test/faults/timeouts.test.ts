/**
 * PCS answering slower than the operators' PCS read timeout (`pcs_read_timeout`, at its minimum of
 * 10 s) for a window, then recovering: the calls time out, the timeouts are reported naming pcs,
 * and the boot finishes once PCS is fast again.
 *
 * A timed-out call is not undone: the simulator still carries it out once its latency has passed
 * (the request arrived, only the answer was late). For POST /power-status that is harmless. For
 * POST /transitions it means BOS counts a failed power-on attempt for nodes PCS then powers on
 * anyway. What must hold is that every power-on the room carried out was one of BOS's attempts, so
 * no node gets more power-ons than its retry policy allows; the clients never retry a timed-out POST
 * themselves (POST is not idempotent).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { RunningSystem } from '../../src/system.js';
import type { PowerOperation } from '../../src/clients/types.js';
import {
  bootTemplate,
  bos,
  captureLogger,
  checkOutcome,
  startFaultSystem,
  startSession,
  transitionsPerNode,
  until,
  waitComplete,
  waitDiscovered,
  type Call,
} from './harness.js';

/** Seconds; the smallest value the option accepts (src/common/options.ts). */
const PCS_READ_TIMEOUT = 10;
/** Real milliseconds the simulated PCS waits before answering: just over the read timeout. */
const SLOW_PCS_MS = PCS_READ_TIMEOUT * 1000 + 500;
const RETRY_POLICY = 3;

/** What the HTTP client says when a read times out (src/clients/http.ts), prefixed `pcs: ` by describeError. */
const timedOut = (endpoint: string) => new RegExp(`\\bpcs: Read timed out after ${PCS_READ_TIMEOUT} s waiting for POST ${endpoint}\\b`);

/** Nodes a `node_roles_groups: ['Compute']` X86 boot set acts on. */
function x86Compute(sys: RunningSystem): string[] {
  return sys.room
    .nodes()
    .filter((n) => n.role === 'Compute' && n.arch !== 'ARM')
    .map((n) => n.id)
    .sort();
}

/** Requests to `service` the clients gave up waiting for (from the downstream-request metric). */
async function timedOutRequests(sys: RunningSystem, service: string): Promise<number> {
  const m = sys.registry.getSingleMetric('bos_downstream_request_duration_seconds');
  const data = (await m!.get()) as { values: { labels: Record<string, string | number>; value: number; metricName?: string }[] };
  return data.values
    .filter((v) => v.metricName?.endsWith('_count') && v.labels.service === service && v.labels.outcome === 'timeout')
    .reduce((a, v) => a + v.value, 0);
}

interface LogLine {
  msg: string;
  operator?: string;
  service?: string;
  err?: string;
}

/** Logged failed passes / failed actions whose error is a PCS read timeout on `endpoint`. */
function timeoutReports(lines: string[], kind: 'pass failed' | 'action failed', endpoint: string): LogLine[] {
  return lines.map((l) => JSON.parse(l) as LogLine).filter((l) => l.msg.startsWith(kind) && timedOut(endpoint).test(l.msg));
}

async function startSlowPcsSystem(): Promise<{ sys: RunningSystem; call: Call; lines: string[]; nodes: string[] }> {
  const cap = captureLogger();
  const sys = await startFaultSystem({
    nodes: 12,
    logger: cap.logger,
    options: { pcs_read_timeout: PCS_READ_TIMEOUT, default_retry_policy: RETRY_POLICY },
  });
  const call = bos(sys.bosUrl);
  await waitDiscovered(call, sys.room);
  // Stored, and what the operators' passes (and so the PCS client's read timeout) follow.
  expect((await call('GET', '/options')).body.pcs_read_timeout).toBe(PCS_READ_TIMEOUT);
  const nodes = x86Compute(sys);
  expect(nodes.length).toBeGreaterThan(0);
  return { sys, call, lines: cap.lines, nodes };
}

let sys: RunningSystem | undefined;
afterEach(async () => {
  await sys?.close();
  sys = undefined;
});

describe('PCS answering slower than pcs_read_timeout', () => {
  it(
    'PCS slow from before the session for two status passes: power-status calls time out and are logged naming pcs, nothing is powered on meanwhile, the boot completes once PCS is fast',
    async () => {
      const started = Date.now();
      const s = await startSlowPcsSystem();
      sys = s.sys;
      const { call, lines, nodes } = s;

      sys.room.updateKnobs({ latencyMs: { pcs: SLOW_PCS_MS } });
      const slowFrom = Date.now();
      const session = await startSession(call, bootTemplate());

      // Two status passes time out, each after the read timeout (not the 20 s default).
      const reports = await until('two status passes to fail on a PCS read timeout', async () => {
        const r = timeoutReports(lines, 'pass failed', '/power-status');
        return r.length >= 2 ? r : undefined;
      }, 30_000, 100);
      const window = (Date.now() - slowFrom) / 1000;
      expect(window).toBeGreaterThanOrEqual(2 * PCS_READ_TIMEOUT - 0.5);
      expect(window).toBeLessThan(2 * 20);
      for (const r of reports) {
        expect(r.operator).toBe('status');
        expect(r.service).toBe('pcs');
        expect(r.err).toMatch(timedOut('/power-status'));
      }
      expect(await timedOutRequests(sys, 'pcs')).toBeGreaterThanOrEqual(2);
      // Without power states the status operator decides nothing, so nothing was powered on.
      expect(sys.room.transitions.size).toBe(0);

      sys.room.updateKnobs({ latencyMs: {} });
      await waitComplete(call, session, 30_000);
      const { stable } = await checkOutcome(sys, call, session, { nodes, services: ['pcs'], retryLimit: RETRY_POLICY, templates: ['faults'] });
      expect(stable.length).toBe(nodes.length);
      for (const id of nodes) expect(sys.room.node(id)!.booted).toBe(true);
      const ons = transitionsPerNode(sys.room, ['On']);
      expect([...ons.keys()].sort()).toEqual(nodes);
      for (const n of ons.values()) expect(n).toBe(1);
      // The clients do not retry a timed-out POST (not idempotent).
      expect(lines.some((l) => l.includes('gave up after'))).toBe(false);
      expect((Date.now() - started) / 1000).toBeLessThan(60);
    },
    90_000,
  );

  it(
    'PCS turning slow as the power-on is sent: the transition times out and is recorded as the components\' error naming pcs, PCS still carries it out late, no node gets more power-ons than its retry policy',
    async () => {
      const started = Date.now();
      const s = await startSlowPcsSystem();
      sys = s.sys;
      const { call, lines, nodes } = s;
      const room = sys.room;

      // PCS turns slow just before the first power-on reaches it (the latency is read as a request
      // arrives), so that call, and the status passes meanwhile, time out.
      const pcs = sys.services.pcs;
      const original = pcs.transition.bind(pcs);
      let armed = true;
      pcs.transition = async (op: PowerOperation, ids: readonly string[]) => {
        if (armed && op === 'On') {
          armed = false;
          room.updateKnobs({ latencyMs: { pcs: SLOW_PCS_MS } });
        }
        return original(op, ids);
      };

      const session = await startSession(call, bootTemplate());
      await until('the power-on to be sent', async () => !armed, 20_000, 50);
      const slowFrom = Date.now();

      const reports = await until('the power-on to fail on a PCS read timeout', async () => {
        const r = timeoutReports(lines, 'action failed', '/transitions');
        return r.length > 0 ? r : undefined;
      }, 20_000, 50);
      expect((Date.now() - slowFrom) / 1000).toBeGreaterThanOrEqual(PCS_READ_TIMEOUT - 0.5);
      for (const r of reports) {
        expect(r.operator).toBe('power-on');
        expect(r.service).toBe('pcs');
        expect(r.err).toMatch(/^Error encountered calling CAPMC to power on: /);
        expect(r.err).toMatch(timedOut('/transitions'));
      }
      // The components carry the error (until a later pass clears it).
      const errored = await until('the components to carry the timeout as their error', async () => {
        const comps = (await call('GET', '/components')).body as { id: string; error?: string; event_stats?: { power_on_attempts?: number } }[];
        const e = comps.filter((c) => timedOut('/transitions').test(c.error ?? ''));
        return e.length > 0 ? e : undefined;
      }, 5_000, 50);
      for (const c of errored) {
        expect(nodes).toContain(c.id);
        expect(c.event_stats?.power_on_attempts).toBe(1);
      }
      expect(await timedOutRequests(sys, 'pcs')).toBeGreaterThanOrEqual(1);

      sys.room.updateKnobs({ latencyMs: {} });
      await waitComplete(call, session, 30_000);
      const { stable, failed } = await checkOutcome(sys, call, session, { nodes, services: ['pcs'], retryLimit: RETRY_POLICY, templates: ['faults'] });
      expect(stable.length + failed.length).toBe(nodes.length);
      for (const c of stable) expect(room.node(c.id)!.booted).toBe(true);

      // The timed-out power-on was carried out anyway: every node was powered on although BOS
      // recorded the call as failed; with the retry policy no node was powered on more than 3 times.
      const ons = transitionsPerNode(room, ['On']);
      expect([...ons.keys()].sort()).toEqual(nodes);
      for (const [xname, n] of ons) expect(n, `power-ons of ${xname}`).toBeLessThanOrEqual(RETRY_POLICY);
      expect(lines.some((l) => l.includes('gave up after'))).toBe(false);
      expect((Date.now() - started) / 1000).toBeLessThan(60);
    },
    90_000,
  );
});
