import { describe, expect, it } from 'vitest';
import { parseRedisTarget, redisConnectionOptions } from '../../src/clients/redis-target.js';

describe('parseRedisTarget', () => {
  it('reads redis:// and rediss:// URLs and shows them without the password', () => {
    const a = parseRedisTarget('redis://:s3cr%40t@cray-bos-db:6380/3');
    expect(a).toMatchObject({ mode: 'server', host: 'cray-bos-db', port: 6380, password: 's3cr@t', tls: false, shown: 'redis://cray-bos-db:6380' });
    const b = parseRedisTarget('rediss://bos:pw@db.example.com');
    expect(b).toMatchObject({ host: 'db.example.com', port: 6379, username: 'bos', password: 'pw', tls: true, shown: 'rediss://bos@db.example.com:6379' });
    expect(b.shown).not.toContain('pw');
    expect(parseRedisTarget('127.0.0.1:7000')).toMatchObject({ host: '127.0.0.1', port: 7000, tls: false, password: undefined });
    expect(parseRedisTarget('redis://[::1]:7000').shown).toBe('redis://[::1]:7000');
  });

  it('lets settings override the URL: password, and TLS for a redis:// URL', () => {
    expect(parseRedisTarget('redis://:old@h:1', { password: 'new' }).password).toBe('new');
    expect(parseRedisTarget('redis://h:1', { tls: true })).toMatchObject({ tls: true, shown: 'rediss://h:1' });
  });

  it('reads Sentinel URLs: several sentinels (default port 26379) and the master name', () => {
    const t = parseRedisTarget('redis+sentinel://:pw@s1:26380,s2,[::1]:5000/cray-bos-db', { sentinelPassword: 'spw' });
    expect(t).toMatchObject({
      mode: 'sentinel',
      sentinels: [
        { host: 's1', port: 26380 },
        { host: 's2', port: 26379 },
        { host: '::1', port: 5000 },
      ],
      name: 'cray-bos-db',
      password: 'pw',
      sentinelPassword: 'spw',
      tls: false,
      shown: 'redis+sentinel://s1:26380,s2:26379,[::1]:5000/cray-bos-db',
    });
    expect(parseRedisTarget('rediss+sentinel://s1/m')).toMatchObject({ tls: true, shown: 'rediss+sentinel://s1:26379/m' });
    const o = redisConnectionOptions(t, 3);
    expect(o).toMatchObject({ name: 'cray-bos-db', db: 3, password: 'pw', sentinelPassword: 'spw', sentinels: t.sentinels });
    expect(o.host).toBeUndefined();
    expect(redisConnectionOptions(parseRedisTarget('redis://h:1'), 2)).toMatchObject({ host: 'h', port: 1, db: 2 });
  });

  it('rejects other schemes and unreadable URLs with a message saying what is expected', () => {
    expect(() => parseRedisTarget('http://h:1')).toThrow(/expected redis:\/\/host:port, rediss:\/\/host:port or redis\+sentinel:/);
    expect(() => parseRedisTarget('redis://h:notaport')).toThrow(/invalid Redis address/);
    expect(() => parseRedisTarget('redis://a:1,b:2')).toThrow(/several hosts need redis\+sentinel/);
    expect(() => parseRedisTarget('redis+sentinel://s1:26379')).toThrow(/master name is missing/);
    expect(() => parseRedisTarget('redis+sentinel:///m')).toThrow(/no sentinel address/);
  });
});
