/** The JSON array answers assembled from items already serialised (sendJsonItems), small and streamed. */
import Fastify from 'fastify';
import { afterAll, expect, it } from 'vitest';
import { sendJsonItems } from '../../src/server/context.js';

const app = Fastify();
app.get('/items/:n', (req, reply) => {
  const n = Number((req.params as { n: string }).n);
  const items = Array.from({ length: n }, (_, i) => ({ i, text: i % 3 === 0 ? 'naïve — ✓' : 'plain' }));
  return sendJsonItems(reply, 200, items, (item) => [JSON.stringify(item)]);
});
// the same items, each in several pieces (some of them empty)
app.get('/pieces/:n', (req, reply) => {
  const n = Number((req.params as { n: string }).n);
  const items = Array.from({ length: n }, (_, i) => ({ i, text: i % 3 === 0 ? 'naïve — ✓' : 'plain' }));
  return sendJsonItems(reply, 200, items, (item) => {
    const t = JSON.stringify(item);
    return [t.slice(0, 3), '', t.slice(3, 9), t.slice(9)];
  });
});
afterAll(() => app.close());

it('answers exactly the JSON of the array (and a newline) for any count, non-ASCII text included, streamed or not', async () => {
  for (const [route, n] of [0, 1, 2, 1999, 2000, 2001, 2999, 3000, 4321].flatMap((n) => [['items', n] as const, ['pieces', n] as const])) {
    const res = await app.inject({ url: `/${route}/${n}` });
    const expected = Array.from({ length: n }, (_, i) => ({ i, text: i % 3 === 0 ? 'naïve — ✓' : 'plain' }));
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body, `${n} ${route}`).toBe(JSON.stringify(expected) + '\n');
  }
});
