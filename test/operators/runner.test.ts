import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Writable } from 'node:stream';
import { RETRY_LIMIT_ERROR } from '../../src/common/constants.js';
import type { Component } from '../../src/common/types.js';
import { ServiceError } from '../../src/clients/types.js';
import { createLogger } from '../../src/log.js';
import { createMetrics, Registry } from '../../src/metrics.js';
import { bosQuery } from '../../src/operators/filters.js';
import { PassGate } from '../../src/operators/pass-gate.js';
import { Runner } from '../../src/operators/runner.js';
import type { FilterOperator, PassOperator } from '../../src/operators/types.js';
import { comp, world, type World } from './fakes.js';

/** A retry operator that records what it acted on and can be told to throw. */
function recordingOperator(opts: { fail?: (batch: readonly Component[]) => unknown; preset?: boolean } = {}) {
  const acted: string[][] = [];
  const op: FilterOperator = {
    kind: 'filter',
    name: 'rec',
    action: 'powering_on',
    retryField: 'power_on_attempts',
    presetLastAction: opts.preset,
    filters: () => [bosQuery({ enabled: true })],
    async act(_ctx, batch) {
      acted.push(batch.map((c) => c.id));
      const err = opts.fail?.(batch);
      if (err) throw err;
    },
  };
  return { op, acted };
}

function seed(w: World, n: number, extra: Partial<Component> = {}): string[] {
  const ids = Array.from({ length: n }, (_, i) => `x${String(i).padStart(4, '0')}`);
  for (const id of ids) w.bos.put(comp(id, extra));
  return ids;
}

describe('runner: filter/act pass', () => {
  it('with a paging BOS client, acts on each full batch before reading the pages after it', async () => {
    const w = world();
    w.bos.enablePaging();
    const ids = seed(w, 10);
    w.bos.options = { max_component_batch_size: 3, default_retry_policy: -1 };
    const order: string[] = [];
    const op: FilterOperator = {
      kind: 'filter',
      name: 'rec',
      action: 'powering_on',
      filters: () => [bosQuery({ enabled: true }), { name: 'notx0004', run: async (_ctx, input) => input.filter((c) => c.id !== 'x0004') }],
      async act(_ctx, batch) {
        order.push(`act ${batch.map((c) => c.id).join(' ')} after ${w.rec.of('bos', 'listComponentPages').length} page(s)`);
      },
    };
    const r = await new Runner(op, { services: w, clock: w.clock }).runOnce();
    expect(r).toMatchObject({ ok: true, selected: 9, acted: 9 });
    // Pages of 3 listed; x0004 filtered out, so the second batch spans the second and third pages.
    expect(w.rec.of('bos', 'listComponentPages').map((c) => c.args[2])).toEqual([undefined, 'x0002', 'x0005', 'x0008']);
    expect(order).toEqual([`act ${ids.slice(0, 3).join(' ')} after 1 page(s)`, 'act x0003 x0005 x0006 after 3 page(s)', 'act x0007 x0008 x0009 after 4 page(s)']);
    expect(w.rec.of('bos', 'listComponents')).toHaveLength(0);
  });

  it('acts on every selected component exactly once per pass, in batches of max_component_batch_size (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 12 }), fc.boolean(), fc.boolean(), async (n, size, paging, filtered) => {
        const w = world();
        if (paging) w.bos.enablePaging();
        let ids = seed(w, n);
        // Some components filtered out after the BOS query, so pages select fewer than they list.
        if (filtered) ids = ids.filter((id, i) => (i % 3 === 1 ? (w.bos.put(comp(id, { enabled: false })), false) : true));
        n = ids.length;
        w.bos.options = { max_component_batch_size: size, default_retry_policy: -1 };
        const { op, acted } = recordingOperator();
        const r = await new Runner(op, { services: w, clock: w.clock }).runOnce();
        expect(r.ok).toBe(true);
        expect(r.selected).toBe(n);
        expect(r.acted).toBe(n);
        expect(acted.flat()).toEqual(ids);
        if (n > 0) expect(acted.length).toBe(size === 0 ? 1 : Math.ceil(n / size));
        for (const b of acted) if (size > 0) expect(b.length).toBeLessThanOrEqual(size);
        // one base-update PATCH per batch, attempts incremented once
        expect(w.rec.of('bos', 'patchComponents')).toHaveLength(acted.length);
        for (const id of ids) expect(w.bos.get(id).event_stats?.power_on_attempts).toBe(1);
      }),
      { numRuns: 60 },
    );
  });

  it('writes error, last_action and attempts+1 in one bulk PATCH and clears old errors', async () => {
    const w = world();
    w.bos.put(comp('a', { error: 'old problem', event_stats: { power_on_attempts: 1 } }));
    const { op } = recordingOperator();
    await new Runner(op, { services: w, clock: w.clock }).runOnce();
    const patches = w.rec.of('bos', 'patchComponents');
    expect(patches).toHaveLength(1);
    expect(patches[0]!.args[0]).toEqual([{ id: 'a', error: '', last_action: { action: 'powering_on', failed: false }, event_stats: { power_on_attempts: 2 } }]);
    expect(w.bos.get('a').error).toBe('');
  });

  it('presets last_action before acting when the operator asks for it', async () => {
    const w = world();
    w.bos.put(comp('a', { error: 'x' }));
    let seenAtAct: Component | undefined;
    const op: FilterOperator = {
      ...recordingOperator({ preset: true }).op,
      async act() {
        seenAtAct = w.bos.get('a');
      },
    };
    await new Runner(op, { services: w, clock: w.clock }).runOnce();
    expect(seenAtAct?.last_action?.action).toBe('powering_on');
    expect(seenAtAct?.error).toBe('');
    expect(seenAtAct?.event_stats?.power_on_attempts).toBeUndefined();
    expect(w.rec.of('bos', 'patchComponents')[0]!.args[0]).toEqual([{ id: 'a', error: '', last_action: { action: 'powering_on', failed: false } }]);
  });

  it('turns an action failure into the error of exactly that batch', async () => {
    const w = world();
    const ids = seed(w, 5);
    w.bos.options = { max_component_batch_size: 2 };
    const registry = new Registry();
    const metrics = createMetrics(registry);
    const { op } = recordingOperator({
      fail: (batch) => (batch.some((c) => c.id === 'x0002') ? new ServiceError('pcs', 'POST', '/transitions', 400, 'Non-2XX response (400)') : undefined),
    });
    const r = await new Runner(op, { services: w, clock: w.clock, metrics }).runOnce();
    expect(r.ok).toBe(true);
    expect(r.errored).toBe(2);
    const errors = Object.fromEntries(ids.map((id) => [id, w.bos.get(id).error]));
    expect(errors).toEqual({ x0000: '', x0001: '', x0002: 'pcs: Non-2XX response (400)', x0003: 'pcs: Non-2XX response (400)', x0004: '' });
    // attempts are counted whether or not the action worked
    for (const id of ids) expect(w.bos.get(id).event_stats?.power_on_attempts).toBe(1);
    expect(await registry.getSingleMetricAsString('bos_operator_action_failures_total')).toContain('operator="rec",service="pcs"} 1');
  });

  it('marks components at their retry limit failed instead of acting again', async () => {
    const w = world();
    w.bos.put(comp('a', { event_stats: { power_on_attempts: 3 } }));
    w.bos.put(comp('b', { event_stats: { power_on_attempts: 1 }, retry_policy: 1, error: 'pcs: refused' }));
    w.bos.put(comp('c', { event_stats: { power_on_attempts: 1 } }));
    const { op, acted } = recordingOperator();
    const r = await new Runner(op, { services: w, clock: w.clock }).runOnce();
    expect(acted).toEqual([['c']]);
    expect(r.failedAtLimit).toBe(2);
    const limitPatch = w.rec.of('bos', 'patchComponents')[0]!.args[0];
    expect(limitPatch).toEqual([
      { id: 'a', status: { status_override: 'failed' }, error: RETRY_LIMIT_ERROR },
      { id: 'b', status: { status_override: 'failed' } },
    ]);
    expect(w.bos.get('a').status?.status).toBe('failed');
    expect(w.bos.get('a').event_stats?.power_on_attempts).toBe(3);
    expect(w.bos.get('b').error).toBe('pcs: refused');
  });

  it('stops cleanly when every component of a batch is at its limit', async () => {
    const w = world();
    w.bos.put(comp('a', { event_stats: { power_on_attempts: 3 } }));
    const { op, acted } = recordingOperator();
    const r = await new Runner(op, { services: w, clock: w.clock }).runOnce();
    expect(acted).toEqual([]);
    expect(r.acted).toBe(0);
    expect(w.rec.of('bos', 'patchComponents')).toHaveLength(1);
  });

  it('never gives a component more attempts than its policy allows (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ policy: fc.option(fc.integer({ min: -1, max: 4 }), { nil: undefined }), start: fc.integer({ min: 0, max: 5 }) }), { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 0, max: 4 }),
        fc.integer({ min: 1, max: 8 }),
        fc.boolean(),
        async (specs, defaultPolicy, passes, failing) => {
          const w = world();
          specs.forEach((s, i) =>
            w.bos.put(comp(`n${i}`, { event_stats: { power_on_attempts: s.start }, ...(s.policy === undefined ? {} : { retry_policy: s.policy }) })),
          );
          w.bos.options = { default_retry_policy: defaultPolicy, max_component_batch_size: 2 };
          const { op, acted } = recordingOperator({ fail: () => (failing ? new Error('nope') : undefined) });
          const runner = new Runner(op, { services: w, clock: w.clock });
          for (let p = 0; p < passes; p++) await runner.runOnce();
          specs.forEach((s, i) => {
            const limit = s.policy ?? defaultPolicy;
            const times = acted.flat().filter((id) => id === `n${i}`).length;
            const finalAttempts = w.bos.get(`n${i}`).event_stats!.power_on_attempts!;
            if (limit === -1) {
              expect(times).toBe(passes);
            } else {
              expect(finalAttempts).toBeLessThanOrEqual(Math.max(limit, s.start));
              expect(times).toBe(Math.min(passes, Math.max(0, limit - s.start)));
              if (times < passes) expect(w.bos.get(`n${i}`).status?.status).toBe('failed');
            }
          });
        },
      ),
      { numRuns: 80 },
    );
  });

  it('a filter that throws fails the pass instead of looking like "no work"', async () => {
    const w = world();
    seed(w, 2);
    w.rec.fail('bos', 'listComponents', 'connection refused');
    const { op, acted } = recordingOperator();
    const registry = new Registry();
    const r = await new Runner(op, { services: w, clock: w.clock, metrics: createMetrics(registry) }).runOnce();
    expect(r.ok).toBe(false);
    expect(r.error).toContain('connection refused');
    expect(acted).toEqual([]);
    expect(await registry.getSingleMetricAsString('bos_operator_passes_total')).toContain('operator="rec",outcome="failed"} 1');
  });

  it('uses default options when BOS options cannot be read, and follows them when they can', async () => {
    const w = world();
    seed(w, 3);
    w.rec.fail('bos', 'getOptions', 'down', { times: 1 });
    w.bos.options = { max_component_batch_size: 1 };
    const { op, acted } = recordingOperator();
    const runner = new Runner(op, { services: w, clock: w.clock });
    const first = await runner.runOnce();
    expect(first.optionsFetched).toBe(false);
    expect(first.ok).toBe(true);
    expect(acted).toHaveLength(1); // default batch size 2800 → one batch
    expect(runner.options.max_component_batch_size).toBe(2800);
    await runner.runOnce();
    expect(acted.slice(1)).toHaveLength(3);
    expect(runner.options.max_component_batch_size).toBe(1);
  });

  it('applies logging_level from the options', async () => {
    const w = world();
    const lines: string[] = [];
    const dest = new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    });
    const logger = createLogger({ level: 'INFO', destination: dest });
    const op: PassOperator = {
      kind: 'pass',
      name: 'p',
      async pass(ctx) {
        ctx.log.debug('a debug line');
      },
    };
    const runner = new Runner(op, { services: w, clock: w.clock, logger });
    await runner.runOnce();
    expect(lines.some((l) => l.includes('a debug line'))).toBe(false);
    w.bos.options = { logging_level: 'DEBUG' };
    await runner.runOnce();
    expect(lines.some((l) => l.includes('a debug line'))).toBe(true);
    const change = lines.map((l) => JSON.parse(l)).find((l) => l.msg.startsWith('log level changed'));
    expect(change).toMatchObject({ operator: 'p', from: 'INFO', to: 'DEBUG' });
    w.bos.options = { logging_level: 'WARNING' };
    await runner.runOnce();
    expect(runner.log.level).toBe('warn');
  });

  it('records the options in force as gauges', async () => {
    const w = world();
    w.bos.options = { polling_frequency: 7, ims_errors_fatal: true };
    const registry = new Registry();
    await new Runner(recordingOperator().op, { services: w, clock: w.clock, metrics: createMetrics(registry) }).runOnce();
    const text = await registry.getSingleMetricAsString('bos_option');
    expect(text).toContain('bos_option{option="polling_frequency"} 7');
    expect(text).toContain('bos_option{option="ims_errors_fatal"} 1');
    expect(text).toContain('bos_option{option="component_actual_state_ttl_seconds"} 14400');
  });

  it('a leader that loses the lease stops before the next batch', async () => {
    const w = world();
    seed(w, 4);
    w.bos.options = { max_component_batch_size: 2, default_retry_policy: -1 };
    let leader = true;
    const acted: string[][] = [];
    const op: FilterOperator = {
      ...recordingOperator().op,
      async act(_ctx, batch) {
        acted.push(batch.map((c) => c.id));
        leader = false;
      },
    };
    const gate = { isLeader: () => leader, waitForLeadership: async () => undefined };
    const r = await new Runner(op, { services: w, clock: w.clock, leadership: gate }).runOnce();
    expect(acted).toEqual([['x0000', 'x0001']]);
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(/^LostLeadership: lost leadership during the pass/);
    // the batch that was acted on still got its base update
    expect(w.bos.get('x0001').event_stats?.power_on_attempts).toBe(1);
    expect(w.bos.get('x0002').event_stats?.power_on_attempts).toBeUndefined();
  });

  it('refuses to write desired_state without a session', async () => {
    const w = world();
    w.bos.put(comp('a'));
    const { patchComponents } = await import('../../src/operators/runner.js');
    await expect(patchComponents(w, [{ id: 'a', desired_state: { configuration: 'x' } }])).rejects.toThrow(/without its session/);
    expect(w.rec.of('bos', 'patchComponents')).toHaveLength(0);
  });
});

describe('runner: loop', () => {
  /** Let pending promise callbacks run. */
  const settle = async () => {
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  };

  function counting() {
    let passes = 0;
    let release: (() => void) | undefined;
    let block = false;
    const op: PassOperator = {
      kind: 'pass',
      name: 'count',
      async pass() {
        passes++;
        if (block) await new Promise<void>((r) => (release = r));
      },
    };
    return {
      op,
      passes: () => passes,
      block: () => (block = true),
      release: () => {
        block = false;
        release?.();
      },
    };
  }

  it('sleeps polling_frequency minus the pass time, on the injected clock', async () => {
    const w = world();
    w.bos.options = { polling_frequency: 10 };
    const c = counting();
    const runner = new Runner(c.op, { services: w, clock: w.clock, minIntervalMs: 100 }).start();
    await settle();
    expect(c.passes()).toBe(1);
    w.clock.advance(9_000);
    await settle();
    expect(c.passes()).toBe(1);
    w.clock.advance(1_000);
    await settle();
    expect(c.passes()).toBe(2);
    const stopped = runner.stop();
    await stopped;
    w.clock.advance(60_000);
    await settle();
    expect(c.passes()).toBe(2);
  });

  it('uses discovery_frequency for discovery-like operators', async () => {
    const w = world();
    w.bos.options = { polling_frequency: 1, discovery_frequency: 100 };
    const c = counting();
    const runner = new Runner({ ...c.op, frequency: 'discovery_frequency' }, { services: w, clock: w.clock, minIntervalMs: 100 }).start();
    await settle();
    w.clock.advance(50_000);
    await settle();
    expect(c.passes()).toBe(1);
    w.clock.advance(50_000);
    await settle();
    expect(c.passes()).toBe(2);
    await runner.stop();
  });

  it('wake() starts the next pass early; wakes during a pass coalesce into one more pass', async () => {
    const w = world();
    w.bos.options = { polling_frequency: 1000 };
    const c = counting();
    const runner = new Runner(c.op, { services: w, clock: w.clock, minIntervalMs: 100 }).start();
    await settle();
    expect(c.passes()).toBe(1);
    runner.wake();
    await settle();
    expect(c.passes()).toBe(1); // the minimum interval still applies
    w.clock.advance(100);
    await settle();
    expect(c.passes()).toBe(2);
    // three wakes while a pass runs → exactly one more pass
    c.block();
    runner.wake();
    w.clock.advance(100);
    await settle();
    expect(c.passes()).toBe(3);
    expect(runner.health().inPass).toBe(true);
    runner.wake();
    runner.wake();
    runner.wake();
    c.release();
    await settle();
    w.clock.advance(100);
    await settle();
    expect(c.passes()).toBe(4);
    w.clock.advance(100);
    await settle();
    expect(c.passes()).toBe(4);
    await runner.stop();
  });

  it('after a long large pass, a woken operator waits as long as that pass took (passGapFactor); not after a small or failed one', async () => {
    const cases = [
      { factor: undefined, selected: 20_000, fails: false, expected: 3_000 },
      { factor: 0, selected: 20_000, fails: false, expected: 100 },
      { factor: 2, selected: 50_000, fails: false, expected: 6_000 },
      { factor: undefined, selected: 19_999, fails: false, expected: 100 },
      { factor: undefined, selected: 20_000, fails: true, expected: 100 }, // waited on a service: no CPU spent
      { factor: undefined, selected: 50_000, fails: false, expected: 100, gate: new PassGate(0) }, // no pass counts as large
      { factor: undefined, selected: 5_000, fails: false, expected: 3_000, gate: new PassGate(5_000) },
    ];
    for (const { factor, selected, fails, expected, gate } of cases) {
      const w = world();
      w.bos.options = { polling_frequency: 1000 };
      let passes = 0;
      let long = true;
      const op: PassOperator = {
        kind: 'pass',
        name: 'slow',
        async pass() {
          passes++;
          if (!long) return { selected: 0, acted: 0 };
          await w.clock.sleep(3_000); // a pass over a large system
          if (fails) throw new Error('PCS read timed out');
          return { selected, acted: 0 };
        },
      };
      const runner = new Runner(op, { services: w, clock: w.clock, minIntervalMs: 100, passGapFactor: factor, gate }).start();
      await settle();
      w.clock.advance(3_000);
      await settle();
      expect(passes).toBe(1);
      long = false;
      runner.wake();
      w.clock.advance(expected - 1);
      await settle();
      expect(passes, `factor ${factor}, ${selected} selected${fails ? ', failed' : ''}`).toBe(1);
      w.clock.advance(1);
      await settle();
      expect(passes, `factor ${factor}, ${selected} selected${fails ? ', failed' : ''}`).toBe(2);
      await runner.stop();
    }
  });

  it('never runs two passes of one operator at once', async () => {
    const w = world();
    let running = 0;
    let maxRunning = 0;
    const op: PassOperator = {
      kind: 'pass',
      name: 'excl',
      async pass() {
        running++;
        maxRunning = Math.max(maxRunning, running);
        await new Promise((r) => setImmediate(r));
        running--;
      },
    };
    const runner = new Runner(op, { services: w, clock: w.clock });
    await Promise.all([runner.runOnce(), runner.runOnce(), runner.runOnce()]);
    expect(maxRunning).toBe(1);
    expect(runner.health().passes).toBe(3);
  });

  it('a pass that throws does not stop the loop; stop() waits for the current pass', async () => {
    const w = world();
    w.bos.options = { polling_frequency: 5 };
    let n = 0;
    let release: (() => void) | undefined;
    const op: PassOperator = {
      kind: 'pass',
      name: 'flaky',
      async pass() {
        n++;
        if (n === 1) throw new Error('first pass breaks');
        if (n === 3) await new Promise<void>((r) => (release = r));
      },
    };
    const runner = new Runner(op, { services: w, clock: w.clock, minIntervalMs: 100 }).start();
    await settle();
    expect(runner.health()).toMatchObject({ passes: 1, failedPasses: 1, lastError: 'Error: first pass breaks' });
    w.clock.advance(5_000);
    await settle();
    expect(runner.health()).toMatchObject({ passes: 2, failedPasses: 1 });
    w.clock.advance(5_000);
    await settle();
    expect(runner.health().inPass).toBe(true);
    let stopped = false;
    const done = runner.stop().then(() => (stopped = true));
    await settle();
    expect(stopped).toBe(false);
    release!();
    await done;
    expect(runner.health()).toMatchObject({ passes: 3, running: false, inPass: false });
  });
});
