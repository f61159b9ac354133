/** `bos serve` settings: flags over environment over defaults, one clear line on bad values. */
import { describe, expect, it } from 'vitest';
import { resolveServeOptions } from '../../src/cli/serve.js';

describe('bos serve settings', () => {
  it('takes defaults, then the environment, then flags', () => {
    const d = resolveServeOptions({}, {});
    expect([d.port, d.host, d.redisUrl, d.prefix]).toEqual([8080, '127.0.0.1', '', ['']]);
    const e = resolveServeOptions({}, { BOS_PORT: '9000', BOS_HOST: '0.0.0.0', BOS_REDIS_URL: 'redis://db:6379', BOS_PREFIXES: ',/apis/bos/' });
    expect([e.port, e.host, e.redisUrl, e.prefix]).toEqual([9000, '0.0.0.0', 'redis://db:6379', ['', '/apis/bos']]);
    const f = resolveServeOptions({ port: '0', redis: 'redis://other:1', prefix: ['/x'] }, { BOS_PORT: '9000', BOS_PREFIXES: '/y' });
    expect([f.port, f.redisUrl, f.prefix]).toEqual([0, 'redis://other:1', ['/x']]);
  });

  it('refuses bad values with one line naming the setting', () => {
    expect(() => resolveServeOptions({ port: 'abc' }, {})).toThrow(/^--port="abc" is not valid/);
    expect(() => resolveServeOptions({}, { BOS_PORT: '70000' })).toThrow(/^BOS_PORT="70000" is not valid/);
    expect(() => resolveServeOptions({}, { BOS_PREFIXES: 'nope' })).toThrow(/^BOS_PREFIXES="nope" is not valid/);
    expect(() => resolveServeOptions({ redisTls: true }, {})).toThrow(/needs --redis/);
    expect(() => resolveServeOptions({ redisPasswordFile: '/run/secret' }, {})).toThrow(/Redis URL/);
  });
});
