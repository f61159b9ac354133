import { getEventListeners } from 'node:events';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FakeClock, formatTimestamp, parseTimestamp, systemClock, timestamp } from '../../src/common/clock.js';

describe('timestamps', () => {
  it('are written as naive UTC, second precision, no zone', () => {
    expect(formatTimestamp(Date.UTC(2025, 2, 4, 17, 5, 9, 999))).toBe('2025-03-04T17:05:09');
    expect(formatTimestamp(0)).toBe('1970-01-01T00:00:00');
    expect(timestamp(new FakeClock(Date.UTC(2026, 0, 1, 0, 0, 0)))).toBe('2026-01-01T00:00:00');
  });

  it.each([
    ['2025-03-04T17:05:09', Date.UTC(2025, 2, 4, 17, 5, 9)],
    ['2025-03-04T17:05:09Z', Date.UTC(2025, 2, 4, 17, 5, 9)],
    ['2025-03-04T17:05:09+05:00', Date.UTC(2025, 2, 4, 17, 5, 9)],
    ['2025-03-04T17:05:09-0800', Date.UTC(2025, 2, 4, 17, 5, 9)],
    ['2025-03-04T17:05:09.5', Date.UTC(2025, 2, 4, 17, 5, 9, 500)],
    ['2025-03-04T17:05:09.123456+00:00', Date.UTC(2025, 2, 4, 17, 5, 9, 123) + 0.456],
    ['2025-03-04 17:05:09', Date.UTC(2025, 2, 4, 17, 5, 9)],
    ['2025-03-04T17:05', Date.UTC(2025, 2, 4, 17, 5, 0)],
    ['2025-03-04', Date.UTC(2025, 2, 4)],
    [' 2025-03-04T17:05:09 ', Date.UTC(2025, 2, 4, 17, 5, 9)],
    ['2024-02-29T23:59:59', Date.UTC(2024, 1, 29, 23, 59, 59)],
    ['0050-01-01T00:00:00', -60589296000000],
  ])('%j parses as naive UTC, zone dropped', (text, ms) => {
    expect(parseTimestamp(text)).toBe(ms);
  });

  it.each(['', 'garbage', '2025/03/04 17:05:09', '25-03-04', '2025-13-01T00:00:00', '2025-02-30T00:00:00', '2023-02-29', '2025-03-04T24:00:00', '2025-03-04T17:60:00', '2025-03-04T17:05:61'])(
    '%j cannot be read (NaN)',
    (text) => {
      expect(parseTimestamp(text)).toBeNaN();
    },
  );

  it('reads null and undefined as NaN', () => {
    expect(parseTimestamp(null)).toBeNaN();
    expect(parseTimestamp(undefined)).toBeNaN();
  });

  it('round-trips: parse(format(t)) is t truncated to the second, whatever zone suffix is added', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Date.UTC(9999, 11, 31, 23, 59, 59) }), fc.constantFrom('', 'Z', '+00:00', '-07:00', '.999'), (ms, suffix) => {
        const text = formatTimestamp(ms);
        expect(text).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/);
        const back = parseTimestamp(text + suffix);
        expect(back - (suffix === '.999' ? 999 : 0)).toBe(Math.floor(ms / 1000) * 1000);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('FakeClock', () => {
  it('stands still until advanced', () => {
    const clock = new FakeClock(1_000);
    expect(clock.now()).toBe(1_000);
    clock.advance(250);
    expect(clock.now()).toBe(1_250);
    expect(new FakeClock().now()).toBe(Date.UTC(2026, 0, 1));
  });

  it('wakes a sleeper only once the clock reaches its deadline', async () => {
    const clock = new FakeClock(0);
    let woke = false;
    const p = clock.sleep(1_000).then(() => (woke = true));
    clock.advance(999);
    await Promise.resolve();
    await Promise.resolve();
    expect(woke).toBe(false);
    clock.advance(1);
    await p;
    expect(woke).toBe(true);
    expect(clock.now()).toBe(1_000);
  });

  it('wakes sleepers in deadline order, whatever order they went to sleep in', async () => {
    const clock = new FakeClock(0);
    const order: string[] = [];
    const all = [clock.sleep(300).then(() => order.push('300')), clock.sleep(200).then(() => order.push('200')), clock.sleep(100).then(() => order.push('100'))];
    clock.advance(250);
    await all[1];
    await all[2];
    await Promise.resolve();
    expect(order).toEqual(['100', '200']);
    clock.advance(50);
    await Promise.all(all);
    expect(order).toEqual(['100', '200', '300']);
  });

  it('returns at once for zero or negative sleeps and for an aborted signal', async () => {
    const clock = new FakeClock(0);
    await clock.sleep(0);
    await clock.sleep(-5);
    await clock.sleep(10_000, AbortSignal.abort());
    expect(clock.now()).toBe(0);
  });

  it('wakes a sleeper early when its signal aborts, and forgets it', async () => {
    const clock = new FakeClock(0);
    const ac = new AbortController();
    let woke = false;
    const p = clock.sleep(60_000, ac.signal).then(() => (woke = true));
    ac.abort();
    await p;
    expect(woke).toBe(true);
    expect(clock.now()).toBe(0);
    clock.advance(60_000); // must not resolve anything twice or throw
  });

  it('does not pile up abort listeners on a long-lived signal', async () => {
    const clock = new FakeClock(0);
    const ac = new AbortController();
    for (let i = 0; i < 50; i++) {
      const p = clock.sleep(10, ac.signal);
      clock.advance(10);
      await p;
    }
    expect(getEventListeners(ac.signal, 'abort').length).toBe(0);
  });

  it('runs faster than real time with speed, and stop() halts it', async () => {
    const clock = new FakeClock(0, { speed: 1000, tickMs: 5 });
    await clock.sleep(2_000); // two clock seconds: about 2 real milliseconds plus ticks
    expect(clock.now()).toBeGreaterThanOrEqual(2_000);
    clock.stop();
    const frozen = clock.now();
    await systemClock.sleep(20);
    expect(clock.now()).toBe(frozen);
  });
});

describe('systemClock', () => {
  it('returns from sleep at once when the signal aborts', async () => {
    const ac = new AbortController();
    const p = systemClock.sleep(60_000, ac.signal);
    ac.abort();
    await p;
    expect(getEventListeners(ac.signal, 'abort').length).toBe(0);
  });
});
