/** The JSON array answers assembled from items already serialised (sendJsonItems), small and streamed. */
import Fastify from 'fastify';
import { afterAll, expect, it } from 'vitest';
import { sendJsonItems } from '../../src/server/context.js';

const app = Fastify();
app.get('/items/:n', (req, reply) => {
  const n = Number((req.params as { n: string }).n);
  const items = Array.from({ length: n }, (_, i) => ({ i, text: i % 3 === 0 ? 'naïve — ✓' : 'plain' }));
  return sendJsonItems(reply, 200, items, (item) => JSON.stringify(item));
});
afterAll(() => app.close());

it('answers exactly the JSON of the array (and a newline) for any count, non-ASCII text included, streamed or not', async () => {
  for (const n of [0, 1, 2, 1999, 2000, 2001, 2999, 3000, 4321]) {
    const res = await app.inject({ url: `/items/${n}` });
    const expected = Array.from({ length: n }, (_, i) => ({ i, text: i % 3 === 0 ? 'naïve — ✓' : 'plain' }));
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body, `${n} items`).toBe(JSON.stringify(expected) + '\n');
  }
});
