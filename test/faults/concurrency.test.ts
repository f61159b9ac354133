/**
 * Concurrent writes to the same components, as on a real system when the operators' bulk updates
 * meet the nodes' state reports: every PATCH form changing a different field of one component at
 * the same moment must all be applied (no lost update), on the memory and on the Redis store.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/server/app.js';
import { MemoryStore } from '../../src/server/store/memory.js';
import { RedisStore } from '../../src/server/store/redis/index.js';
import type { Store } from '../../src/server/store/store.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

let redis: TestRedis;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});

// Writing desired_state would reset session and attempts (data-model rules): other fields only.
const ACTIONS = ['session_setup', 'powering_on', 'apply_staged', 'newly_discovered'];
const json = (method: string, body: unknown) => ({ method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe.each(['memory', 'redis'] as const)('concurrent PATCHes of one component (%s store)', (kind) => {
  it('single, bulk list, bulk ids filter, bulk session filter and applystaged at once: every change lands', async () => {
    const store: Store = kind === 'memory' ? new MemoryStore() : await RedisStore.connect({ url: redis.url });
    const app = await buildApp({ store, logger: false });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const addr = app.server.address();
    const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/v2`;
    try {
      const ids = Array.from({ length: 40 }, (_, i) => `x1000c0s${Math.floor(i / 4)}b${Math.floor((i % 4) / 2)}n${i % 2}`);
      const put = await fetch(`${url}/components`, json('PUT', ids.map((id) => ({ id, enabled: true, error: '', session: 'sess' }))));
      expect(put.status).toBe(200);
      for (let round = 1; round <= 4; round++) {
        const answers = await Promise.all(
          ids.flatMap((id) => [
            fetch(`${url}/components/${id}`, json('PATCH', { error: `e${round}` })),
            fetch(`${url}/components`, json('PATCH', [{ id, retry_policy: round }])),
            fetch(`${url}/components`, json('PATCH', { patch: { last_action: { action: ACTIONS[round - 1] } }, filters: { ids: id } })),
            fetch(`${url}/components`, json('PATCH', { patch: { event_stats: { power_on_attempts: round } }, filters: { session: 'sess' } })),
            fetch(`${url}/applystaged`, json('POST', { xnames: [id] })),
          ]),
        );
        expect(answers.map((a) => a.status).filter((s) => s !== 200)).toEqual([]);
        const comps = (await (await fetch(`${url}/components`)).json()) as any[];
        expect(comps.length).toBe(ids.length);
        for (const c of comps) {
          expect({ id: c.id, error: c.error, retry_policy: c.retry_policy, action: c.last_action?.action, attempts: c.event_stats?.power_on_attempts }).toEqual({
            id: c.id,
            error: `e${round}`,
            retry_policy: round,
            action: ACTIONS[round - 1],
            attempts: round,
          });
        }
      }
    } finally {
      await app.close();
      await store.close();
    }
  });
});
