import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CfsComponent } from '../../src/clients/types.js';
import { CfsRecords } from '../../src/operators/cfs-records.js';

/** An async iterable of pages the test hands out one at a time. */
function feed() {
  const queue: { page?: CfsComponent[]; err?: Error }[] = [];
  let wake: (() => void) | undefined;
  const put = (item: { page?: CfsComponent[]; err?: Error }) => {
    queue.push(item);
    wake?.();
  };
  async function* pages(): AsyncGenerator<CfsComponent[]> {
    for (;;) {
      while (queue.length === 0) await new Promise<void>((r) => (wake = r));
      const item = queue.shift()!;
      if (item.err) throw item.err;
      if (!item.page) return;
      yield item.page;
    }
  }
  return { pages: pages(), push: (page: CfsComponent[]) => put({ page }), end: () => put({}), fail: (err: Error) => put({ err }) };
}

const settle = () => new Promise((r) => setTimeout(r, 0));

describe('CfsRecords', () => {
  it('a batch is here exactly when all its records have arrived or CFS has no more, whatever the pages and batches', async () => {
    const ids = Array.from({ length: 30 }, (_, i) => `x${i}`);
    await fc.assert(
      fc.asyncProperty(
        fc.shuffledSubarray(ids), // what CFS has, in the order it lists them
        fc.array(fc.integer({ min: 1, max: 8 }), { minLength: 1, maxLength: 10 }), // page sizes
        fc.array(fc.subarray(ids, { minLength: 1 }), { minLength: 1, maxLength: 5 }), // batches (ids CFS may lack)
        fc.integer({ min: 0, max: 3 }), // pages read before the batches start waiting
        async (listed, sizes, batches, before) => {
          const f = feed();
          const records = new CfsRecords(f.pages);
          const pages: CfsComponent[][] = [];
          for (let at = 0, i = 0; at < listed.length; i++) {
            const n = sizes[i % sizes.length]!;
            pages.push(listed.slice(at, at + n).map((id) => ({ id, desired_config: `cfg-${id}` })));
            at += n;
          }
          const seen = new Set<string>();
          let sent = 0;
          const send = async () => {
            for (const r of pages[sent++]!) seen.add(r.id);
            f.push(pages[sent - 1]!);
            await settle();
          };
          while (sent < Math.min(before, pages.length)) await send();
          const waits = batches.map((b) => records.whenHas(b));
          const resolved = waits.map(() => false);
          waits.forEach((w, i) => void w.ready.then(() => (resolved[i] = true)));
          const check = async (complete: boolean) => {
            await settle();
            batches.forEach((b, i) => {
              const expected = complete || b.every((id) => seen.has(id));
              expect(waits[i]!.here).toBe(expected);
              expect(resolved[i]).toBe(expected);
            });
          };
          await check(false);
          while (sent < pages.length) {
            await send();
            await check(false);
          }
          f.end();
          await check(true);
          for (const id of ids) expect(records.get(id)?.desired_config).toBe(listed.includes(id) ? `cfg-${id}` : undefined);
          expect(records.whenHas(ids).here).toBe(true);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('a failed read rejects the batches waiting and those asking later', async () => {
    const f = feed();
    const records = new CfsRecords(f.pages);
    f.push([{ id: 'a' }]);
    await settle();
    expect(records.whenHas(['a']).here).toBe(true);
    const waiting = records.whenHas(['a', 'b']);
    expect(waiting.here).toBe(false);
    f.fail(new Error('cfs: read timeout'));
    await expect(waiting.ready).rejects.toThrow('cfs: read timeout');
    expect(waiting.here).toBe(true);
    const later = records.whenHas(['c']);
    expect(later.here).toBe(true);
    await expect(later.ready).rejects.toThrow('cfs: read timeout');
  });

  it('asks for no more pages once closed', async () => {
    let pulled = 0;
    async function* pages(): AsyncGenerator<CfsComponent[]> {
      for (let i = 0; i < 100; i++) {
        pulled++;
        yield [{ id: `n${i}` }];
        await settle();
      }
    }
    const records = new CfsRecords(pages());
    await settle();
    records.close();
    await settle();
    await settle();
    const at = pulled;
    await settle();
    await settle();
    expect(pulled).toBe(at);
    expect(pulled).toBeLessThan(100);
  });
});
