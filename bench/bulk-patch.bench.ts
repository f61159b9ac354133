/**
 * A status pass's writes: 100,000 components disabled with the same patch, in batches of 2,800, sent
 * by the BOS client without asking for an answer, against the API on each store. Once as list items
 * (what the client sent before it grouped identical patches) and once as the client sends them now
 * (one id-filter PATCH per batch), alternating, several rounds. Client and API in this process, so
 * the CPU time is both sides' (not redis-server's).
 *
 *   npx tsx bench/bulk-patch.bench.ts [--components N] [--rounds N] [--stores memory,redis]
 */
import { HttpBosClient } from '../src/clients/bos.js';
import type { Component } from '../src/common/types.js';
import { startServer } from '../src/server/app.js';
import { MemoryStore } from '../src/server/store/memory.js';
import { RedisStore } from '../src/server/store/redis/index.js';
import type { Store } from '../src/server/store/store.js';
import { startRedis } from '../test/helpers/redis.js';
import { arg, machineLine, median } from './scale-common.js';

const N = Number(arg('components', '100000'));
const ROUNDS = Number(arg('rounds', '6'));
const STORES = arg('stores', 'memory,redis').split(',');
const BATCH = 2800;

async function benchOn(kind: string, store: Store): Promise<void> {
  const srv = await startServer({ store, logger: false });
  const bos = new HttpBosClient(`${srv.url}/v2`);
  try {
    const ids = Array.from({ length: N }, (_, i) => `x${3000 + Math.floor(i / 64)}c0s${(i >> 3) & 7}b0n${i & 7}`);
    for (let i = 0; i < N; i += 5000) await bos.putComponents(ids.slice(i, i + 5000).map((id) => ({ id, enabled: true })));
    const patch = {
      status: { status_override: '', phase: '' },
      event_stats: { power_on_attempts: 0, power_off_graceful_attempts: 0, power_off_forceful_attempts: 0 },
      enabled: false,
    };
    const patches: Partial<Component>[] = ids.map((id) => ({ id, ...patch }));
    const asList = async () => {
      for (let i = 0; i < N; i += BATCH) {
        const res = await bos.http.request<string>('PATCH', '/components', { body: patches.slice(i, i + BATCH), unparsed: true, headers: { prefer: 'return=minimal' } });
        if (res.status !== 204) throw new Error(`PATCH answered ${res.status}`);
      }
    };
    const grouped = async () => {
      for (let i = 0; i < N; i += BATCH) await bos.patchComponents(patches.slice(i, i + BATCH), { discardAnswer: true });
    };
    const times: Record<'list' | 'grouped', { wall: number[]; cpu: number[] }> = { list: { wall: [], cpu: [] }, grouped: { wall: [], cpu: [] } };
    for (let round = -1; round < ROUNDS; round++) {
      for (const [name, run] of [['list', asList], ['grouped', grouped]] as const) {
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        await run();
        const wall = performance.now() - t0;
        const c = process.cpuUsage(c0);
        if (round >= 0) {
          times[name].wall.push(wall);
          times[name].cpu.push((c.user + c.system) / 1000);
        }
      }
    }
    const listBytes = Buffer.byteLength(JSON.stringify(patches.slice(0, BATCH)));
    const filterBytes = Buffer.byteLength(JSON.stringify({ patch, filters: { ids: ids.slice(0, BATCH).join(',') } }));
    for (const name of ['list', 'grouped'] as const) {
      const t = times[name];
      console.log(
        `| ${kind} | ${name === 'list' ? 'list items' : 'one id filter per batch'} | ${Math.round(median(t.wall))} | ${Math.round(median(t.cpu))} | ` +
          `${Math.round(Math.min(...t.cpu))}–${Math.round(Math.max(...t.cpu))} | ${((name === 'list' ? listBytes : filterBytes) / 1e3).toFixed(0)} KB |`,
      );
    }
  } finally {
    bos.close();
    await srv.close();
  }
}

console.log(machineLine());
console.log(`${N} components disabled with one patch, batches of ${BATCH}, no answer asked for; median of ${ROUNDS} rounds after a warm-up\n`);
console.log('| store | sent as | wall ms | cpu ms (client + API) | cpu ms range | body per batch |');
console.log('|---|---|---|---|---|---|');
for (const kind of STORES) {
  if (kind === 'memory') {
    const store = new MemoryStore();
    await benchOn(kind, store);
    await store.close();
  } else if (kind === 'redis') {
    const redis = await startRedis();
    const store = await RedisStore.connect({ url: redis.url });
    try {
      await benchOn(kind, store);
    } finally {
      await store.close();
      await redis.stop();
    }
  } else {
    throw new Error(`unknown store '${kind}': use --stores memory,redis`);
  }
}
