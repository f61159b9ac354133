/**
 * End to end on the Redis store: the boot of 50 compute nodes, with BOS records, change events and
 * boot-artifact records all going through a real redis-server.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { computeTemplate, startE2e, type E2eSystem, E2E_TEST_TIMEOUT_MS } from '../helpers/system.js';
import { expectBooted, expectSessionClean } from './checks.js';

let redis: TestRedis;
let e2e: E2eSystem | undefined;
beforeAll(async () => {
  redis = await startRedis();
});
afterEach(async () => {
  await e2e?.close();
  e2e = undefined;
});
afterAll(async () => {
  await redis?.stop();
});

describe('boot end to end on Redis', { timeout: E2E_TEST_TIMEOUT_MS }, () => {
  it('boots 50 compute nodes with every record in Redis', async () => {
    e2e = await startE2e({ nodes: 54, redisUrl: redis.url });
    const compute = e2e.computeNodes().map((n) => n.id);
    expect(compute).toHaveLength(50);
    await e2e.putTemplate('compute', computeTemplate('compute-config'));
    await e2e.createSession({ name: 'boot-all', template_name: 'compute', operation: 'boot' });
    const done = await e2e.waitComplete('boot-all');
    expect(done.status.error).toBeNull();
    await expectBooted(e2e, compute, { session: 'boot-all', configuration: 'compute-config' });
    await expectSessionClean(e2e, 'boot-all', 50);
    for (const id of compute) expect(e2e.node(id).boots).toBe(1);

    // The records really live in Redis: a second system on the same database sees them.
    const again = await startE2e({ nodes: 54, redisUrl: redis.url, operators: [] });
    try {
      const c = await again.component(compute[0]!);
      expect(c.session).toBe('boot-all');
      expect(c.actual_state.boot_artifacts.kernel).toBe(c.desired_state.boot_artifacts.kernel);
      const st = await again.sessionStatus('boot-all');
      expect(st.percent_successful).toBe(100);
    } finally {
      await again.close();
    }
  });
});
