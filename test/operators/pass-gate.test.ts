import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MAX_OVERTAKEN, PassGate, type GateTurn } from '../../src/operators/pass-gate.js';

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

  /** Queue large passes of `turns` behind one that holds the gate, release it, and give the order they ran in. */
  async function order(turns: readonly GateTurn[]): Promise<number[]> {
    const gate = new PassGate(1);
    let release!: () => void;
    const holding = gate.run(5, () => new Promise<void>((r) => (release = r)));
    const ran: number[] = [];
    const runs = turns.map((turn, i) => gate.run(5, async () => void ran.push(i), turn));
    expect(ran).toEqual([]);
    release();
    await Promise.all([holding, ...runs]);
    expect(gate.pending).toBe(0);
    return ran;
  }

  it('runs waiting large passes by turn, first before between before last, each turn in order of arrival', async () => {
    // discovery, power-on, status, session-completion, actual-state-cleanup, session-setup
    expect(await order(['last', 'between', 'first', 'first', 'last', 'between'])).toEqual([2, 3, 1, 5, 0, 4]);
    // Overtaken once by each of the other operators of a process, a waiting pass lets no more go first.
    expect(MAX_OVERTAKEN).toBe(10);
    const ran = await order(['last', ...Array<GateTurn>(12).fill('first')]);
    expect(ran.indexOf(0)).toBe(MAX_OVERTAKEN);
  });

  it('lets a waiting pass be overtaken by later arrivals only when their turn comes first, and at most MAX_OVERTAKEN times (property)', async () => {
    const RANK: Record<GateTurn, number> = { first: 0, between: 1, last: 2 };
    await fc.assert(
      fc.asyncProperty(fc.array(fc.constantFrom<GateTurn>('first', 'between', 'last'), { maxLength: 30 }), async (turns) => {
        const ran = await order(turns);
        expect([...ran].sort((a, b) => a - b)).toEqual(turns.map((_, i) => i));
        const startOf = new Map(ran.map((p, at) => [p, at]));
        const turnsFirst = (j: number, i: number) => RANK[turns[j]!] < RANK[turns[i]!];
        for (let i = 0; i < turns.length; i++) {
          const later = turns.map((_, j) => j).filter((j) => j > i);
          const overtaking = later.filter((j) => startOf.get(j)! < startOf.get(i)!);
          // only a later arrival whose turn comes first goes ahead, and at most MAX_OVERTAKEN do
          for (const j of overtaking) expect(turnsFirst(j, i)).toBe(true);
          expect(overtaking.length).toBeLessThanOrEqual(MAX_OVERTAKEN);
        }
        // Where no pass would be overtaken more than MAX_OVERTAKEN times, the order is by turn, then arrival.
        const uncapped = turns.every((_, i) => turns.filter((_, j) => j > i && turnsFirst(j, i)).length <= MAX_OVERTAKEN);
        if (uncapped) expect(ran).toEqual(turns.map((_, i) => i).sort((x, y) => RANK[turns[x]!] - RANK[turns[y]!] || x - y));
      }),
      { numRuns: 200 },
    );
  });

  it('a large pass that fails lets the next one run', async () => {
    const gate = new PassGate(1);
    await expect(gate.run(5, async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await gate.run(5, async () => 'next')).toBe('next');
  });
});
