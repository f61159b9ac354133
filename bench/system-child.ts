/**
 * The API (on the Redis store at argv[3]) and a simulated machine room of argv[2] nodes (instant
 * hardware) in a process of their own, for benchmarks that run the operators in another process, as
 * a deployment does. The nodes' state reporters are off unless `--reporters` is given (then booted
 * nodes report to this API). Prints `listening <url>` once it listens; stops on SIGTERM.
 */
import { pino } from 'pino';
import { INSTANT_KNOBS } from '../src/sim/index.js';
import { startSystem } from '../src/system.js';

const nodes = Number(process.argv[2]);
const redisUrl = process.argv[3];
const reporters = process.argv.includes('--reporters');
if (!Number.isInteger(nodes) || nodes <= 0 || !redisUrl) {
  console.error('usage: system-child.ts <nodes> <redis-url> [--reporters]');
  process.exit(2);
}
const system = await startSystem({ nodes, seed: 1, knobs: INSTANT_KNOBS, operators: [], redisUrl, logger: pino({ level: 'silent' }) });
if (!reporters) system.room.bosUrl = undefined;
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
console.log(`listening ${system.url}`);
process.on('SIGTERM', () => {
  void system.close().finally(() => process.exit(0));
});
