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

describe('the read of the stored options', () => {
  it('is shared by the requests that ask in one turn, and sent after the last of them asked', async () => {
    const store = new MemoryStore();
    let reads = 0;
    const getOptions = store.getOptions.bind(store);
    store.getOptions = () => {
      reads++;
      return getOptions();
    };
    const ctx = new ServerContext(store, systemClock, pino({ level: 'silent' }));
    await store.putOptions({ ...OPTION_DEFAULTS, default_retry_policy: 5 });
    const first = ctx.options();
    // Written after the first request asked, before the read is sent: every request of the turn sees it.
    await store.putOptions({ ...OPTION_DEFAULTS, default_retry_policy: 6 });
    const asked = [first, ctx.options(), ctx.storedOptions(), ctx.options()];
    const got = await Promise.all(asked);
    expect(reads).toBe(1);
    expect(got.map((o) => o.default_retry_policy)).toEqual([6, 6, 6, 6]);
    expect(Object.isFrozen(got[2])).toBe(true);
    // A request that asks once that read has been sent gets a read of its own, and what was written since.
    await store.putOptions({ ...OPTION_DEFAULTS, default_retry_policy: 7 });
    expect((await ctx.options()).default_retry_policy).toBe(7);
    expect(reads).toBe(2);
  });
});
