import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { merged } from '../../src/common/copy.js';

/** JSON objects as JSON.parse gives them, keys such as "__proto__" and "constructor" included. */
const jsonObject = fc.jsonValue().map((v) => (v !== null && typeof v === 'object' && !Array.isArray(v) ? v : { v }));
const parsedObject = fc.oneof(
  jsonObject,
  fc.dictionary(fc.constantFrom('__proto__', 'constructor', 'status', 'phase', 'a'), fc.jsonValue()).map((d) => JSON.parse(JSON.stringify(d)) as Record<string, unknown>),
);

describe('merged()', () => {
  it('gives what an object spread gives: the same keys, in the same order, with the same values', () => {
    fc.assert(
      fc.property(fc.array(fc.option(parsedObject, { nil: undefined }), { maxLength: 4 }), (objects) => {
        const spread = objects.reduce<Record<string, unknown>>((acc, o) => ({ ...acc, ...o }), {});
        const out = merged<Record<string, unknown>>(...objects);
        expect(Reflect.ownKeys(out)).toEqual(Reflect.ownKeys(spread));
        for (const k of Reflect.ownKeys(spread)) expect(Object.getOwnPropertyDescriptor(out, k)).toEqual(Object.getOwnPropertyDescriptor(spread, k));
        expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
      }),
    );
  });

  it('keeps a "__proto__" key as a property, never as the prototype', () => {
    const hostile = JSON.parse('{"__proto__": {"polluted": true}, "phase": "x"}') as object;
    const out = merged<Record<string, unknown>>({ status_override: '' }, hostile);
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.keys(out)).toEqual(['status_override', '__proto__', 'phase']);
    expect((out as { polluted?: unknown }).polluted).toBeUndefined();
  });

  it('copies: changing the result leaves its sources as they were', () => {
    const a = { phase: 'powering_on' };
    const out = merged<Record<string, unknown>>(a, { status_override: '' });
    out.phase = '';
    expect(a).toEqual({ phase: 'powering_on' });
  });
});
