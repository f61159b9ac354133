/**
 * Where the API's memory goes at scale: the live heap (after a full collection) of one API process on
 * the Redis store holding N components shaped as after a boot (long kernel parameters, every state
 * set), measured after each step that fills a cache: the writes (write-through), a full listing as
 * JSON, a full listing as status views, and the same in a second API process that finds the values
 * written by the first (the parse path, as for reports written through another replica). Per
 * component, so the next lever is read off the figures.
 *
 *   npx tsx bench/api-memory.bench.ts [20000]          (npm run bench -- api-memory)
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { pino } from 'pino';
import { STATUS_VIEW_MEDIA_TYPE } from '../src/common/status-view.js';
import type { Component } from '../src/common/types.js';
import { buildApp } from '../src/server/app.js';
import { RedisStore } from '../src/server/store/redis/index.js';
import { startRedis } from '../test/helpers/redis.js';
import { machineLine } from './scale-common.js';

const N = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 20_000);
// A full collection on demand, with or without node --expose-gc (`npm run bench` starts it without).
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const PARAMS =
  'console=ttyS0,115200 bad_page=panic crashkernel=512M hugepagelist=2m-2g intel_iommu=off intel_pstate=disable iommu.passthrough=on ' +
  'numa_interleave_omit=headless oops=panic pageblock_order=14 rd.neednet=1 rd.retry=10 rd.shell split_lock_detect=off ' +
  'systemd.unified_cgroup_hierarchy=1 ip=dhcp quiet spire_join_token=${SPIRE_JOIN_TOKEN} root=live:s3://boot-images/compute/rootfs';

function booted(i: number): Component {
  const id = `x${1000 + Math.floor(i / 512)}c${Math.floor(i / 64) % 8}s${Math.floor(i / 8) % 8}b${Math.floor(i / 2) % 4}n${i % 2}`;
  const artifacts = { kernel: 's3://boot-images/compute/kernel', kernel_parameters: PARAMS, initrd: 's3://boot-images/compute/initrd' };
  return {
    id,
    actual_state: { boot_artifacts: { ...artifacts, timestamp: `2026-12-04T10:${String(i % 60).padStart(2, '0')}:00` }, bss_token: `tok-${i % 97}`, last_updated: '2026-12-04T10:00:01' },
    desired_state: { boot_artifacts: artifacts, configuration: 'cos-config', bss_token: `tok-${i % 97}`, last_updated: '2026-12-04T10:00:00' },
    staged_state: { configuration: '', boot_artifacts: { kernel: '', kernel_parameters: '', initrd: '' }, session: '' },
    last_action: { action: 'powering_on', failed: false, last_updated: '2026-12-04T10:00:00' },
    event_stats: { power_on_attempts: 1, power_off_graceful_attempts: 0, power_off_forceful_attempts: 0 },
    status: { phase: 'configuring', status_override: '' },
    enabled: true,
    error: '',
    session: 'boot-all',
    retry_policy: 3,
  };
}

function liveMiB(): number {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

const redis = await startRedis();
try {
  console.log(machineLine());
  console.log(`components: ${N}, one JSON value of ${JSON.stringify(booted(0)).length} bytes each`);
  const rows: [string, number][] = [];
  const base = liveMiB();
  const step = (what: string) => {
    const mib = liveMiB() - base;
    rows.push([what, mib]);
    console.log(`  ${what}: ${mib.toFixed(1)} MiB live, ${((mib * 2 ** 20) / N).toFixed(0)} B per component`);
  };
  const writer = await RedisStore.connect({ url: redis.url });
  const app = await buildApp({ store: writer, logger: pino({ level: 'silent' }) });
  for (let i = 0; i < N; i += 5000) await writer.components.putMany(Array.from({ length: Math.min(5000, N - i) }, (_, j) => booted(i + j)));
  await writer.components.listShared(); // tracking starts with the first listing
  step('writer: after its writes and one listing (write-through cache)');
  await app.inject({ method: 'GET', url: '/v2/components' });
  step('writer: after a full listing as JSON');
  await app.inject({ method: 'GET', url: '/v2/components', headers: { accept: STATUS_VIEW_MEDIA_TYPE } });
  step('writer: after a full listing as status views');

  const reader = await RedisStore.connect({ url: redis.url });
  const readerApp = await buildApp({ store: reader, logger: pino({ level: 'silent' }) });
  await reader.components.listShared();
  step('+ reader: after one listing of values it did not write (parsed)');
  await readerApp.inject({ method: 'GET', url: '/v2/components' });
  await readerApp.inject({ method: 'GET', url: '/v2/components', headers: { accept: STATUS_VIEW_MEDIA_TYPE } });
  step('+ reader: after full listings as JSON and as status views');
  await app.close();
  await readerApp.close();
  await writer.close();
  await reader.close();
} finally {
  await redis.stop();
}
