/**
 * The web view's rules: xname → place in the machine room, the grid's layout and hit test. The layout
 * is property-tested over generated rooms: every node placed once, no two squares overlap, cabinets
 * hold their own nodes and stay apart, and the place of a node does not depend on the order ids come in.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { defaultLayout } from '../../src/sim/layout.js';
import { fitRoom, LABEL_HEIGHT, MAX_CELL, MIN_CELL, nodeAt, placeRoom, planRoom, type RoomLayout } from '../../src/ui/layout.js';
import { parseNodeXname } from '../../src/ui/xname.js';

describe('parseNodeXname', () => {
  it('reads cabinet, chassis, slot, BMC and node', () => {
    expect(parseNodeXname('x1000c0s3b0n1')).toEqual({ cabinet: 1000, chassis: 0, slot: 3, bmc: 0, node: 1 });
    expect(parseNodeXname('x3000c0s19b1n0')).toEqual({ cabinet: 3000, chassis: 0, slot: 19, bmc: 1, node: 0 });
  });

  it('refuses anything that is not a node xname', () => {
    for (const id of ['', 'x1000c0s3b0', 'x1000c0s3b0n1p0', 'nid000001', 'X1000C0S3B0N1', ' x1000c0s3b0n1', 'x1000c0s3b0n']) {
      expect(parseNodeXname(id), id).toBeUndefined();
    }
  });
});

/** Every pair of node squares is disjoint (O(n²): the generated rooms are small). */
function overlapping(l: RoomLayout): [number, number] | undefined {
  const c = l.cell;
  for (let i = 0; i < l.x.length; i++) {
    for (let j = i + 1; j < l.x.length; j++) {
      if (Math.abs(l.x[i]! - l.x[j]!) < c && Math.abs(l.y[i]! - l.y[j]!) < c) return [i, j];
    }
  }
  return undefined;
}

const xname = fc
  .record({ cab: fc.constantFrom(1000, 1001, 1005, 3000, 9000), c: fc.integer({ min: 0, max: 7 }), s: fc.integer({ min: 0, max: 40 }), b: fc.integer({ min: 0, max: 1 }), n: fc.integer({ min: 0, max: 3 }) })
  .map(({ cab, c, s, b, n }) => `x${cab}c${c}s${s}b${b}n${n}`);
const otherId = fc.stringMatching(/^[a-z][a-z0-9-]{0,12}$/);
const room = fc.uniqueArray(fc.oneof({ arbitrary: xname, weight: 9 }, { arbitrary: otherId, weight: 1 }), { minLength: 0, maxLength: 160 });

describe('the room layout', () => {
  it('places every node once, inside its cabinet, with no two squares overlapping (property)', () => {
    fc.assert(
      fc.property(room, fc.integer({ min: 40, max: 1600 }), fc.integer({ min: MIN_CELL, max: MAX_CELL }), (ids, width, cell) => {
        const layout = placeRoom(planRoom(ids), width, cell);
        expect(layout.x).toHaveLength(ids.length);
        expect(overlapping(layout)).toBeUndefined();
        const owner = new Map<number, number>();
        layout.cabinets.forEach((box, b) => {
          for (const n of box.nodes) {
            expect(owner.has(n), `node ${ids[n]} in two cabinets`).toBe(false);
            owner.set(n, b);
            // Inside its box, below the label.
            expect(layout.x[n]!).toBeGreaterThanOrEqual(box.x);
            expect(layout.x[n]! + cell).toBeLessThanOrEqual(box.x + box.w);
            expect(layout.y[n]!).toBeGreaterThanOrEqual(box.y + LABEL_HEIGHT);
            expect(layout.y[n]! + cell).toBeLessThanOrEqual(box.y + box.h);
          }
          expect(box.x + box.w).toBeLessThanOrEqual(layout.width);
          expect(box.y + box.h).toBeLessThanOrEqual(layout.height);
        });
        expect(owner.size).toBe(ids.length);
        // Cabinets never overlap, and wrap at the width unless a single one is wider.
        for (let a = 0; a < layout.cabinets.length; a++) {
          const A = layout.cabinets[a]!;
          if (A.x > 0) expect(A.x + A.w).toBeLessThanOrEqual(width);
          for (let b = a + 1; b < layout.cabinets.length; b++) {
            const B = layout.cabinets[b]!;
            const apart = A.x + A.w <= B.x || B.x + B.w <= A.x || A.y + A.h <= B.y || B.y + B.h <= A.y;
            expect(apart, `${A.label} and ${B.label} overlap`).toBe(true);
          }
        }
      }),
      { numRuns: 150 },
    );
  });

  it('puts a node in the same place whatever order the ids come in (property)', () => {
    fc.assert(
      fc.property(room.chain((ids) => fc.tuple(fc.constant(ids), fc.shuffledSubarray(ids, { minLength: ids.length, maxLength: ids.length }))), ([ids, shuffled]) => {
        const a = placeRoom(planRoom(ids), 900, 6);
        const b = placeRoom(planRoom(shuffled), 900, 6);
        const at = new Map(shuffled.map((id, i) => [id, `${b.x[i]},${b.y[i]}`]));
        ids.forEach((id, i) => expect(at.get(id), id).toBe(`${a.x[i]},${a.y[i]}`));
      }),
      { numRuns: 80 },
    );
  });

  it('finds the node under every square and nothing in the gaps (property)', () => {
    fc.assert(
      fc.property(room, fc.integer({ min: 3, max: 12 }), (ids, cell) => {
        const layout = placeRoom(planRoom(ids), 700, cell);
        ids.forEach((_, i) => {
          expect(nodeAt(layout, layout.x[i]! + cell / 2, layout.y[i]! + cell / 2)).toBe(i);
          expect(nodeAt(layout, layout.x[i]!, layout.y[i]!)).toBe(i);
        });
        expect(nodeAt(layout, -1, -1)).toBe(-1);
        expect(nodeAt(layout, layout.width + 5, 0)).toBe(-1);
        for (const box of layout.cabinets) expect(nodeAt(layout, box.x + 1, box.y + 1)).toBe(-1); // the label line
      }),
      { numRuns: 80 },
    );
  });

  it('lays the demo room out as the hardware is: chassis under chassis, slots side by side, BMCs and nodes in a slot', () => {
    const ids = defaultLayout(64).nodes.map((n) => n.id).sort();
    const layout = placeRoom(planRoom(ids), 2000, 10);
    const at = (id: string) => {
      const i = ids.indexOf(id);
      return { x: layout.x[i]!, y: layout.y[i]! };
    };
    expect(layout.cabinets.map((c) => c.label)).toEqual(['x1000', 'x3000']);
    const first = at('x1000c0s0b0n0');
    expect(first).toEqual({ x: 0, y: LABEL_HEIGHT });
    expect(at('x1000c0s0b0n1')).toEqual({ x: 10, y: LABEL_HEIGHT }); // the other node of the BMC, beside it
    expect(at('x1000c0s0b1n0')).toEqual({ x: 0, y: LABEL_HEIGHT + 10 }); // the second BMC, below
    expect(at('x1000c0s1b0n0').x).toBeGreaterThan(10); // the next slot, to the right, after a gap
    expect(at('x1000c0s1b0n0').y).toBe(LABEL_HEIGHT);
    expect(at('x1000c1s0b0n0').x).toBe(0); // the next chassis, below the first
    expect(at('x1000c1s0b0n0').y).toBeGreaterThan(LABEL_HEIGHT + 20);
    // The river cabinet: one node per slot, in slot order, beside the compute cabinet.
    const river = layout.cabinets[1]!;
    expect(river.x).toBeGreaterThan(layout.cabinets[0]!.x + layout.cabinets[0]!.w);
    expect(at('x3000c0s1b0n0').x).toBeLessThan(at('x3000c0s3b0n0').x);
  });

  it('puts ids that are not node xnames in a last block of their own', () => {
    const layout = placeRoom(planRoom(['x1000c0s0b0n0', 'ncn-w001', 'switch-7']), 1000, 8);
    expect(layout.cabinets.map((c) => [c.label, c.nodes.length])).toEqual([
      ['x1000', 1],
      ['other', 2],
    ]);
  });

  it('fits 10,000 nodes into a window with the largest cells that fit, and 100,000 at the smallest', () => {
    const ids = Array.from({ length: 10_000 }, (_, i) => `x${1000 + (i >> 8)}c${(i >> 5) & 7}s${(i >> 2) & 7}b${(i >> 1) & 1}n${i & 1}`);
    const layout = fitRoom(planRoom(ids), 1600, 900);
    expect(layout.width).toBeLessThanOrEqual(1600);
    expect(layout.height).toBeLessThanOrEqual(900);
    expect(layout.cell).toBeGreaterThanOrEqual(4);
    expect(placeRoom(planRoom(ids), 1600, layout.cell + 1).height).toBeGreaterThan(900);
    const huge = Array.from({ length: 100_000 }, (_, i) => `x${1000 + (i >> 8)}c${(i >> 5) & 7}s${(i >> 2) & 7}b${(i >> 1) & 1}n${i & 1}`);
    const small = fitRoom(planRoom(huge), 1600, 900);
    expect(small.cell).toBe(MIN_CELL);
    expect(small.width).toBeLessThanOrEqual(1600);
  });

  it('lays out an empty room', () => {
    const layout = fitRoom(planRoom([]), 800, 600);
    expect(layout.cabinets).toEqual([]);
    expect(layout.width).toBe(0);
    expect(nodeAt(layout, 1, 1)).toBe(-1);
  });
});
