import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { computeXname, defaultLayout } from '../../src/sim/index.js';
import { parseMachineDelay, simulatorConfigFromOptions } from '../../src/cli/sim.js';

describe('default layout', () => {
  it('has unique well-formed xnames and NIDs, groups of known nodes, and disjoint halves and tenants (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3000 }), (n) => {
        const { nodes, groups, partitions, tenants } = defaultLayout(n);
        expect(nodes).toHaveLength(n);
        const ids = new Set(nodes.map((x) => x.id));
        expect(ids.size).toBe(n);
        expect(new Set(nodes.map((x) => x.nid)).size).toBe(n);
        expect(nodes.every((x) => /^x\d{4}c[0-7]s\d{1,2}b[01]n[01]$/.test(x.id))).toBe(true);
        for (const g of [...groups, ...partitions]) expect(g.members.ids.every((id) => ids.has(id))).toBe(true);
        const blue = new Set(groups.find((g) => g.label === 'blue')!.members.ids);
        expect(groups.find((g) => g.label === 'green')!.members.ids.some((id) => blue.has(id))).toBe(false);
        const [a, b] = tenants;
        const aSet = new Set(a!.xnames);
        expect(a!.xnames.length).toBeGreaterThan(0);
        expect(b!.xnames.some((x) => aSet.has(x))).toBe(false);
      }),
      { numRuns: 60 },
    );
  });

  it('lays compute nodes out by cabinet, chassis, slot, BMC and node', () => {
    expect(computeXname(0)).toBe('x1000c0s0b0n0');
    expect(computeXname(1)).toBe('x1000c0s0b0n1');
    expect(computeXname(2)).toBe('x1000c0s0b1n0');
    expect(computeXname(4)).toBe('x1000c0s1b0n0');
    expect(computeXname(32)).toBe('x1000c1s0b0n0');
    expect(computeXname(255)).toBe('x1000c7s7b1n1');
    expect(computeXname(256)).toBe('x1001c0s0b0n0');
    expect(() => defaultLayout(0)).toThrow(/≥ 1/);
  });
});

describe('bos sim flags', () => {
  it('parses machine delays', () => {
    expect(parseMachineDelay('500ms')).toBe(500);
    expect(parseMachineDelay('30s')).toBe(30_000);
    expect(parseMachineDelay('2m')).toBe(120_000);
    expect(parseMachineDelay('0')).toBe(0);
    expect(() => parseMachineDelay('fast')).toThrow(/not a delay/);
  });

  it('turns counts into seeded picks of compute nodes and lists into xnames', () => {
    const a = simulatorConfigFromOptions({ nodes: 200, seed: 9, ignoreSoftOff: '5', locked: 'x1000c0s0b0n0,x1000c0s0b0n1', instant: true });
    const b = simulatorConfigFromOptions({ nodes: 200, seed: 9, ignoreSoftOff: '5' });
    const c = simulatorConfigFromOptions({ nodes: 200, seed: 10, ignoreSoftOff: '5' });
    expect(a.knobs.ignoreSoftOff).toHaveLength(5);
    expect(a.knobs.ignoreSoftOff!.every((x) => x.startsWith('x1'))).toBe(true); // compute nodes only
    expect(b.knobs.ignoreSoftOff).toEqual(a.knobs.ignoreSoftOff);
    expect(c.knobs.ignoreSoftOff).not.toEqual(a.knobs.ignoreSoftOff);
    expect(a.knobs.locked).toEqual(['x1000c0s0b0n0', 'x1000c0s0b0n1']);
    expect(a.knobs.bootDelayMs).toBe(0);
    expect(b.knobs.bootDelayMs).toBeUndefined();
    expect(a.seed).toBe(9);
  });
});
