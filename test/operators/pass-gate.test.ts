import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PassGate } from '../../src/operators/pass-gate.js';

const tick = () => new Promise((r) => setTimeout(r, 1));

describe('PassGate', () => {
  it('a pass is large when the operator last selected at least the threshold, or never ran; threshold 0 holds nothing back', () => {
    const gate = new PassGate(20_000);
    expect(gate.isLarge(undefined)).toBe(true);
    expect(gate.isLarge(20_000)).toBe(true);
    expect(gate.isLarge(19_999)).toBe(false);
    expect(gate.isLarge(0)).toBe(false);
    // Once any pass selected at least the threshold, every pass counts as large for two minutes.
    let t = 0;
    const timed = new PassGate(100, () => t);
    expect(timed.isLarge(0)).toBe(false);
    timed.note(99);
    expect(timed.isLarge(0)).toBe(false);
    timed.note(100);
    expect(timed.isLarge(0)).toBe(true);
    t += 119_999;
    expect(timed.isLarge(0)).toBe(true);
    t += 1;
    expect(timed.isLarge(0)).toBe(false);
    const off = new PassGate(0);
    expect(off.isLarge(undefined)).toBe(false);
    expect(off.isLarge(1_000_000)).toBe(false);
  });

  it('runs large passes one at a time and small ones alongside them, every pass exactly once (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.record({ selected: fc.option(fc.integer({ min: 0, max: 200 }), { nil: undefined }), ms: fc.integer({ min: 0, max: 3 }) }), { maxLength: 12 }), async (passes) => {
        const gate = new PassGate(100);
        let largeRunning = 0;
        let maxLarge = 0;
        const started = new Set<number>();
        const done: number[] = [];
        const runs = passes.map((p, i) => {
          const run = gate.run(p.selected, async () => {
            started.add(i);
            const large = gate.isLarge(p.selected);
            if (large) largeRunning++;
            maxLarge = Math.max(maxLarge, largeRunning);
            for (let k = 0; k < p.ms; k++) await tick();
            if (large) largeRunning--;
            done.push(i);
            return i;
          });
          // a small pass never waits: it has started by the time run() returns
          if (!gate.isLarge(p.selected)) expect(started.has(i)).toBe(true);
          return run;
        });
        expect(await Promise.all(runs)).toEqual(passes.map((_, i) => i));
        expect(done.sort((a, b) => a - b)).toEqual(passes.map((_, i) => i));
        expect(maxLarge).toBeLessThanOrEqual(1);
        expect(gate.pending).toBe(0);
      }),
      { numRuns: 30 },
    );
  });

  it('a large pass that fails lets the next one run', async () => {
    const gate = new PassGate(1);
    await expect(gate.run(5, async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await gate.run(5, async () => 'next')).toBe('next');
  });
});
