/**
 * The web view at 10,000 nodes: does the page stay smooth? The whole system (API, simulated machine
 * room with the demo's machine delays, operators) runs in this process, Chromium (the Debian package,
 * through playwright-core) shows /ui/ of the whole room, and the page's frames are timed
 * (requestAnimationFrame intervals, long tasks, the grid's own draw times, each poll's time) first
 * while the room is quiet, then while a boot session of every compute node runs and the pointer
 * wanders over the grid.
 *
 *   npm run bench -- ui                              # 10,000 compute nodes (10,011 in all), 30 s of boot
 *   npx tsx bench/ui.bench.ts 2000 --seconds 20 --interval 1
 *
 * Writes the `## Web view` section of bench/RESULTS.md and a screenshot of the room during the boot
 * (docs/images/machine-room-10000.png).
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { DEMO_KNOBS, DEMO_OPTIONS } from '../src/cli/up.js';
import { startSystem } from '../src/system.js';
import { findChromium, launchChromium, NO_CHROMIUM, type PageGlobals } from '../test/helpers/browser.js';
import { arg, call, machineLine, putAllComputeTemplate, roomSize, sleep, waitForComponents, writeResultsSection } from './scale-common.js';

const ROOT = join(import.meta.dirname, '..');
const positional = process.argv.slice(2).filter((a, i, all) => !a.startsWith('--') && !(all[i - 1] ?? '').startsWith('--'));
const COMPUTE = Number(positional[0] ?? 10_000);
const SECONDS = Number(arg('seconds', '30'));
const QUIET_SECONDS = Number(arg('quiet-seconds', '10'));
const INTERVAL = Number(arg('interval', '2'));

interface Figures {
  frames: number;
  median: number;
  p95: number;
  p99: number;
  max: number;
  /** Share of frame intervals above 50 ms (a stutter one notices). */
  over50: number;
  longTasks: number;
  longTaskMs: number;
  drawMedian: number;
  drawMax: number;
  draws: number;
  pollMedian: number;
  pollMax: number;
  polls: number;
}

function pct(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

const chromium = findChromium();
if (!chromium) {
  console.error(`ui bench: ${NO_CHROMIUM}`);
  process.exit(2);
}
const built = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build-ui.mjs')], { encoding: 'utf8' });
if (built.status !== 0) throw new Error(`build-ui failed: ${built.stderr}`);

const machine = machineLine();
console.log(machine);
const nodes = roomSize(COMPUTE);
const sys = await startSystem({ nodes, port: 0, knobs: DEMO_KNOBS, options: { ...DEMO_OPTIONS, logging_level: 'ERROR' }, logger: pino({ level: 'error' }), ui: true });
const api = `${sys.url}/v2`;
const browser = await launchChromium(chromium);
try {
  const discoveryMs = await waitForComponents(api, nodes);
  console.log(`discovery of ${nodes} nodes: ${Math.round(discoveryMs)} ms`);
  await putAllComputeTemplate(sys.url, api, 'ui-bench');

  const page = await browser.newPage({ viewport: { width: 1600, height: 900 } });
  const t0 = performance.now();
  await page.goto(`${sys.url}/ui/?interval=${INTERVAL}`);
  await page.waitForFunction((n) => (globalThis as unknown as PageGlobals).document.getElementById('grid')?.dataset.drawn === String(n), nodes, { timeout: 120_000 });
  const firstGridMs = performance.now() - t0;
  console.log(`page load to every node drawn: ${Math.round(firstGridMs)} ms`);

  /** Time the page's frames for `seconds`: rAF intervals and long tasks, plus the page's own draw and poll times. */
  async function measure(seconds: number): Promise<Figures> {
    const r = await page.evaluate(async (ms) => {
      const room = (globalThis as unknown as PageGlobals).bosMachineRoom;
      room.resetTimes();
      const { frames, longTasks } = await room.frameTimes(ms);
      return { frames, long: longTasks, draws: room.drawMs(), polls: room.pollMs() };
    }, seconds * 1000);
    const { draws, polls } = r;
    return {
      frames: r.frames.length,
      median: pct(r.frames, 50),
      p95: pct(r.frames, 95),
      p99: pct(r.frames, 99),
      max: Math.max(...r.frames),
      over50: r.frames.filter((f) => f > 50).length / r.frames.length,
      longTasks: r.long.length,
      longTaskMs: r.long.reduce((a, b) => a + b, 0),
      drawMedian: pct(draws, 50),
      drawMax: draws.length ? Math.max(...draws) : NaN,
      draws: draws.length,
      pollMedian: pct(polls, 50),
      pollMax: polls.length ? Math.max(...polls) : NaN,
      polls: polls.length,
    };
  }

  const quiet = await measure(QUIET_SECONDS);
  console.log('quiet room:', quiet);
  await call('POST', `${api}/sessions`, { name: 'ui-bench-boot', template_name: 'ui-bench', operation: 'boot' });
  const shot = (async () => {
    // Half way through the window: the boot well under way.
    await sleep((SECONDS * 1000) / 2);
    return page.screenshot();
  })();
  // A pointer wandering over the grid meanwhile, as an administrator's does (tooltips on).
  let wandering = true;
  const wander = (async () => {
    const box = (await page.locator('#grid').boundingBox())!;
    for (let i = 0; wandering; i++) {
      await page.mouse.move(box.x + ((i * 37) % Math.max(1, box.width)), box.y + ((i * 23) % Math.max(1, box.height)));
      await sleep(50);
    }
  })();
  const booting = await measure(SECONDS);
  wandering = false;
  await wander;
  const png = await shot;
  const counts = (await page.locator('#grid').getAttribute('data-counts')) ?? '{}';
  const status = await call<{ status: { status: string } }>('GET', `${api}/sessions/ui-bench-boot`);
  console.log('during the boot:', booting, counts, status.status.status);
  writeFileSync(join(ROOT, 'docs', 'images', `machine-room-${COMPUTE}.png`), png);

  const f = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '–');
  const row = (what: string, x: Figures) =>
    `| ${what} | ${x.frames} | ${f(x.median)} | ${f(x.p95)} | ${f(x.p99)} | ${f(x.max)} | ${(x.over50 * 100).toFixed(1)} % | ${x.longTasks} (${Math.round(x.longTaskMs)} ms) | ${f(x.drawMedian)} / ${f(x.drawMax)} (${x.draws}) | ${Math.round(x.pollMedian)} / ${Math.round(x.pollMax)} (${x.polls}) |`;
  writeResultsSection(
    'Web view',
    [
      '## Web view',
      '',
      `The page at /ui/ showing the whole room of ${nodes} nodes (${COMPUTE} compute nodes) in Chromium ${browser.version()} (headless, software`,
      `rendering, 1600×900), polling every ${INTERVAL} s, with API, operators and simulated room (demo machine delays) in one process on`,
      `the same machine (\`npx tsx bench/ui.bench.ts ${COMPUTE} --seconds ${SECONDS} --interval ${INTERVAL}\`): frame intervals`,
      '(requestAnimationFrame), long tasks (main thread busy over 50 ms), the grid\'s own draw time per frame and each poll\'s',
      `time (every request of it, server time included), first ${QUIET_SECONDS} s with the room quiet, then ${SECONDS} s into a boot`,
      'session of every compute node, the pointer moving over the grid every 50 ms (tooltips shown). A screen at 60 Hz draws a',
      'frame every 16.7 ms.',
      '',
      `- ${machine}`,
      `- page load to every node drawn: ${Math.round(firstGridMs)} ms; session at the end of the window: ${status.status.status}, nodes per colour ${counts}`,
      '',
      '| room | frames | median ms | p95 ms | p99 ms | max ms | over 50 ms | long tasks | draw ms median / max (draws) | poll ms median / max (polls) |',
      '|---|---|---|---|---|---|---|---|---|---|',
      row('quiet', quiet),
      row('booting', booting),
      '',
      `The screenshot taken half way through the window: [docs/images/machine-room-${COMPUTE}.png](../docs/images/machine-room-${COMPUTE}.png).`,
      '',
    ].join('\n'),
  );
} finally {
  await browser.close();
  await sys.close();
}
