import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ConfigError, SETTINGS, configMarkdown, loadConfig, s3Endpoint } from '../../src/config.js';
import { OPERATOR_NAMES } from '../../src/operators/types.js';

describe('loadConfig', () => {
  it('defaults to the in-cluster service names and leader election off outside a cluster', () => {
    const c = loadConfig({}, {});
    expect(c.bosUrl).toBe('http://cray-bos/v2');
    expect(c.hsmUrl).toBe('http://cray-smd/hsm/v2');
    expect(c.pcsUrl).toBe('http://cray-power-control');
    expect(c.bssUrl).toBe('http://cray-bss/boot/v1');
    expect(c.cfsUrl).toBe('http://cray-cfs-api/v3');
    expect(c.imsUrl).toBe('http://cray-ims/v3');
    expect(c.tapmsUrl).toBe('http://cray-tapms/v1alpha3');
    expect(c.only).toEqual([...OPERATOR_NAMES]);
    expect(c.leaderElection).toBe(false);
    expect([c.leaseDurationSeconds, c.renewDeadlineSeconds, c.retryPeriodSeconds]).toEqual([15, 10, 2]);
    expect(s3Endpoint(c)).toBeUndefined();
  });

  it('turns leader election on inside a cluster and takes the pod identity from the downward API', () => {
    const c = loadConfig({ KUBERNETES_SERVICE_HOST: '10.0.0.1', POD_NAME: 'cray-bos-operators-7d9f-x2', POD_NAMESPACE: 'services' });
    expect(c.leaderElection).toBe(true);
    expect(c.leaseIdentity).toBe('cray-bos-operators-7d9f-x2');
    expect(c.leaseNamespace).toBe('services');
    expect(loadConfig({ KUBERNETES_SERVICE_HOST: '10.0.0.1', BOS_LEADER_ELECTION: 'false' }).leaderElection).toBe(false);
  });

  it('lets a flag override its environment variable', () => {
    const c = loadConfig({ BOS_METRICS_PORT: '9000', BOS_OPERATORS: 'status' }, { metricsPort: 9100, only: ['power-on', 'discovery'] });
    expect(c.metricsPort).toBe(9100);
    // Kept in the canonical order, underscores accepted.
    expect(c.only).toEqual(['discovery', 'power-on']);
    expect(loadConfig({ BOS_OPERATORS: 'power_off_graceful,status' }).only).toEqual(['power-off-graceful', 'status']);
  });

  it('fails with one line naming the variable or flag, the value and what is expected', () => {
    expect(() => loadConfig({ BOS_METRICS_PORT: 'ninety' })).toThrow(
      new ConfigError('BOS_METRICS_PORT="ninety" is not valid: expected a whole number from 0 to 65535'),
    );
    expect(() => loadConfig({}, { port: '70000' })).toThrow(/^--port="70000" is not valid: expected a whole number/);
    expect(() => loadConfig({ BOS_HSM_URL: 'cray-smd' })).toThrow(/BOS_HSM_URL="cray-smd" is not valid: expected an http/);
    expect(() => loadConfig({ BOS_OPERATORS: 'power-on,reboot' })).toThrow(/BOS_OPERATORS="power-on,reboot" is not valid: expected "all" or a comma list of discovery/);
    expect(() => loadConfig({ BOS_REDIS_URL: 'http://cray-bos-db' })).toThrow(/BOS_REDIS_URL/);
    expect(() => loadConfig({ BOS_LEADER_ELECTION: 'maybe' })).toThrow(/BOS_LEADER_ELECTION="maybe" is not valid: expected true or false/);
  });

  it('checks the leader-election timings against each other', () => {
    expect(() => loadConfig({ BOS_LEASE_DURATION: '10', BOS_LEASE_RENEW_DEADLINE: '10' })).toThrow(
      /BOS_LEASE_RENEW_DEADLINE=10 is not valid: expected less than BOS_LEASE_DURATION=10/,
    );
    expect(() => loadConfig({}, { retryPeriodSeconds: '12' })).toThrow(/--lease-retry-period=12 is not valid: expected less than BOS_LEASE_RENEW_DEADLINE=10/);
  });

  it('never puts an S3 key in an error and needs both keys with a gateway', () => {
    expect(() => loadConfig({ S3_GATEWAY: 'rgw-vip', S3_ACCESS_KEY: 'AKIA-SECRETISH' })).toThrow(/S3_SECRET_KEY is empty/);
    try {
      loadConfig({ S3_GATEWAY: 'rgw-vip', S3_ACCESS_KEY: 'AKIA-SECRETISH' });
    } catch (e) {
      expect(String(e)).not.toContain('AKIA-SECRETISH');
    }
    const c = loadConfig({ S3_GATEWAY: 'rgw-vip', S3_ACCESS_KEY: 'a', S3_SECRET_KEY: 'b' });
    expect(s3Endpoint(c)).toBe('https://rgw-vip');
  });

  it('any bad port value is rejected naming the variable, any good one read back exactly', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 8 }), (raw) => {
        const good = /^\d{1,5}$/.test(raw) && Number(raw) <= 65535;
        if (raw === '') return;
        if (good) expect(loadConfig({ BOS_PORT: raw }).port).toBe(Number(raw));
        else expect(() => loadConfig({ BOS_PORT: raw })).toThrow(/^BOS_PORT=/);
      }),
    );
  });

  it('has one row per setting with distinct variables and flags', () => {
    expect(new Set(SETTINGS.map((s) => s.env)).size).toBe(SETTINGS.length);
    expect(new Set(SETTINGS.map((s) => s.flag)).size).toBe(SETTINGS.length);
    expect(new Set(SETTINGS.map((s) => s.key)).size).toBe(SETTINGS.length);
  });
});

describe('docs/configuration.md', () => {
  it('holds exactly the generated settings table (regenerate: npx tsx src/config.ts --markdown)', () => {
    const page = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
    const m = /<!-- config-table:start -->\n([\s\S]*?)<!-- config-table:end -->/.exec(page);
    expect(m, 'docs/configuration.md lacks the config-table markers').not.toBeNull();
    expect(m![1]).toBe(configMarkdown());
  });
});
