import { describe, expect, it } from 'vitest';
import { LocalChangeBus, type ChangeEvent } from '../../src/events/bus.js';
import { withChangeEvents } from '../../src/events/store.js';
import { WAKE_ON } from '../../src/events/wiring.js';
import { MemoryStore } from '../../src/server/store/memory.js';
import { OPERATOR_NAMES } from '../../src/operators/types.js';

const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('withChangeEvents', () => {
  it('publishes one event per successful write and none for reads or deletes of missing records', async () => {
    const bus = new LocalChangeBus({ windowMs: 1 });
    const got: ChangeEvent[] = [];
    bus.subscribe((e) => got.push(e));
    const store = withChangeEvents(new MemoryStore(), bus);
    await store.components.putMany([{ id: 'x1' }, { id: 'x2' }]);
    await settle(10);
    expect(got).toEqual([{ kind: 'components', op: 'put', count: 2 }]);
    got.length = 0;

    await store.components.get('x1');
    await store.components.list();
    expect(await store.components.delete('nope')).toBe(false);
    await store.sessions.delete('', 'nope');
    await settle(10);
    expect(got).toEqual([]);

    await store.sessions.put('', 's1', { name: 's1' } as never);
    await store.putOptions({ polling_frequency: 1 });
    await settle(10);
    expect(got.map((e) => `${e.kind}:${e.op}:${e.name ?? ''}`).sort()).toEqual(['options:put:', 'sessions:put:s1']);
    // The wrapped store still holds the data.
    expect((await store.components.ids()).sort()).toEqual(['x1', 'x2']);
    await bus.close();
  });

  it('wakes only known operators', () => {
    for (const names of Object.values(WAKE_ON)) {
      for (const n of names) expect(OPERATOR_NAMES).toContain(n);
    }
    expect(WAKE_ON.sessions).toContain('session-setup');
    expect(WAKE_ON.components).toContain('status');
  });
});
