/**
 * One part of the system in a process of its own, for benchmarks that run the operators in another
 * process, as a deployment does (bench/scale-common.ts startSystemChild() starts both):
 *
 *   system-child.ts api <redis-url> <sim-url>          the BOS API on the Redis store (change events
 *                                                      through Redis), tenants, IMS and S3 at the simulator
 *   system-child.ts sim <nodes> <port> [<bos-url>]     a simulated machine room of <nodes> nodes with
 *                                                      instant hardware; with <bos-url> booted nodes report there
 *
 * Prints `listening <url>` once it listens; stops on SIGTERM.
 */
import { createServices, gatewayUrls } from '../src/clients/index.js';
import { OPTION_DEFAULTS } from '../src/common/options.js';
import { RedisChangeBus } from '../src/events/bus.js';
import { withChangeEvents } from '../src/events/store.js';
import { startServer } from '../src/server/app.js';
import { RedisStore } from '../src/server/store/redis/index.js';
import { INSTANT_KNOBS, startSimulator } from '../src/sim/index.js';

const [role, ...args] = process.argv.slice(2);
let url: string;
let close: () => Promise<unknown>;
if (role === 'api' && args.length === 2) {
  const [redisUrl, simUrl] = args as [string, string];
  const bus = new RedisChangeBus(redisUrl);
  const store = withChangeEvents(await RedisStore.connect({ url: redisUrl }), bus);
  const services = createServices({ ...gatewayUrls(simUrl), options: () => OPTION_DEFAULTS });
  const srv = await startServer({ store, tenants: services.tenants, s3: services.s3, ims: services.ims, logger: false, prefixes: ['', '/apis/bos'] });
  url = srv.url;
  close = async () => {
    await srv.close();
    await services.close();
    await bus.close();
    await store.close();
  };
} else if (role === 'sim' && (args.length === 2 || args.length === 3)) {
  const [nodes, port, bosUrl] = args as [string, string, string | undefined];
  const sim = await startSimulator({ nodes: Number(nodes), port: Number(port), seed: 1, knobs: INSTANT_KNOBS, bosUrl });
  url = sim.url;
  close = () => sim.close();
} else {
  console.error('usage: system-child.ts api <redis-url> <sim-url> | sim <nodes> <port> [<bos-url>]');
  process.exit(2);
}

// With BENCH_CHILD_PROFILE=<file>: SIGUSR2 starts a CPU profile, the next SIGUSR2 writes it there.
const profileFile = process.env.BENCH_CHILD_PROFILE;
if (profileFile) {
  const { Session } = await import('node:inspector/promises');
  const { writeFileSync } = await import('node:fs');
  const session = new Session();
  session.connect();
  let running = false;
  process.on('SIGUSR2', () => {
    void (async () => {
      if (!running) {
        running = true;
        await session.post('Profiler.enable');
        await session.post('Profiler.start');
        console.log('profiling');
      } else {
        running = false;
        const { profile } = await session.post('Profiler.stop');
        writeFileSync(profileFile, JSON.stringify(profile));
        console.log('profiled');
      }
    })();
  });
}
console.log(`listening ${url}`);
process.on('SIGTERM', () => {
  void close().finally(() => process.exit(0));
});
