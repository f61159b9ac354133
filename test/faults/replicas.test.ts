/**
 * Two API replicas (`bos serve --redis`, each a process of its own) on one redis-server: writes of the
 * same components through both at once lose nothing, a read through one after a write through the
 * other has completed returns that write, and concurrent PATCHes end in the state of some serial
 * order of them.
 */
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { startServeProcess, type ServeProcess } from '../helpers/replicas.js';
import { bootTemplate, bos, checkOutcome, startFaultSystem, startSession, transitionsPerNode, waitComplete, waitDiscovered, x86ComputeNodes } from './harness.js';

type Json = any;

let redis: TestRedis;
let a: ServeProcess;
let b: ServeProcess;

beforeAll(async () => {
  redis = await startRedis();
  [a, b] = await Promise.all([startServeProcess(redis.url), startServeProcess(redis.url)]);
}, 60_000);
afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await redis?.stop();
});

async function call(base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: Json }> {
  const r = await fetch(`${base}/v2${path}`, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : undefined };
}

async function ok(base: string, method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Json> {
  const r = await call(base, method, path, body, headers);
  if (r.status >= 300) throw new Error(`${method} ${path} → ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body;
}

/** Run `fns` with at most `n` at a time. */
async function limited(n: number, fns: (() => Promise<unknown>)[]): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < fns.length) await fns[next++]!();
    }),
  );
}

const xname = (i: number) => `x${3000 + Math.floor(i / 64)}c0s${Math.floor(i / 8) % 8}b${Math.floor(i / 2) % 4}n${i % 2}`;

describe('two API replicas on one Redis', () => {
  it('patching the same components through both at once loses no write (single and bulk PATCHes, 15 rounds)', async () => {
    const ids = Array.from({ length: 200 }, (_, i) => xname(i));
    await ok(a.url, 'PUT', '/components', ids.map((id) => ({ id, enabled: false, error: '', retry_policy: 0 })));
    const patchEach = (base: string, field: object) => (id: string) => () => ok(base, 'PATCH', `/components/${id}`, field);
    const lost: string[] = [];
    for (let round = 1; round <= 15; round++) {
      const errorPatch = { error: `a-${round}` };
      const retryPatch = { retry_policy: round };
      // Odd rounds: A patches one by one while B sends one bulk list PATCH; even rounds the other way round.
      const viaA = round % 2 === 1 ? limited(16, ids.map((id) => patchEach(a.url, errorPatch)(id))) : ok(a.url, 'PATCH', '/components', ids.map((id) => ({ id, ...errorPatch })));
      const viaB = round % 2 === 0 ? limited(16, ids.map((id) => patchEach(b.url, retryPatch)(id))) : ok(b.url, 'PATCH', '/components', ids.map((id) => ({ id, ...retryPatch })));
      await Promise.all([viaA, viaB]);
      for (const base of [a.url, b.url]) {
        const listed: Json[] = await ok(base, 'GET', '/components');
        expect(listed).toHaveLength(ids.length);
        for (const c of listed) if (c.error !== `a-${round}` || c.retry_policy !== round) lost.push(`${c.id} after round ${round}: ${JSON.stringify({ error: c.error, retry_policy: c.retry_policy })}`);
      }
    }
    expect(lost).toEqual([]);
  });

  it('a read through one replica after a write through the other has completed returns that write', async () => {
    const ids = Array.from({ length: 40 }, (_, i) => xname(1000 + i));
    await ok(a.url, 'PUT', '/components', ids.map((id) => ({ id, enabled: false, error: '' })));
    // Both replicas list first, so their listing caches hold every record.
    await Promise.all([ok(a.url, 'GET', '/components'), ok(b.url, 'GET', '/components')]);
    const stale: string[] = [];
    for (let i = 0; i < 60; i++) {
      const [writer, reader] = i % 2 === 0 ? [a.url, b.url] : [b.url, a.url];
      const id = ids[i % ids.length]!;
      const error = `write-${i}`;
      if (i % 3 === 0) await ok(writer, 'PATCH', `/components/${id}`, { error });
      else if (i % 3 === 1) await ok(writer, 'PATCH', '/components', [{ id, error }]);
      else await ok(writer, 'PATCH', '/components', { patch: { error }, filters: { ids: id } });
      const reads: [string, Json][] = [
        ['GET one', await ok(reader, 'GET', `/components/${id}`)],
        ['listing', (await ok(reader, 'GET', '/components')).find((c: Json) => c.id === id)],
        ['by ids', (await ok(reader, 'GET', `/components?ids=${id},${ids[0]}`)).find((c: Json) => c.id === id)],
        ['page', (await ok(reader, 'GET', `/components?start_after_id=${ids[0]}&page_size=100`)).find((c: Json) => c.id === id) ?? { id, error: 'x' }],
        ['status view', (await ok(reader, 'GET', '/components', undefined, { accept: 'application/vnd.bos.status-view+json, application/json' })).find((c: Json) => c.id === id)],
      ];
      for (const [how, c] of reads) if (how !== 'page' || id !== ids[0]) if (c?.error !== error) stale.push(`${how} after write ${i}: ${c?.error}`);
    }
    expect(stale).toEqual([]);
  });

  it('options, session templates and sessions written through one replica are read back through the other', async () => {
    await ok(a.url, 'PATCH', '/options', { polling_frequency: 17 });
    expect((await ok(b.url, 'GET', '/options')).polling_frequency).toBe(17);
    await ok(b.url, 'PATCH', '/options', { polling_frequency: 18 });
    expect((await ok(a.url, 'GET', '/options')).polling_frequency).toBe(18);
  });
});

/** The fields the property test patches: none of them sets a field of its own (no automatic fields). */
type Patch = { error?: string; retry_policy?: number };
interface Op {
  via: 0 | 1;
  form: 'single' | 'list' | 'filter';
  ids: number[];
  patch: Patch;
}

/** The records after applying `ops` one after the other in `order`. */
function serial(base: Record<string, Patch>, ops: readonly Op[], order: readonly number[], ids: readonly string[]): Record<string, Patch> {
  const out: Record<string, Patch> = Object.fromEntries(Object.entries(base).map(([k, v]) => [k, { ...v }]));
  for (const i of order) for (const n of ops[i]!.ids) Object.assign(out[ids[n]!]!, ops[i]!.patch);
  return out;
}

function permutations(n: number): number[][] {
  if (n === 0) return [[]];
  return permutations(n - 1).flatMap((p) => Array.from({ length: n }, (_, i) => [...p.slice(0, i), n - 1, ...p.slice(i)]));
}

describe('concurrent PATCHes through two replicas (property)', () => {
  it('end in the state of some serial order of them', async () => {
    const ids = [xname(2000), xname(2001), xname(2002)];
    const op: fc.Arbitrary<Op> = fc.record({
      via: fc.constantFrom(0 as const, 1 as const),
      form: fc.constantFrom('single' as const, 'list' as const, 'filter' as const),
      ids: fc.uniqueArray(fc.integer({ min: 0, max: 2 }), { minLength: 1, maxLength: 3 }),
      // One field each mostly: two writes of different fields of one record are what a lost update shows in.
      patch: fc.oneof(
        fc.record({ error: fc.string({ maxLength: 6 }) }),
        fc.record({ retry_policy: fc.integer({ min: 0, max: 9 }) }),
        fc.record({ error: fc.string({ maxLength: 6 }), retry_policy: fc.integer({ min: 0, max: 9 }) }),
      ),
    }).map((o) => (o.form === 'single' ? { ...o, ids: o.ids.slice(0, 1) } : o));
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 2, maxLength: 6 }), async (ops) => {
        const base: Record<string, Patch> = Object.fromEntries(ids.map((id) => [id, { error: 'base', retry_policy: 99 }]));
        await ok(a.url, 'PUT', '/components', ids.map((id) => ({ id, ...base[id] })));
        await Promise.all(
          ops.map(async (o) => {
            const url = o.via === 0 ? a.url : b.url;
            const targets = o.ids.map((n) => ids[n]!);
            if (o.form === 'single') {
              await ok(url, 'PATCH', `/components/${targets[0]}`, o.patch);
            } else if (o.form === 'list') {
              await ok(url, 'PATCH', '/components', targets.map((id) => ({ id, ...o.patch })));
            } else {
              await ok(url, 'PATCH', '/components', { patch: o.patch, filters: { ids: targets.join(',') } });
            }
          }),
        );
        const listed: Json[] = await ok(b.url, 'GET', `/components?ids=${ids.join(',')}`);
        const got = Object.fromEntries(
          ids.map((id) => {
            const c = listed.find((x) => x.id === id);
            return [id, { error: c?.error, retry_policy: c?.retry_policy }];
          }),
        );
        const found = permutations(ops.length).some((order) => JSON.stringify(serial(base, ops, order, ids)) === JSON.stringify(got));
        if (!found) throw new Error(`no serial order of ${JSON.stringify(ops)} gives ${JSON.stringify(got)}`);
      }),
      { numRuns: 40 },
    );
  }, 120_000);
});

describe('a boot with the operators on one replica and the nodes reporting to the other', () => {
  it('completes with one power-on per node: no state report is lost to an operator write', async () => {
    // Replica A: the API in this process, with the simulated machine room and the operators; replica
    // B: another `bos serve` process on the same Redis, which the nodes report their state to.
    const admin = new Redis(redis.url);
    await admin.flushall();
    await admin.quit();
    const sys = await startFaultSystem({ nodes: 40, redisUrl: redis.url });
    try {
      sys.room.bosUrl = `${b.url}/v2`;
      const call = bos(sys.bosUrl);
      await waitDiscovered(call, sys.room);
      const nodes = x86ComputeNodes(sys.room);
      const boot = await startSession(call, bootTemplate(), 'boot', 'replicas');
      await waitComplete(call, boot);
      const { stable } = await checkOutcome(sys, call, boot, { nodes, services: ['bos'], templates: ['replicas'] });
      expect(stable.length).toBe(nodes.length);
      for (const [id, n] of transitionsPerNode(sys.room, ['On'])) expect(n, `power-ons of ${id}`).toBe(1);
      expect(sys.room.nodes().filter((n) => nodes.includes(n.id)).every((n) => n.booted)).toBe(true);
      // The reports went to B: A's records show them.
      const reported = (await call('GET', '/components')).body.filter((c: Json) => nodes.includes(c.id) && c.actual_state?.boot_artifacts?.kernel);
      expect(reported.length).toBe(nodes.length);

      const before = new Set(sys.room.transitions.keys());
      const reboot = await startSession(call, bootTemplate(), 'reboot', 'replicas');
      await waitComplete(call, reboot);
      const again = await checkOutcome(sys, call, reboot, { nodes, services: ['bos'], templates: ['replicas'], since: before });
      expect(again.stable.length).toBe(nodes.length);
      for (const [id, n] of transitionsPerNode(sys.room, ['On'], before)) expect(n, `reboot power-ons of ${id}`).toBe(1);
    } finally {
      await sys.close();
    }
  }, 120_000);
});
