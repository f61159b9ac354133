import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { FakeClock } from '../../src/common/clock.js';
import { Scheduler } from '../../src/sim/scheduler.js';
import { Prng, stream } from '../../src/sim/prng.js';

describe('Scheduler', () => {
  it('runs events in (time, insertion) order, only once due, whatever the insertion order (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 1000 }), { maxLength: 60 }), fc.integer({ min: 0, max: 1000 }), (delays, cut) => {
        const clock = new FakeClock(0);
        const s = new Scheduler(clock);
        const ran: { i: number; at: number }[] = [];
        delays.forEach((d, i) => s.after(d, (at) => ran.push({ i, at })));
        clock.advance(cut);
        s.runDue();
        const expected = delays
          .map((d, i) => ({ i, at: d }))
          .filter((e) => e.at <= cut)
          .sort((a, b) => a.at - b.at || a.i - b.i);
        expect(ran).toEqual(expected);
        clock.advance(1000);
        s.runDue();
        expect(ran).toHaveLength(delays.length);
      }),
    );
  });

  it('chains delays from the handler’s due time, not from the clock, and honours cancel', () => {
    const clock = new FakeClock(0);
    const s = new Scheduler(clock);
    const seen: number[] = [];
    s.after(10, () => {
      seen.push(s.base());
      s.after(20, (at) => {
        seen.push(at);
        s.after(30, (at2) => seen.push(at2));
      });
    });
    const cancelled = s.after(5, () => seen.push(-1));
    s.cancel(cancelled);
    clock.advance(1_000_000);
    expect(s.runDue()).toBe(3);
    expect(seen).toEqual([10, 30, 60]);
  });

  it('its driver loop wakes for an event added while sleeping and stops on close', async () => {
    const clock = new FakeClock(0);
    const s = new Scheduler(clock);
    s.start();
    const seen: number[] = [];
    s.after(1000, (at) => seen.push(at));
    await new Promise((r) => setImmediate(r));
    s.after(10, (at) => seen.push(at)); // earlier than the current sleep
    clock.advance(10);
    await new Promise((r) => setImmediate(r));
    expect(seen).toEqual([10]);
    clock.advance(990);
    await new Promise((r) => setImmediate(r));
    expect(seen).toEqual([10, 1000]);
    await s.close();
  });
});

describe('Prng', () => {
  it('is reproducible per seed and label, and streams are independent', () => {
    const a = stream(5, 'x');
    const b = stream(5, 'x');
    const c = stream(5, 'y');
    const xs = Array.from({ length: 20 }, () => a.next());
    expect(Array.from({ length: 20 }, () => b.next())).toEqual(xs);
    expect(Array.from({ length: 20 }, () => c.next())).not.toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
  });

  it('sample picks k distinct items in input order (property)', () => {
    fc.assert(
      fc.property(fc.integer(), fc.uniqueArray(fc.string(), { maxLength: 30 }), fc.nat(40), (seed, items, k) => {
        const picked = new Prng(seed).sample(items, k);
        expect(picked).toHaveLength(Math.min(k, items.length));
        expect(new Set(picked).size).toBe(picked.length);
        const positions = picked.map((p) => items.indexOf(p));
        expect([...positions].sort((x, y) => x - y)).toEqual(positions);
      }),
    );
  });
});
