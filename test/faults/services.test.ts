/**
 * Downstream services failing during a boot: PCS answering 500s, PCS refusing transitions longer
 * than the retry budget, HSM answering 500s, CFS answering 500s, a configuration that fails, and
 * S3 losing a manifest between session creation and session setup.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { RunningSystem } from '../../src/system.js';
import { OPERATOR_NAMES } from '../../src/operators/types.js';
import { startOperators } from '../../src/operators/index.js';
import { SIM_IMAGES, manifestPath } from '../../src/sim/index.js';
import { pino } from 'pino';
import {
  bootTemplate,
  bos,
  captureLogger,
  checkOutcome,
  startFaultSystem,
  startSession,
  sleep,
  transitionsPerNode,
  until,
  waitComplete,
  waitDiscovered,
} from './harness.js';

/** Nodes a `node_roles_groups: ['Compute']` X86 boot set acts on (ARM compute nodes are left out). */
function x86Compute(sys: RunningSystem): string[] {
  return sys.room
    .nodes()
    .filter((n) => n.role === 'Compute' && n.arch !== 'ARM')
    .map((n) => n.id)
    .sort();
}

/** Requests to `service` the clients saw answered with a 5xx (from the downstream-request metric). */
async function failedRequests(sys: RunningSystem, service: string): Promise<number> {
  const m = sys.registry.getSingleMetric('bos_downstream_request_duration_seconds');
  const data = (await m!.get()) as { values: { labels: Record<string, string | number>; value: number; metricName?: string }[] };
  return data.values
    .filter((v) => v.metricName?.endsWith('_count') && v.labels.service === service && String(v.labels.outcome).startsWith('5'))
    .reduce((a, v) => a + v.value, 0);
}

function failedPasses(lines: string[], service: string): number {
  return lines.filter((l) => l.includes('pass failed') && JSON.parse(l).service === service).length;
}

let sys: RunningSystem | undefined;
afterEach(async () => {
  await sys?.close();
  sys = undefined;
});

describe('downstream service faults during a boot', () => {
  it('PCS answering 500 to everything for a window: passes fail and are logged, the boot finishes once PCS answers', async () => {
    const cap = captureLogger();
    sys = await startFaultSystem({ logger: cap.logger });
    const call = bos(sys.bosUrl);
    await waitDiscovered(call, sys.room);
    const session = await startSession(call, bootTemplate());
    sys.room.updateKnobs({ failureRate: { pcs: 1 } });
    await until('a status pass to fail on PCS', async () => failedPasses(cap.lines, 'pcs') >= 2, 15_000);
    sys.room.updateKnobs({ failureRate: {} });
    await waitComplete(call, session);
    const { stable } = await checkOutcome(sys, call, session, { nodes: x86Compute(sys), services: ['pcs'], templates: ['faults'] });
    // Nothing was attempted while PCS failed as a whole, so every node boots once PCS is back.
    expect(stable.length).toBe(x86Compute(sys).length);
    for (const id of x86Compute(sys)) expect(sys.room.node(id)!.booted).toBe(true);
  });

  it('PCS answering slowly for a window (latency well under the read timeout): the boot completes, nothing fails', async () => {
    sys = await startFaultSystem();
    const call = bos(sys.bosUrl);
    await waitDiscovered(call, sys.room);
    sys.room.updateKnobs({ latencyMs: { pcs: 400, hsm: 200 } });
    const session = await startSession(call, bootTemplate());
    await until('a node to be powered on while PCS is slow', async () => sys!.room.transitions.size > 0, 20_000, 50);
    sys.room.updateKnobs({ latencyMs: {} });
    await waitComplete(call, session);
    const { stable } = await checkOutcome(sys, call, session, { nodes: x86Compute(sys), services: ['pcs'] });
    expect(stable.length).toBe(x86Compute(sys).length);
    for (const n of transitionsPerNode(sys.room).values()) expect(n).toBe(1);
  });

  it('PCS refusing transitions beyond the retry budget: every node fails naming pcs after exactly the allowed attempts; a new session boots them once PCS is healthy', async () => {
    sys = await startFaultSystem();
    const call = bos(sys.bosUrl);
    await waitDiscovered(call, sys.room);
    const room = sys.room;
    const original = room.transition.bind(room);
    let refusing = true;
    const refused = new Map<string, number>();
    room.transition = ((op, xnames, deadline) => {
      if (refusing) {
        for (const x of xnames) refused.set(x, (refused.get(x) ?? 0) + 1);
        throw new Error('PCS transitions unavailable');
      }
      return original(op, xnames, deadline);
    }) as typeof room.transition;

    const nodes = x86Compute(sys);
    const session = await startSession(call, bootTemplate());
    await waitComplete(call, session);
    refusing = false;
    const { failed } = await checkOutcome(sys, call, session, { nodes, services: ['pcs'], templates: ['faults'] });
    expect(failed.map((c) => c.id).sort()).toEqual(nodes);
    for (const c of failed) {
      expect(c.error).toMatch(/^Error encountered calling CAPMC to power on: pcs: .*500.*\/transitions/);
      expect(c.event_stats.power_on_attempts).toBe(3);
      expect(refused.get(c.id)).toBe(3);
    }
    const status = (await call('GET', `/sessions/${session}/status`)).body;
    expect(status.percent_failed).toBe(100);
    expect(Object.keys(status.error_summary).join()).toMatch(/pcs/);

    // Healthy again: the next session boots every node.
    const again = await call('POST', '/sessions', { template_name: 'faults', operation: 'boot' });
    expect(again.status).toBe(201);
    await waitComplete(call, again.body.name);
    const second = await checkOutcome(sys, call, again.body.name, { nodes, services: ['pcs'], retryLimit: 3 });
    expect(second.failed).toEqual([]);
    for (const id of nodes) expect(room.node(id)!.booted).toBe(true);
  });

  it('HSM answering 500 during session setup: setup is retried and the session completes with every node booted', async () => {
    sys = await startFaultSystem();
    const call = bos(sys.bosUrl);
    await waitDiscovered(call, sys.room);
    sys.room.updateKnobs({ failureRate: { hsm: 1 } });
    const session = await startSession(call, bootTemplate());
    // GETs are retried with growing back-off: wait for a few failed attempts.
    await until('HSM requests to fail', async () => (await failedRequests(sys!, 'hsm')) >= 3, 20_000);
    // While HSM fails, no node was selected yet.
    expect((await call('GET', `/sessions/${session}`)).body.components ?? '').toBe('');
    sys.room.updateKnobs({ failureRate: {} });
    await waitComplete(call, session);
    const { stable } = await checkOutcome(sys, call, session, { nodes: x86Compute(sys), services: ['hsm'], templates: ['faults'] });
    expect(stable.length).toBe(x86Compute(sys).length);
  });

  it('CFS answering 500 for a window: requests are retried, configuration finishes afterwards', async () => {
    sys = await startFaultSystem();
    const call = bos(sys.bosUrl);
    await waitDiscovered(call, sys.room);
    sys.room.updateKnobs({ failureRate: { cfs: 1 } });
    const session = await startSession(call, bootTemplate());
    await until('CFS requests to fail', async () => (await failedRequests(sys!, 'cfs')) >= 3, 20_000);
    sys.room.updateKnobs({ failureRate: {} });
    await waitComplete(call, session);
    const { stable } = await checkOutcome(sys, call, session, { nodes: x86Compute(sys), services: ['cfs'], templates: ['faults'] });
    expect(stable.length).toBe(x86Compute(sys).length);
    for (const id of x86Compute(sys)) expect(sys.room.cfsComponent(sys.room.node(id)!).desired_config).toBe('demo-config');
  });

  it('a CFS configuration that fails: every node ends failed naming cfs, no power retries', async () => {
    sys = await startFaultSystem({ knobs: { failingConfigurations: ['demo-config'] } });
    const call = bos(sys.bosUrl);
    await waitDiscovered(call, sys.room);
    const session = await startSession(call, bootTemplate());
    await waitComplete(call, session);
    const { failed } = await checkOutcome(sys, call, session, { nodes: x86Compute(sys), services: ['cfs'] });
    expect(failed.length).toBe(x86Compute(sys).length);
    for (const n of transitionsPerNode(sys.room).values()) expect(n).toBe(1);
  });

  it('S3 losing the manifest after the session was accepted: the session fails with the S3 error text, no node is touched', async () => {
    // Every operator but session setup runs in the system; setup starts once the manifest is gone.
    sys = await startFaultSystem({ operators: OPERATOR_NAMES.filter((n) => n !== 'session-setup') });
    const call = bos(sys.bosUrl);
    await waitDiscovered(call, sys.room);
    const path = manifestPath(SIM_IMAGES.computeX86);
    const session = await startSession(call, bootTemplate({ path }));
    expect(sys.room.objects.delete(`boot-images/${SIM_IMAGES.computeX86}/manifest.json`)).toBe(true);
    const setup = startOperators({
      services: sys.services,
      only: ['session-setup'],
      logger: pino({ level: 'silent' }),
      pollingOverride: 1,
      minIntervalMs: 100,
    });
    try {
      const done = await waitComplete(call, session);
      expect(done.status.error).toMatch(/manifest/i);
      expect(done.status.error).toContain(path);
      expect(done.status.error).toMatch(/ManifestNotFound|NoSuchKey|not found|does not exist/i);
    } finally {
      await setup.stop();
    }
    await sleep(300);
    expect(sys.room.transitions.size).toBe(0);
    const comps = (await call('GET', '/components')).body;
    expect(comps.length).toBe(sys.room.size);
    for (const c of comps) expect(c.session ?? '').not.toBe(session);
  });
});
