import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DurationError,
  formatTimedelta,
  parseDuration,
  tryParseDuration,
} from '../../src/common/duration.js';
import { contractSchemas } from '../../src/common/contract.js';

const UNIT: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 7 * 86400 };

const schemas = contractSchemas() as Record<string, { pattern?: string; properties?: Record<string, { pattern?: string }> }>;
const AGE_PATTERN = new RegExp(schemas.AgeString!.pattern!);
const ACTUAL_STATE_TTL_PATTERN = new RegExp(schemas.V2Options!.properties!.component_actual_state_ttl!.pattern!);

describe('parseDuration', () => {
  it.each([
    ['4h', 4 * 3600],
    ['7d', 7 * 86400],
    ['0', 0],
    ['0m', 0],
    ['30m', 1800],
    ['90s', 90],
    ['2w', 14 * 86400],
    ['4H', 4 * 3600],
    ['7D', 7 * 86400],
    ['2W', 14 * 86400],
    ['10M', 600],
    ['007d', 7 * 86400],
  ])('%s is %d seconds', (text, seconds) => {
    expect(parseDuration(text)).toBe(seconds);
    expect(tryParseDuration(text)).toBe(seconds);
  });

  it.each(['1h30m', '-1h', '', '5x', 'h', '4', ' 4h', '4h ', '4 h', '1.5h', '+4h', '4hh', '0x', '99999999999999999999d'])(
    'rejects %j with a message that says what a duration looks like',
    (text) => {
      expect(() => parseDuration(text)).toThrow(DurationError);
      expect(() => parseDuration(text)).toThrow(/whole number followed by one unit/);
      expect(tryParseDuration(text)).toBeUndefined();
    },
  );

  it('rejects values that are not strings', () => {
    for (const v of [4, null, undefined, { h: 4 }, ['4h']]) {
      expect(() => parseDuration(v as unknown as string)).toThrow(DurationError);
      expect(tryParseDuration(v)).toBeUndefined();
    }
  });

  it('is n × unit for every whole number and unit, in either case', () => {
    fc.assert(
      fc.property(fc.nat({ max: 10_000_000 }), fc.constantFrom(...Object.keys(UNIT)), fc.boolean(), (n, unit, upper) => {
        const text = `${n}${upper ? unit.toUpperCase() : unit}`;
        expect(parseDuration(text)).toBe(n * UNIT[unit]!);
      }),
    );
  });

  it('accepts exactly the strings of the form digits + one unit (or 0)', () => {
    const shape = /^(0|\d+[smhdwSMHDW])$/;
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('0', '1', '9', 'h', 'D', 'x', '-', ' ', '.', 's'), maxLength: 6 }), (text) => {
        expect(tryParseDuration(text) !== undefined).toBe(shape.test(text));
      }),
      { numRuns: 2000 },
    );
  });

  it('every value the contract\'s duration patterns allow is a parseable duration', () => {
    const arb = fc.tuple(fc.integer({ min: 0, max: 9_999_999 }), fc.constantFrom(...'mMhHdDwW'.split(''))).map(([n, u]) => `${n}${u}`);
    fc.assert(
      fc.property(fc.oneof(arb, fc.constant('0')), (text) => {
        if (AGE_PATTERN.test(text) || ACTUAL_STATE_TTL_PATTERN.test(text)) expect(tryParseDuration(text)).toBeDefined();
      }),
    );
    expect(AGE_PATTERN.test('0')).toBe(true);
    expect(AGE_PATTERN.test('5s')).toBe(false);
    expect(ACTUAL_STATE_TTL_PATTERN.test('30m')).toBe(false);
    expect(ACTUAL_STATE_TTL_PATTERN.test('0h')).toBe(false);
  });
});

describe('formatTimedelta (Python str(timedelta))', () => {
  it.each([
    [0, '0:00:00'],
    [1, '0:00:01'],
    [59.5, '0:00:59.500000'],
    [0.000001, '0:00:00.000001'],
    [3600, '1:00:00'],
    [36000, '10:00:00'],
    [86399, '23:59:59'],
    [86400, '1 day, 0:00:00'],
    [90061.000001, '1 day, 1:01:01.000001'],
    [172800, '2 days, 0:00:00'],
    [10 * 86400 + 5, '10 days, 0:00:05'],
    [-1, '-1 day, 23:59:59'],
    [-0.5, '-1 day, 23:59:59.500000'],
    [-86400, '-1 day, 0:00:00'],
    [-86401, '-2 days, 23:59:59'],
    [-3 * 86400, '-3 days, 0:00:00'],
  ])('%d seconds renders as %j', (seconds, text) => {
    expect(formatTimedelta(seconds)).toBe(text);
  });

  it('renders every whole number of microseconds in Python form, and the rendering reads back', () => {
    const pythonForm = /^(?:(-?\d+) days?, )?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{6}))?$/;
    fc.assert(
      fc.property(fc.integer({ min: -1e15, max: 1e15 }), (micro) => {
        const text = formatTimedelta(micro / 1e6);
        const m = pythonForm.exec(text);
        expect(m, text).not.toBeNull();
        const [, days = '0', h, mm, ss, frac] = m!;
        expect(Number(h)).toBeLessThan(24);
        expect(Number(mm)).toBeLessThan(60);
        expect(Number(ss)).toBeLessThan(60);
        if (frac !== undefined) expect(frac).not.toBe('000000');
        if (days !== '0') expect(text).toContain(Math.abs(Number(days)) === 1 ? ' day, ' : ' days, ');
        const back = Number(days) * 86400e6 + (Number(h) * 3600 + Number(mm) * 60 + Number(ss)) * 1e6 + Number(frac ?? 0);
        expect(back).toBe(micro);
      }),
      { numRuns: 2000 },
    );
  });
});
