import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { attachStatus, computeStatus } from '../../src/common/status.js';
import { ACTIONS, PHASES, type Component } from '../../src/common/types.js';

/**
 * docs/data-model.md, "The status rule", written out row by row from its table (not from the implementation):
 * the first row whose condition holds gives the status.
 */
type Input = Pick<Component, 'status' | 'last_action'>;
const SPEC_TABLE: { row: number; when: (c: Input) => boolean; result: (c: Input) => string }[] = [
  { row: 1, when: (c) => typeof c.status?.status_override === 'string' && c.status.status_override.length > 0, result: (c) => c.status!.status_override! },
  { row: 2, when: (c) => c.status?.phase === 'powering_on' && c.last_action?.action === 'powering_on' && c.last_action?.failed !== true, result: () => 'power_on_called' },
  { row: 3, when: (c) => c.status?.phase === 'powering_on', result: () => 'power_on_pending' },
  { row: 4, when: (c) => c.status?.phase === 'powering_off' && c.last_action?.action === 'powering_off_gracefully', result: () => 'power_off_gracefully_called' },
  { row: 5, when: (c) => c.status?.phase === 'powering_off' && c.last_action?.action === 'powering_off_forcefully', result: () => 'power_off_forcefully_called' },
  { row: 6, when: (c) => c.status?.phase === 'powering_off', result: () => 'power_off_pending' },
  { row: 7, when: (c) => c.status?.phase === 'configuring', result: () => 'configuring' },
  { row: 8, when: () => true, result: () => 'stable' },
];
const specStatus = (c: Input) => SPEC_TABLE.find((r) => r.when(c))!.result(c);

const optional = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
const phaseArb = fc.oneof(fc.constantFrom(...PHASES, 'unknown', 'POWERING_ON'), fc.string());
const actionArb = fc.oneof(fc.constantFrom(...ACTIONS, 'bogus'), fc.string());
const overrideArb = fc.oneof(fc.constantFrom('', 'on_hold', 'failed'), fc.string());

/** A record's status/last_action, each key present or absent, as they come out of storage. */
const inputArb: fc.Arbitrary<Input> = fc.record(
  {
    status: optional(
      fc.record(
        { phase: phaseArb, status_override: overrideArb, status: fc.constantFrom('stable', 'configuring', 'stale') },
        { requiredKeys: [] },
      ),
    ),
    last_action: optional(fc.record({ action: actionArb, failed: fc.boolean(), last_updated: fc.constant('2026-01-01T00:00:00') }, { requiredKeys: [] })),
  },
  { requiredKeys: [] },
);

describe('computeStatus (docs/data-model.md, "The status rule")', () => {
  it('agrees with the documented table for every phase × action × failed × override combination', () => {
    const phases = [undefined, ...PHASES, 'unknown'];
    const actions = [undefined, ...ACTIONS, 'bogus'];
    const faileds = [undefined, false, true];
    const overrides = [undefined, '', 'on_hold', 'failed'];
    let checked = 0;
    for (const phase of phases)
      for (const action of actions)
        for (const failed of faileds)
          for (const override of overrides) {
            const c: Input = {
              status: { ...(phase !== undefined && { phase }), ...(override !== undefined && { status_override: override }) },
              last_action: { ...(action !== undefined && { action }), ...(failed !== undefined && { failed }) },
            };
            expect(computeStatus(c), JSON.stringify(c)).toBe(specStatus(c));
            checked++;
          }
    expect(checked).toBe(6 * 9 * 3 * 4);
  });

  it('is total and agrees with the documented table on arbitrary records (keys present or absent)', () => {
    fc.assert(
      fc.property(inputArb, (c) => {
        const got = computeStatus(c);
        expect(typeof got).toBe('string');
        expect(got.length).toBeGreaterThan(0);
        expect(got).toBe(specStatus(c));
      }),
      { numRuns: 2000 },
    );
  });

  it('gives the documented value for representative rows', () => {
    expect(computeStatus({})).toBe('stable');
    expect(computeStatus({ status: { phase: 'powering_on' } })).toBe('power_on_pending');
    expect(computeStatus({ status: { phase: 'powering_on' }, last_action: { action: 'powering_on' } })).toBe('power_on_called');
    expect(computeStatus({ status: { phase: 'powering_on' }, last_action: { action: 'powering_on', failed: true } })).toBe('power_on_pending');
    // powering_off ignores the failed flag
    expect(computeStatus({ status: { phase: 'powering_off' }, last_action: { action: 'powering_off_gracefully', failed: true } })).toBe(
      'power_off_gracefully_called',
    );
    expect(computeStatus({ status: { phase: 'powering_off' }, last_action: { action: 'powering_off_forcefully', failed: true } })).toBe(
      'power_off_forcefully_called',
    );
    expect(computeStatus({ status: { phase: 'powering_off' }, last_action: { action: 'powering_on' } })).toBe('power_off_pending');
    expect(computeStatus({ status: { phase: 'configuring' }, last_action: { action: 'powering_on' } })).toBe('configuring');
    expect(computeStatus({ status: { phase: 'configuring', status_override: 'on_hold' } })).toBe('on_hold');
    expect(computeStatus({ status: { phase: 'powering_on', status_override: 'anything at all' } })).toBe('anything at all');
    // A stale stored status.status never feeds back into the rule.
    expect(computeStatus({ status: { phase: '', status: 'power_on_called' } })).toBe('stable');
  });
});

describe('attachStatus', () => {
  it('inserts {phase: "", status_override: ""} when the record has no status object', () => {
    const c: Component = { id: 'x1', enabled: true };
    const out = attachStatus(c);
    expect(out).toBe(c);
    expect(c).toEqual({ id: 'x1', enabled: true, status: { phase: '', status_override: '', status: 'stable' } });
  });

  it('only (over)writes status.status when a status object exists, leaving missing keys missing', () => {
    const c: Component = { id: 'x1', status: { status_override: 'on_hold', status: 'stale' }, last_action: { action: 'powering_on' } };
    attachStatus(c);
    expect(c.status).toEqual({ status_override: 'on_hold', status: 'on_hold' });
    expect('phase' in c.status!).toBe(false);

    const d: Component = { id: 'x2', status: { phase: 'powering_off', extra: 1 } as Component['status'], last_action: { action: 'powering_off_forcefully' } };
    attachStatus(d);
    expect(d.status).toEqual({ phase: 'powering_off', extra: 1, status: 'power_off_forcefully_called' });
    expect(d.last_action).toEqual({ action: 'powering_off_forcefully' });
  });

  it('always leaves status.status equal to the rule applied to the record as it was', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const before = structuredClone(input);
        const c = structuredClone(input);
        attachStatus(c);
        expect(c.status!.status).toBe(specStatus(before));
        expect(c.last_action).toEqual(before.last_action);
        if (before.status) {
          const { status: _old, ...rest } = before.status;
          const { status: _new, ...after } = c.status!;
          expect(after).toEqual(rest);
        } else {
          expect(c.status).toEqual({ phase: '', status_override: '', status: 'stable' });
        }
      }),
      { numRuns: 1000 },
    );
  });
});
