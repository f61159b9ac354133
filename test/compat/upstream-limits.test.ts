/**
 * Our operators against an API with upstream's parameter limits: every request they send in a boot, a
 * reboot and a shutdown of 50 nodes passes upstream's query checks (a proxy in front of the API
 * refuses what upstream refuses), and none is answered 4xx.
 */
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createServices, gatewayUrls, storeBootArtifacts } from '../../src/clients/index.js';
import { OPTION_DEFAULTS } from '../../src/common/options.js';
import { startOperators, type RunningOperators } from '../../src/operators/index.js';
import { bootTemplate, bos, checkOutcome, FAST_OPTIONS, startFaultSystem, startSession, waitComplete, waitDiscovered, x86ComputeNodes } from '../faults/harness.js';
import { queryViolation, startLimitsProxy } from '../helpers/upstream-limits.js';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
}, 30_000);

describe('the limits proxy', () => {
  it('refuses what upstream refuses and lets the rest through', () => {
    const ids = Array.from({ length: 10 }, (_, i) => `x3000c0s${i}b0n0`).join(',');
    expect(queryViolation('GET', `/v2/components?ids=${ids}`)).toMatch(/query ids=.*must NOT have more than 127 characters/);
    expect(queryViolation('GET', `/apis/bos/v2/components?ids=${ids.slice(0, 100)}`)).toBeUndefined();
    expect(queryViolation('GET', '/v2/components?page_size=-1')).toMatch(/page_size/);
    expect(queryViolation('GET', '/v2/components?session=s1&enabled=true&start_after_id=x1')).toBeUndefined();
  });
});

describe('our operators against an API with upstream limits', () => {
  it('boot, reboot and shutdown of 50 nodes: no request refused, no 4xx', async () => {
    const sys = await startFaultSystem({ nodes: 60, operators: [] });
    cleanups.push(() => sys.close());
    const proxy = await startLimitsProxy(sys.url);
    cleanups.push(() => proxy.close());
    let ops: RunningOperators | undefined;
    const services = createServices({
      ...gatewayUrls(sys.url),
      bosUrl: `${proxy.url}/apis/bos/v2`,
      bootArtifacts: storeBootArtifacts(sys.store),
      options: () => ops?.options() ?? { ...OPTION_DEFAULTS, ...FAST_OPTIONS },
    });
    cleanups.push(() => services.close());
    ops = startOperators({ services, logger: pino({ level: 'silent' }), minIntervalMs: 100 });
    cleanups.push(() => ops!.stop());
    // Small batches: many pages, re-reads and bulk PATCHes per pass.
    const call = bos(sys.bosUrl);
    await call('PATCH', '/options', { max_component_batch_size: 20 });
    await waitDiscovered(call, sys.room);
    const nodes = x86ComputeNodes(sys.room);
    expect(nodes.length).toBeGreaterThanOrEqual(49);
    for (const operation of ['boot', 'reboot', 'shutdown']) {
      const since = new Set(sys.room.transitions.keys());
      const session = await startSession(call, bootTemplate(), operation, `limits-${operation}`);
      await waitComplete(call, session, 60_000);
      const { stable } = await checkOutcome(sys, call, session, { nodes, services: ['bos'], since });
      expect(stable.length, operation).toBe(nodes.length);
    }
    expect(proxy.refused).toEqual([]);
    expect(proxy.clientErrors).toEqual([]);
  }, 120_000);
});
