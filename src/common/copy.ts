/**
 * Deep copy of JSON data (objects, arrays, strings, numbers, booleans, null). Exact for records,
 * which are plain JSON; strings are shared, not duplicated (they cannot change), so copies of one
 * large state cost only their objects. Several times faster than structuredClone or a JSON round
 * trip.
 */
export function copyJson<T>(v: T): T {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(copyJson) as T;
  const out: Record<string, unknown> = {};
  for (const k in v as Record<string, unknown>) out[k] = copyJson((v as Record<string, unknown>)[k]);
  return out as T;
}

/**
 * A new object with the own enumerable properties of `objects`, later ones winning: what
 * `{ ...a, ...b }` gives. Spread is not used because V8 (Node 20) gives an object made by a spread
 * that then gets a key it did not have a hidden class of its own, so the API's records each had one,
 * read through slow megamorphic lookups (docs/store.md, "Records in memory"). Built with Object.assign
 * they share one class per key order.
 */
export function merged<T extends object>(...objects: readonly (object | null | undefined)[]): T {
  const out: Record<string, unknown> = {};
  for (const o of objects) {
    if (o === null || o === undefined) continue;
    // A JSON key "__proto__" is an own property to copy, not the prototype to set (as a spread has it).
    if (Object.hasOwn(o, '__proto__')) {
      for (const k of Object.keys(o)) Object.defineProperty(out, k, { value: (o as Record<string, unknown>)[k], enumerable: true, writable: true, configurable: true });
    } else Object.assign(out, o);
  }
  return out as T;
}
