import fc from 'fast-check';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { systemClock } from '../../src/common/clock.js';
import { OPTION_DEFAULTS, OPTION_NAMES, resolveOptions } from '../../src/common/options.js';
import { ServerContext } from '../../src/server/context.js';
import { MemoryStore } from '../../src/server/store/memory.js';

// Stored options as another replica or an operator may leave them: the known names with valid,
// invalid or nested values, sometimes an unknown key, in any order.
const value = fc.oneof(
  fc.integer({ min: -2, max: 100000 }),
  fc.boolean(),
  fc.constantFrom('', '1d', '2W', 'DEBUG', 'ERROR', 'LOUD', 'x'.repeat(200)),
  fc.jsonValue({ maxDepth: 2 }),
);
const stored = fc
  .tuple(fc.shuffledSubarray([...OPTION_NAMES, 'custom']), fc.array(value, { minLength: OPTION_NAMES.length + 1, maxLength: OPTION_NAMES.length + 1 }))
  .map(([names, values]) => Object.fromEntries(names.map((n, i) => [n, values[i]])));

describe('the options a request reads', () => {
  it('are what the stored options resolve to, request after request, however the store changes between them', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(stored, fc.constant(undefined)), { minLength: 1, maxLength: 8 }), async (writes) => {
        const store = new MemoryStore();
        const ctx = new ServerContext(store, systemClock, pino({ level: 'silent' }));
        for (const w of writes) {
          // undefined: the same stored options again
          if (w !== undefined) await store.putOptions(w);
          const got = await ctx.options();
          const plain = resolveOptions(await store.getOptions());
          expect(got).toEqual(plain);
          expect(Object.isFrozen(got)).toBe(true);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('are resolved once while the stored options stay the same, and again as soon as one changes', async () => {
    const store = new MemoryStore();
    const ctx = new ServerContext(store, systemClock, pino({ level: 'silent' }));
    await store.putOptions({ ...OPTION_DEFAULTS, default_retry_policy: 5 });
    const first = await ctx.options();
    expect(await ctx.options()).toBe(first);
    await store.putOptions({ ...OPTION_DEFAULTS, default_retry_policy: 6 });
    const second = await ctx.options();
    expect(second).not.toBe(first);
    expect(second.default_retry_policy).toBe(6);
  });
});
