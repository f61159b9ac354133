import { describe, expect, it } from 'vitest';
import { LocalChangeBus, type ChangeEvent } from '../../src/events/bus.js';
import { withChangeEvents } from '../../src/events/store.js';
import { operatorsToWake, WAKE_ON } from '../../src/events/wiring.js';
import { startServer } from '../../src/server/app.js';
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
    // A node's state report is published as such.
    await store.components.putMany([{ id: 'x1', actual_state: { bss_token: 't' } }], { op: 'report' });
    await settle(10);
    expect(got).toEqual([{ kind: 'components', op: 'report', count: 1 }]);
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

  it('a node report wakes the status operator only; other component writes wake every component operator', () => {
    expect(operatorsToWake({ kind: 'components', op: 'report', count: 500 })).toEqual(['status']);
    expect(operatorsToWake({ kind: 'components', op: 'put', count: 1 })).toEqual(WAKE_ON.components);
    expect(operatorsToWake({ kind: 'components', op: 'delete' })).toEqual(WAKE_ON.components);
    expect(operatorsToWake({ kind: 'sessions', op: 'report' })).toEqual(WAKE_ON.sessions);
  });

  it('the API publishes a node\'s actual-state PATCH as a report and any other component write as a put', async () => {
    const bus = new LocalChangeBus({ windowMs: 1 });
    const got: ChangeEvent[] = [];
    bus.subscribe((e) => got.push(e));
    const srv = await startServer({ store: withChangeEvents(new MemoryStore(), bus), logger: false });
    try {
      const send = async (method: string, path: string, body: unknown) => {
        const res = await fetch(`${srv.url}${path}`, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
        expect(res.status).toBe(200);
        await settle(10);
        const ops = got.filter((e) => e.kind === 'components').map((e) => `${e.kind}:${e.op}`);
        got.length = 0;
        return ops;
      };
      expect(await send('PUT', '/v2/components/x1', { enabled: false })).toEqual(['components:put']);
      expect(await send('PATCH', '/v2/components/x1', { actual_state: { bss_token: 't1' } })).toEqual(['components:report']);
      expect(await send('PATCH', '/v2/components/x1', { id: 'x1', actual_state: { bss_token: 't2' } })).toEqual(['components:report']);
      expect(await send('PATCH', '/v2/components/x1', { actual_state: { bss_token: 't3' }, enabled: false })).toEqual(['components:put']);
      expect(await send('PATCH', '/v2/components', [{ id: 'x1', actual_state: { bss_token: 't4' } }])).toEqual(['components:put']);
    } finally {
      await srv.close();
      await bus.close();
    }
  });
});
