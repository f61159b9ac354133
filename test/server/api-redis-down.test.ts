/** The API answers 503 (and healthz reports the database) when its Redis goes away. */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { startServer } from '../../src/server/app.js';
import { RedisStore } from '../../src/server/store/redis/index.js';
import { Api } from '../helpers/api.js';
import { startRedis } from '../helpers/redis.js';

const redisInstalled = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;

describe.runIf(redisInstalled)('Redis unavailable', () => {
  it('answers 503 with the store message while Redis is down, and recovers when it is back', async () => {
    const redis = await startRedis({ password: 'hunter2-secret' });
    const store = await RedisStore.connect({ url: redis.url, password: 'hunter2-secret', connectTimeoutSeconds: 1 });
    const srv = await startServer({ store, logger: false });
    try {
      const api = new Api(srv.url);
      expect((await api.put('/v2/components/x1', { enabled: false })).status).toBe(200);
      await redis.kill();
      const r = await api.get('/v2/components');
      expect(r.status).toBe(503);
      expect(r.body.title).toBe('Unable to connect to the Redis database');
      expect(r.body.detail).toContain('127.0.0.1');
      expect(r.text).not.toContain('hunter2');
      expect((await api.get('/v2/healthz')).body).toEqual({ dbStatus: 'not_available', apiStatus: 'ok' });
      await redis.restart();
      const back = await api.get('/v2/components/x1');
      expect([200, 404]).toContain(back.status);
    } finally {
      await srv.close();
      await store.close();
      await redis.stop();
    }
  });
});
