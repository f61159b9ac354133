import { describe, expect, it } from 'vitest';
import type { Component } from '../../src/common/types.js';
import {
  actualBootStateIsSetFilter,
  actualStateAgeFilter,
  bosQuery,
  desiredBootStateIsNoneFilter,
  desiredBootStateIsOffFilter,
  desiredConfigurationIsNoneFilter,
  FilterError,
  hsmState,
  lastActionIsFilter,
  orFilter,
  runFilters,
  selectPages,
  timeSinceLastActionFilter,
} from '../../src/operators/filters.js';
import { ago, comp, context, world } from './fakes.js';

const ids = (cs: Component[]) => cs.map((c) => c.id);

describe('filters', () => {
  it('BOSQuery pages by max_component_batch_size', async () => {
    const w = world();
    w.bos.put(comp('a'));
    w.bos.put(comp('b', { enabled: false }));
    const out = await bosQuery({ enabled: true, status: 'stable' }).run(context(w, { max_component_batch_size: 7 }), []);
    expect(ids(out)).toEqual(['a']);
    expect(w.rec.of('bos', 'listComponents')[0]!.args).toEqual([{ enabled: true, status: 'stable' }, 7]);
  });

  it('HSMState keeps known ids in input order; enabled goes to HSM, ready is checked here', async () => {
    const w = world();
    w.hsm.addNodes(['b', 'a']);
    w.hsm.addNodes(['c'], { State: 'Off', Enabled: false });
    const input = ['c', 'x', 'a', 'b'].map((id) => comp(id));
    const ctx = context(w);
    expect(ids(await hsmState().run(ctx, input))).toEqual(['c', 'a', 'b']);
    expect(ids(await hsmState({ enabled: true }).run(ctx, input))).toEqual(['a', 'b']);
    expect(w.rec.of('hsm', 'queryComponents')[1]!.args[1]).toEqual({ enabled: true });
    expect(ids(await hsmState({ ready: false }).run(ctx, input))).toEqual(['c']);
    expect(await hsmState().run(ctx, [])).toEqual([]);
  });

  it('time and state predicates', async () => {
    const w = world();
    const ctx = context(w);
    const cs = [
      comp('never', { last_action: {} }),
      comp('old', { last_action: { action: 'powering_on', last_updated: ago(w, 61) } }),
      comp('new', { last_action: { action: 'session_setup', last_updated: ago(w, 60) } }),
    ];
    expect(ids(await timeSinceLastActionFilter(60).run(ctx, cs))).toEqual(['never', 'old']);
    expect(ids(await timeSinceLastActionFilter(60, true).run(ctx, cs))).toEqual(['new']);
    expect(ids(await lastActionIsFilter('powering_on,session_setup').run(ctx, cs))).toEqual(['old', 'new']);
    expect(ids(await lastActionIsFilter('').run(ctx, cs))).toEqual(['never']);

    const states = [
      comp('none', {}),
      comp('off', { desired_state: { boot_artifacts: { kernel: '', initrd: 'i' }, configuration: 'c' } }),
      comp('on', { desired_state: { boot_artifacts: { kernel: 'k' } }, actual_state: { boot_artifacts: { kernel: 'k' }, last_updated: ago(w, 10) } }),
      comp('stamp', { actual_state: { boot_artifacts: { timestamp: 'x' } } }),
    ];
    expect(ids(await desiredBootStateIsNoneFilter().run(ctx, states))).toEqual(['none', 'stamp']);
    expect(ids(await desiredBootStateIsOffFilter().run(ctx, states))).toEqual(['none', 'off', 'stamp']);
    expect(ids(await desiredConfigurationIsNoneFilter().run(ctx, states))).toEqual(['none', 'on', 'stamp']);
    expect(ids(await actualBootStateIsSetFilter().run(ctx, states))).toEqual(['on']);
    expect(ids(await actualStateAgeFilter(5).run(ctx, states))).toEqual(['none', 'off', 'on', 'stamp']);
    expect(ids(await actualStateAgeFilter(10).run(ctx, states))).toEqual(['none', 'off', 'stamp']);
  });

  it('OR unites by id, the second filter\'s record winning', async () => {
    const w = world();
    const a = { name: 'A', run: async () => [comp('x', { error: 'from a' }), comp('y')] };
    const b = { name: 'B', run: async () => [comp('x', { error: 'from b' }), comp('z')] };
    const out = await orFilter(a, b).run(context(w), []);
    expect(out.map((c) => [c.id, c.error])).toEqual([
      ['x', 'from b'],
      ['y', ''],
      ['z', ''],
    ]);
  });

  it('runFilters skips later filters on empty input and names the filter that failed', async () => {
    const w = world();
    let called = false;
    const later = { name: 'later', run: async (_c: unknown, input: Component[]) => ((called = true), input) };
    expect(await runFilters(context(w), [bosQuery(), later])).toEqual([]);
    expect(called).toBe(false);

    w.bos.put(comp('a'));
    w.rec.fail('hsm', 'queryComponents', 'Non-2XX response (500)');
    const err = await runFilters(context(w), [bosQuery(), hsmState()]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FilterError);
    expect((err as Error).message).toBe('filter HSMState() failed: hsm: Non-2XX response (500)');
  });

  it('selectPages runs the later filters on each page of a paging BOS query, and names the filter that failed', async () => {
    const w = world();
    w.bos.enablePaging();
    for (const id of ['a', 'b', 'c', 'd', 'e']) w.bos.put(comp(id, { enabled: id !== 'b' }));
    w.hsm.addNodes(['a', 'c', 'd']);
    const ctx = context(w, { max_component_batch_size: 2 });
    const pages: string[][] = [];
    for await (const page of selectPages(ctx, [bosQuery({ enabled: true }), hsmState()])) pages.push(ids(page));
    expect(pages).toEqual([['a', 'c'], ['d'], []]);
    expect(w.rec.of('hsm', 'queryComponents').map((c) => c.args[0])).toEqual([['a', 'c'], ['d', 'e']]);

    w.rec.fail('bos', 'listComponentPages', 'Non-2XX response (503)', { times: 1 });
    const err = await (async () => {
      for await (const _ of selectPages(ctx, [bosQuery({ enabled: true })]));
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FilterError);
    expect((err as Error).message).toBe('filter BOSQuery(enabled=true) failed: bos: Non-2XX response (503)');
  });
});
