import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Component } from '../../src/common/types.js';
import { mergeComponent, outputView } from '../../src/server/rules/components.js';
import { outputPieces, piecesLength, shareStates, storedPieces, writePieces } from '../../src/server/record-json.js';

// Records as stores hold them: JSON values, the usual fields in any order and state, odd ones too
// (non-object status, arrays, unicode and characters JSON escapes, an internal timestamp or none).
const text = fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.constantFrom('', 'a"b\\c\n\u0001', '\ud800', 'x'.repeat(300)));
const artifacts = fc.record({ kernel: text, kernel_parameters: text, initrd: text, timestamp: text }, { requiredKeys: [] });
const state = fc.record({ boot_artifacts: artifacts, configuration: text, bss_token: text, session: text, last_updated: text }, { requiredKeys: [] });
const field = fc.oneof(
  { weight: 5, arbitrary: state },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
);
const record = fc
  .record(
    {
      id: text,
      actual_state: field,
      desired_state: field,
      staged_state: field,
      last_action: fc.oneof(fc.record({ action: text, failed: fc.boolean(), last_updated: text }, { requiredKeys: [] }), fc.jsonValue({ maxDepth: 1 })),
      event_stats: fc.record({ power_on_attempts: fc.integer(), power_off_graceful_attempts: fc.double() }, { requiredKeys: [] }),
      status: fc.oneof(
        fc.record({ phase: fc.constantFrom('', 'powering_on', 'powering_off', 'configuring'), status_override: fc.constantFrom('', 'on_hold', 'failed'), status: text }, { requiredKeys: [] }),
        fc.jsonValue({ maxDepth: 1 }),
      ),
      enabled: fc.oneof(fc.boolean(), fc.constant(undefined)),
      error: text,
      session: text,
      retry_policy: fc.integer(),
      extra: fc.jsonValue({ maxDepth: 2 }),
    },
    { requiredKeys: ['id'] },
  )
  .chain((r) => fc.shuffledSubarray(Object.keys(r), { minLength: Object.keys(r).length }).map((keys) => Object.fromEntries(keys.map((k) => [k, (r as Record<string, unknown>)[k]]))))
  .map((r) => r as unknown as Component);

const joined = (pieces: string[]) => pieces.join('');

describe('record JSON from remembered parts', () => {
  it('is exactly JSON.stringify of the record, and of its output view, the first time and again', () => {
    fc.assert(
      fc.property(record, (rec) => {
        for (let i = 0; i < 2; i++) {
          expect(joined(storedPieces(rec))).toBe(JSON.stringify(rec));
          expect(joined(outputPieces(rec))).toBe(JSON.stringify(outputView(rec)));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('leaves out the fields asked (a desired view): exactly the output view without them', () => {
    const fields = fc.subarray(['actual_state', 'staged_state', 'desired_state', 'status', 'id', 'event_stats']);
    fc.assert(
      fc.property(record, fields, (rec, out) => {
        const view = Object.fromEntries(Object.entries(outputView(rec)).filter(([k]) => !out.includes(k)));
        expect(joined(outputPieces(rec, new Set(out)))).toBe(JSON.stringify(view));
        expect(joined(outputPieces(rec))).toBe(JSON.stringify(outputView(rec)));
      }),
      { numRuns: 300 },
    );
  });

  it('a record merged from another (sharing its unchanged parts) has its own exact JSON, and the other keeps its own', () => {
    const patch = fc.record(
      { status: fc.record({ phase: fc.constantFrom('', 'configuring') }), enabled: fc.boolean(), desired_state: state, last_action: fc.record({ action: text }), error: text },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(record, patch, (rec, p) => {
        const before = { stored: joined(storedPieces(rec)), shown: joined(outputPieces(rec)) };
        const merged = mergeComponent(rec, p as Partial<Component>);
        expect(joined(storedPieces(merged))).toBe(JSON.stringify(merged));
        expect(joined(outputPieces(merged))).toBe(JSON.stringify(outputView(merged)));
        // As the store keeps it: its parts shared with equal ones other records hold.
        const kept = shareStates(merged);
        expect(joined(storedPieces(kept))).toBe(JSON.stringify(merged));
        expect(joined(outputPieces(kept))).toBe(JSON.stringify(outputView(merged)));
        expect(joined(storedPieces(rec))).toBe(before.stored);
        expect(joined(outputPieces(rec))).toBe(before.shown);
      }),
      { numRuns: 200 },
    );
  });

  it('keeps the remembered texts out of sight: key lists, JSON, spreads and copies; a changed copy or a frozen state has its own text', () => {
    fc.assert(
      fc.property(record, text, (rec, changed) => {
        const before = JSON.stringify(rec);
        const keys = (o: unknown) => (o && typeof o === 'object' ? Reflect.ownKeys(o).filter((k) => Object.getOwnPropertyDescriptor(o, k)!.enumerable) : []);
        const enumerable = keys(rec.desired_state);
        storedPieces(rec);
        outputPieces(rec);
        expect(JSON.stringify(rec)).toBe(before);
        expect(keys(rec.desired_state)).toEqual(enumerable);
        const state = rec.desired_state;
        if (!state || typeof state !== 'object' || Array.isArray(state)) return;
        const copy = { ...state, configuration: changed };
        expect(Object.getOwnPropertySymbols(copy)).toEqual([]);
        const other = { ...rec, desired_state: copy };
        expect(storedPieces(other).join('')).toBe(JSON.stringify(other));
        const frozen = { ...rec, desired_state: Object.freeze({ ...state, configuration: changed }) };
        expect(storedPieces(frozen).join('')).toBe(JSON.stringify(frozen));
        expect(outputPieces(frozen).join('')).toBe(JSON.stringify(outputView(frozen)));
      }),
      { numRuns: 200 },
    );
  });

  it('writes pieces as their UTF-8 bytes', () => {
    fc.assert(
      fc.property(record, (rec) => {
        const pieces = outputPieces(rec);
        const buf = Buffer.alloc(piecesLength(pieces) + 3);
        expect(writePieces(buf, 3, pieces)).toBe(buf.length - 3);
        expect(buf.subarray(3).toString('utf8')).toBe(Buffer.from(pieces.join(''), 'utf8').toString('utf8'));
      }),
      { numRuns: 100 },
    );
  });

  it('shows a status object that records share with the status each record computes from it', () => {
    const status = { phase: 'powering_on', status_override: '' };
    const called = shareStates({ id: 'a', status: { ...status }, last_action: { action: 'powering_on', failed: false } } as Component);
    const pending = shareStates({ id: 'b', status: { ...status }, last_action: { action: 'powering_off_gracefully', failed: false } } as Component);
    expect(pending.status).toBe(called.status);
    for (let i = 0; i < 2; i++) {
      expect(joined(outputPieces(called))).toBe(JSON.stringify(outputView(called)));
      expect(joined(outputPieces(pending))).toBe(JSON.stringify(outputView(pending)));
    }
    expect(joined(outputPieces(called))).toContain('"status":"power_on_called"');
    expect(joined(outputPieces(pending))).toContain('"status":"power_on_pending"');
  });

  it('shares equal desired and staged states, and equal actual boot artifacts, between records without changing any record or its JSON', () => {
    fc.assert(
      fc.property(fc.array(record, { minLength: 1, maxLength: 6 }), fc.array(fc.nat(5), { minLength: 1, maxLength: 12 }), (recs, picks) => {
        // Records that parsed the same JSON (equal states, distinct objects), as a listing finds them.
        const copies = picks.map((i) => JSON.parse(JSON.stringify(recs[i % recs.length]!)) as Component);
        const before = copies.map((c) => JSON.stringify(c));
        const shared = copies.map((c) => shareStates(c));
        shared.forEach((c, i) => {
          expect(JSON.stringify(c)).toBe(before[i]);
          expect(storedPieces(c).join('')).toBe(before[i]);
          expect(outputPieces(c).join('')).toBe(JSON.stringify(outputView(copies[i]!)));
          expect(JSON.stringify(copies[i])).toBe(before[i]); // the record given is left as it was
        });
        // Equal states, and equal last actions, attempt counts and statuses, are one object now.
        for (const key of ['desired_state', 'staged_state', 'last_action', 'event_stats', 'status'] as const) {
          for (let i = 0; i < shared.length; i++) {
            for (let j = 0; j < shared.length; j++) {
              const [a, b] = [shared[i]![key], shared[j]![key]];
              if (a && b && typeof a === 'object' && !Array.isArray(a) && JSON.stringify(a) === JSON.stringify(b)) expect(a).toBe(b);
            }
          }
        }
        const artifactsOf = (c: Component) => {
          const ba = (c.actual_state as { boot_artifacts?: unknown } | null | undefined)?.boot_artifacts;
          return ba && typeof ba === 'object' && !Array.isArray(ba) ? ba : undefined;
        };
        for (const a of shared.map(artifactsOf)) {
          for (const b of shared.map(artifactsOf)) if (a && b && JSON.stringify(a) === JSON.stringify(b)) expect(a).toBe(b);
        }
      }),
      { numRuns: 200 },
    );
  });
});
