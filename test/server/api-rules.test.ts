/** Unit and property tests of the API's rule modules (no HTTP). */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Component, ComponentPatch } from '../../src/common/types.js';
import { applyAutoFields, mergeComponent, mergeMemo } from '../../src/server/rules/components.js';
import { extendedStatus, round2, sessionFilter } from '../../src/server/rules/sessions.js';
import { canonicalXname } from '../../src/server/rules/templates.js';
import { imsImageId, validationMessage } from '../../src/server/rules/validate-bootsets.js';
import { pyRepr } from '../../src/server/schema.js';

const NOW = '2026-01-01T00:00:00';

describe('auto fields', () => {
  it('stamps states but not an actual_state holding only a bss_token', () => {
    const d: ComponentPatch = applyAutoFields<ComponentPatch>({ actual_state: { bss_token: 't' }, desired_state: {}, staged_state: {}, last_action: {} }, NOW, new Map());
    expect(d.actual_state).toEqual({ bss_token: 't' });
    expect(d.desired_state).toEqual({ last_updated: NOW });
    expect(d.staged_state).toEqual({ last_updated: NOW });
    expect(d.last_action).toEqual({ last_updated: NOW });
    expect(d.session).toBe('');
    expect(d.event_stats).toBeUndefined();
  });

  it('fills boot artifacts from a known token, then stamps', () => {
    const rec = { kernel: 'k', kernel_parameters: 'p', initrd: 'i', timestamp: 'ts' };
    const d = applyAutoFields({ actual_state: { bss_token: 't' } }, NOW, new Map([['t', rec]]));
    expect(d.actual_state).toEqual({ bss_token: 't', boot_artifacts: rec, last_updated: NOW });
  });

  it('puts an enabled component on hold and keeps a named session', () => {
    const d: ComponentPatch = applyAutoFields<ComponentPatch>({ enabled: true, status: { phase: 'configuring' }, desired_state: { configuration: 'c' }, session: 's' }, NOW, undefined);
    expect(d.status).toEqual({ phase: 'configuring', status_override: 'on_hold' });
    expect(d.session).toBe('s');
    expect(d.event_stats).toEqual({ power_on_attempts: 0, power_off_graceful_attempts: 0, power_off_forceful_attempts: 0 });
    expect(applyAutoFields({ enabled: false }, NOW, undefined)).toEqual({ enabled: false });
  });
});

/** Every leaf path of a JSON object (empty objects have none). */
function leafPaths(o: unknown, prefix = ''): string[] {
  if (o === null || typeof o !== 'object' || Array.isArray(o)) return [prefix];
  const entries = Object.entries(o as Record<string, unknown>);
  return entries.flatMap(([k, v]) => leafPaths(v, `${prefix}/${k}`));
}

/** Add a key to every object in a JSON value (to see whether anything else holds the same objects). */
function mutateEveryObject(o: unknown): void {
  if (o === null || typeof o !== 'object') return;
  for (const v of Object.values(o as Record<string, unknown>)) mutateEveryObject(v);
  if (!Array.isArray(o)) (o as Record<string, unknown>).__changed = true;
}

describe('merge', () => {
  const artifacts = fc.record({ kernel: fc.string(), initrd: fc.string(), kernel_parameters: fc.string() }, { requiredKeys: [] });
  const comp = fc.record(
    {
      desired_state: fc.record({ boot_artifacts: artifacts, configuration: fc.string() }, { requiredKeys: [] }),
      actual_state: fc.record({ boot_artifacts: artifacts, bss_token: fc.string() }, { requiredKeys: [] }),
      status: fc.record({ phase: fc.constantFrom('', 'configuring'), status_override: fc.string() }, { requiredKeys: [] }),
      event_stats: fc.record({ power_on_attempts: fc.nat() }, { requiredKeys: [] }),
      enabled: fc.boolean(),
      error: fc.string(),
    },
    { requiredKeys: [] },
  );

  it('never deletes a field and takes every patched leaf from the patch', () => {
    fc.assert(
      fc.property(comp, comp, (stored, patch) => {
        const record = { id: 'x', ...structuredClone(stored) } as Component;
        const before = JSON.stringify(record);
        const given = structuredClone(patch);
        const merged = mergeComponent(record, given);
        expect(JSON.stringify(record)).toBe(before); // the stored record is left as it was

        const mergedPaths = new Set(leafPaths(merged));
        for (const p of leafPaths({ id: 'x', ...stored })) {
          // a leaf of the stored record survives unless the patch replaced a whole non-object there
          const prefixReplaced = leafPaths(patch).some((q) => p.startsWith(q + '/') || p === q);
          if (!prefixReplaced) expect(mergedPaths.has(p) || [...mergedPaths].some((m) => m.startsWith(p + '/'))).toBe(true);
        }
        for (const p of leafPaths(patch)) {
          if (p === '') continue;
          const get = (o: unknown) => p.split('/').slice(1).reduce<unknown>((a, k) => (a as Record<string, unknown> | undefined)?.[k], o);
          expect(get(merged)).toEqual(get(patch));
        }
        // shared with the record or new, but never an object of the patch: changing the patch afterwards changes nothing merged
        const mergedText = JSON.stringify(merged);
        mutateEveryObject(given);
        expect(JSON.stringify(merged)).toBe(mergedText);
      }),
    );
  });
});

describe('merge of one patch into many records (mergeMemo)', () => {
  const artifacts = fc.record({ kernel: fc.string(), initrd: fc.string(), kernel_parameters: fc.string() }, { requiredKeys: [] });
  const part = {
    desired_state: fc.record({ boot_artifacts: artifacts, configuration: fc.string(), bss_token: fc.string() }, { requiredKeys: [] }),
    actual_state: fc.record({ boot_artifacts: artifacts, bss_token: fc.string() }, { requiredKeys: [] }),
    status: fc.oneof(fc.record({ phase: fc.constantFrom('', 'powering_on'), status_override: fc.string() }, { requiredKeys: [] }), fc.constant(null)),
    last_action: fc.record({ action: fc.string(), failed: fc.boolean() }, { requiredKeys: [] }),
    event_stats: fc.record({ power_on_attempts: fc.nat() }, { requiredKeys: [] }),
    enabled: fc.boolean(),
  };
  const patch = fc.record({ ...part, error: fc.string(), session: fc.string() }, { requiredKeys: [] });
  // Records built from a few parts each, so that records share parts, as the store's records do.
  const pool = fc.record(Object.fromEntries(Object.entries(part).map(([k, a]) => [k, fc.array(a as fc.Arbitrary<unknown>, { minLength: 1, maxLength: 3 })])));
  const records = pool.chain((parts) =>
    fc.array(
      fc.record(Object.fromEntries(Object.entries(parts).map(([k, list]) => [k, fc.constantFrom(...(list as unknown[]))])), { requiredKeys: [] }),
      { minLength: 1, maxLength: 12 },
    ),
  );

  it('gives each record what merging the patch into it alone gives, and changes no record and shares nothing with the patch', () => {
    fc.assert(
      fc.property(records, patch, (recs, p) => {
        const stored = recs.map((r, i) => ({ id: `x${i}`, ...r }) as Component);
        const before = stored.map((r) => JSON.stringify(r));
        const given = structuredClone(p) as Partial<Component>;
        const memo = mergeMemo();
        const merged = stored.map((r) => mergeComponent(r, given, memo));
        const alone = stored.map((r) => mergeComponent(r, structuredClone(p) as Partial<Component>));
        expect(merged.map((r) => JSON.stringify(r))).toEqual(alone.map((r) => JSON.stringify(r)));
        expect(stored.map((r) => JSON.stringify(r))).toEqual(before);
        const mergedText = merged.map((r) => JSON.stringify(r));
        mutateEveryObject(given);
        expect(merged.map((r) => JSON.stringify(r))).toEqual(mergedText);
      }),
      { numRuns: 300 },
    );
  });
});

describe('sessions', () => {
  it('rounds percentages like Python round(x, 2)', () => {
    expect(round2(0.125)).toBe(0.12);
    expect(round2(0.375)).toBe(0.38);
    expect(round2((1 * 100) / 3)).toBe(33.33);
    expect(round2((2 * 100) / 3)).toBe(66.67);
    expect(round2(100)).toBe(100);
  });

  it('selects by age against the injected time', () => {
    const now = Date.UTC(2026, 0, 2);
    const mk = (start: string | null) => ({ name: 'n', tenant: null, status: { start_time: start } }) as never;
    const f = sessionFilter({ tenant: '', min_age: '1d' }, now)!;
    expect(f(mk('2026-01-01T00:00:00'))).toBe(true);
    expect(f(mk('2026-01-01T00:00:01'))).toBe(false);
    expect(f(mk(null))).toBe(false);
    expect(sessionFilter({ tenant: '' }, now)).toBeUndefined();
    expect(() => sessionFilter({ tenant: '', max_age: 'soon' }, now)).toThrow(/invalid duration/);
  });

  it('computes an empty extended status with zero percentages and a running duration', () => {
    const s = { name: 's', tenant: null, operation: 'boot', template_name: 't', limit: '', stage: false, components: '', include_disabled: false, status: { start_time: NOW, end_time: null, status: 'running' } };
    const st = extendedStatus(s, [], 0, Date.UTC(2026, 0, 1, 0, 0, 1, 250));
    expect(st.managed_components_count).toBe(0);
    expect(st.percent_successful).toBe(0);
    expect(st.timing).toEqual({ start_time: NOW, end_time: null, duration: '0:00:01.250000' });
    expect(st.status).toBe('running');
  });
});

describe('templates and validation helpers', () => {
  it('canonicalises xnames', () => {
    expect(canonicalXname('X3000C0S01B0N0')).toBe('x3000c0s1b0n0');
    expect(canonicalXname('x0003000c00s19b01n00')).toBe('x3000c0s19b1n0');
    expect(canonicalXname('Compute-Group')).toBe('compute-group');
  });

  it('derives the IMS image id from the manifest path', () => {
    expect(imsImageId('s3://boot-images/abc-123/manifest.json')).toBe('abc-123');
    expect(imsImageId('s3://boot-images/manifest.json')).toBeUndefined();
    expect(imsImageId('http://x/y/z')).toBeUndefined();
  });

  it('summarises a validation', () => {
    expect(validationMessage({ warnings: [] })).toBe('Valid');
    expect(validationMessage({ warnings: ['a', 'b'] })).toBe('a; b');
    expect(validationMessage({ error: 'e', warnings: ['a'] })).toBe('e');
  });

  it('renders values like Python repr', () => {
    expect(pyRepr({ a: [1, true, null, "it's"] })).toBe(`{'a': [1, True, None, "it's"]}`);
    expect(pyRepr('x'.repeat(3000)).length).toBeLessThan(2100);
  });
});
