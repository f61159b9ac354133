import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OPTION_DEFAULTS, OPTION_NAMES, checkOption, isOptionName, resolveOptions, type OptionName } from '../../src/common/options.js';

/** docs/data-model.md, "Options", copied from its table: default and valid range of every option. */
const SPEC: Record<string, { def: unknown; kind: 'int'; min: number; max: number } | { def: unknown; kind: 'bool' } | { def: unknown; kind: 'str' }> = {
  bss_read_timeout: { def: 20, kind: 'int', min: 10, max: 86400 },
  cfs_read_timeout: { def: 20, kind: 'int', min: 10, max: 86400 },
  cleanup_completed_session_ttl: { def: '7d', kind: 'str' },
  clear_stage: { def: false, kind: 'bool' },
  component_actual_state_ttl: { def: '4h', kind: 'str' },
  default_retry_policy: { def: 3, kind: 'int', min: 0, max: 1048576 },
  discovery_frequency: { def: 300, kind: 'int', min: 0, max: 33554432 },
  hsm_read_timeout: { def: 20, kind: 'int', min: 10, max: 86400 },
  ims_errors_fatal: { def: false, kind: 'bool' },
  ims_images_must_exist: { def: false, kind: 'bool' },
  ims_read_timeout: { def: 20, kind: 'int', min: 10, max: 86400 },
  logging_level: { def: 'INFO', kind: 'str' },
  max_boot_wait_time: { def: 1200, kind: 'int', min: 0, max: 1048576 },
  max_component_batch_size: { def: 2800, kind: 'int', min: 0, max: 131071 },
  max_power_off_wait_time: { def: 300, kind: 'int', min: 0, max: 1048576 },
  max_power_on_wait_time: { def: 120, kind: 'int', min: 0, max: 1048576 },
  pcs_read_timeout: { def: 20, kind: 'int', min: 10, max: 86400 },
  polling_frequency: { def: 15, kind: 'int', min: 0, max: 1048576 },
  reject_nids: { def: false, kind: 'bool' },
  session_limit_required: { def: false, kind: 'bool' },
};
const INT_OPTIONS = Object.entries(SPEC).filter(([, s]) => s.kind === 'int') as [OptionName, { min: number; max: number }][];
const BOOL_OPTIONS = Object.keys(SPEC).filter((k) => SPEC[k]!.kind === 'bool') as OptionName[];

describe('option defaults', () => {
  it('are exactly the documented defaults, for exactly the documented options', () => {
    expect(Object.fromEntries(Object.entries(SPEC).map(([k, s]) => [k, s.def]))).toEqual({ ...OPTION_DEFAULTS });
    expect([...OPTION_NAMES].sort()).toEqual(Object.keys(SPEC).sort());
    expect(Object.isFrozen(OPTION_DEFAULTS)).toBe(true);
  });

  it('are all valid by their own rules', () => {
    for (const name of OPTION_NAMES) expect(checkOption(name, OPTION_DEFAULTS[name]), name).toBeUndefined();
  });

  it('isOptionName knows the options and nothing inherited', () => {
    expect(isOptionName('polling_frequency')).toBe(true);
    expect(isOptionName('toString')).toBe(false);
    expect(isOptionName('constructor')).toBe(false);
    expect(isOptionName('unknown_option')).toBe(false);
  });
});

describe('checkOption', () => {
  it.each(INT_OPTIONS)('%s accepts integers in range only', (name, { min, max }) => {
    expect(checkOption(name, min)).toBeUndefined();
    expect(checkOption(name, max)).toBeUndefined();
    expect(checkOption(name, Math.floor((min + max) / 2))).toBeUndefined();
    expect(checkOption(name, min - 1)).toMatch(new RegExp(`^${name}: ${min - 1} is outside ${min}\\.\\.${max}$`));
    expect(checkOption(name, max + 1)).toMatch(/outside/);
    for (const bad of [min + 0.5, String(min), true, null, Number.NaN, Infinity, [min], { v: min }]) {
      expect(checkOption(name, bad), JSON.stringify(bad)).toMatch(new RegExp(`^${name}: .* is not an integer$`));
    }
  });

  it.each(BOOL_OPTIONS)('%s accepts booleans only', (name) => {
    expect(checkOption(name, true)).toBeUndefined();
    expect(checkOption(name, false)).toBeUndefined();
    for (const bad of [0, 1, 'true', null, 'false']) expect(checkOption(name, bad)).toBe(`${name}: ${JSON.stringify(bad)} is not a boolean`);
  });

  it('cleanup_completed_session_ttl takes an age string: 0, or minutes/hours/days/weeks, up to 8 characters', () => {
    for (const ok of ['0', '0m', '0H', '7d', '30m', '10W', '9999999d']) expect(checkOption('cleanup_completed_session_ttl', ok), ok).toBeUndefined();
    for (const bad of ['', '1h30m', '-1h', '5x', '5s', '07d', '99999999d', ' 7d', 7]) {
      expect(checkOption('cleanup_completed_session_ttl', bad), JSON.stringify(bad)).toMatch(/^cleanup_completed_session_ttl: /);
    }
  });

  it('component_actual_state_ttl takes at least an hour (h, d or w; no minutes, no 0)', () => {
    for (const ok of ['4h', '1H', '2d', '3W', '9999999h']) expect(checkOption('component_actual_state_ttl', ok), ok).toBeUndefined();
    for (const bad of ['0', '0h', '30m', '90s', '4', '', 'h', '01h', '99999999h', null]) {
      expect(checkOption('component_actual_state_ttl', bad), JSON.stringify(bad)).toMatch(/^component_actual_state_ttl: /);
    }
  });

  it('logging_level takes the five levels in any case', () => {
    for (const ok of ['DEBUG', 'info', 'Warning', 'error', 'CRITICAL']) expect(checkOption('logging_level', ok)).toBeUndefined();
    for (const bad of ['TRACE', 'WARN', '', ' INFO', 3, null]) expect(checkOption('logging_level', bad)).toMatch(/^logging_level: /);
  });

  it('never throws, whatever the value', () => {
    fc.assert(
      fc.property(fc.constantFrom(...OPTION_NAMES), fc.jsonValue(), (name, value) => {
        const r = checkOption(name, value);
        expect(r === undefined || (typeof r === 'string' && r.startsWith(`${name}: `))).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('resolveOptions', () => {
  it('gives the defaults for nothing stored', () => {
    expect(resolveOptions(null)).toEqual({ ...OPTION_DEFAULTS });
    expect(resolveOptions(undefined)).toEqual({ ...OPTION_DEFAULTS });
    expect(resolveOptions({})).toEqual({ ...OPTION_DEFAULTS });
  });

  it('keeps valid stored values, replaces invalid ones with the default and drops unknown keys', () => {
    const r = resolveOptions({
      polling_frequency: 60,
      default_retry_policy: -1,
      bss_read_timeout: '30',
      clear_stage: true,
      component_actual_state_ttl: '30m',
      cleanup_completed_session_ttl: '2w',
      logging_level: 'debug',
      not_an_option: 1,
    });
    expect(r).toEqual({
      ...OPTION_DEFAULTS,
      polling_frequency: 60,
      clear_stage: true,
      cleanup_completed_session_ttl: '2w',
      logging_level: 'debug',
    });
    expect('not_an_option' in r).toBe(false);
  });

  it('always yields every option, each valid, each either the stored value or the default', () => {
    const storedArb = fc.dictionary(
      fc.oneof(fc.constantFrom(...OPTION_NAMES), fc.string()),
      fc.oneof(fc.jsonValue(), fc.integer({ min: -10, max: 200_000 }), fc.constantFrom('4h', '0', '7d', '30m', 'INFO', 'warning')),
    );
    fc.assert(
      fc.property(storedArb, (stored) => {
        const r = resolveOptions(stored) as unknown as Record<string, unknown>;
        expect(Object.keys(r).sort()).toEqual([...OPTION_NAMES].sort());
        for (const name of OPTION_NAMES) {
          expect(checkOption(name, r[name])).toBeUndefined();
          const valid = name in stored && checkOption(name, stored[name]) === undefined;
          expect(r[name]).toEqual(valid ? stored[name] : OPTION_DEFAULTS[name]);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('does not let the caller change the defaults through the result', () => {
    const r = resolveOptions(null);
    r.polling_frequency = 1;
    expect(OPTION_DEFAULTS.polling_frequency).toBe(15);
    expect(resolveOptions(null).polling_frequency).toBe(15);
  });
});
