import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as common from '../../src/common/index.js';
import { emptyActualState, emptyBootArtifacts, emptyDesiredState, emptyStagedState, NAME_PATTERN } from '../../src/common/constants.js';

describe('EMPTY states (docs/data-model.md, "Empty states")', () => {
  it('have exactly the documented shape', () => {
    const ba = { kernel: '', kernel_parameters: '', initrd: '' };
    expect(emptyBootArtifacts()).toEqual(ba);
    expect(emptyActualState()).toEqual({ boot_artifacts: ba, bss_token: '' });
    expect(emptyDesiredState()).toEqual({ configuration: '', boot_artifacts: ba, bss_token: '' });
    expect(emptyStagedState()).toEqual({ configuration: '', boot_artifacts: ba });
  });

  it('are fresh objects on every call, so records never share them', () => {
    const a = emptyDesiredState();
    const b = emptyDesiredState();
    a.boot_artifacts!.kernel = 'changed';
    a.configuration = 'changed';
    expect(b).toEqual(emptyDesiredState());
    expect(emptyActualState().boot_artifacts).not.toBe(emptyActualState().boot_artifacts);
    expect(emptyStagedState().boot_artifacts).not.toBe(emptyStagedState().boot_artifacts);
  });
});

describe('NAME_PATTERN (sessions, templates, boot sets)', () => {
  it.each(['a', 'A1', 'boot-compute.v2_1', 'x'.repeat(127), '0'])('accepts %j', (name) => expect(NAME_PATTERN.test(name)).toBe(true));
  it.each(['', '-a', 'a-', 'a_', '.a', 'a b', 'x'.repeat(128), 'é', 'a/b'])('rejects %j', (name) => expect(NAME_PATTERN.test(name)).toBe(false));

  it('accepts exactly 1-127 of [-._a-zA-Z0-9] that start and end alphanumeric', () => {
    const ok = (s: string) =>
      s.length >= 1 && s.length <= 127 && /^[-._a-zA-Z0-9]*$/.test(s) && /^[a-zA-Z0-9]/.test(s) && /[a-zA-Z0-9]$/.test(s);
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('a', 'Z', '5', '-', '.', '_', ' ', 'é'), maxLength: 130 }), (s) => {
        expect(NAME_PATTERN.test(s)).toBe(ok(s));
      }),
      { numRuns: 1000 },
    );
  });
});

describe('src/common index', () => {
  it('re-exports the vocabulary from one place', () => {
    for (const name of ['computeStatus', 'attachStatus', 'parseDuration', 'formatTimedelta', 'FakeClock', 'resolveOptions', 'OPTION_DEFAULTS', 'emptyActualState', 'PHASES', 'ACTIONS', 'API_VERSION']) {
      expect(common, name).toHaveProperty(name);
    }
    expect(common.API_VERSION).toEqual({ major: '2', minor: '50', patch: '0' });
  });
});
