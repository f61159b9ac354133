/**
 * Operators end to end: API + simulated machine room (instant hardware) + all ten operators in one
 * process over loopback HTTP. A reboot session of every compute node is timed from creation until
 * BOS marks it complete (power-off, power-on, boot report, configuration), then the per-pass cost
 * of the status operator over every (now stable) component is sampled from its pass-duration
 * histogram. Run with `npx tsx bench/operators.bench.ts [nodes]`.
 */
import os from 'node:os';
import { execSync } from 'node:child_process';
import { pino } from 'pino';
import { INSTANT_KNOBS } from '../src/sim/index.js';
import { startSystem } from '../src/system.js';

const NODES = Number(process.argv[2] ?? 3000);

const system = await startSystem({
  nodes: NODES,
  seed: 1,
  port: 0,
  knobs: INSTANT_KNOBS,
  options: { polling_frequency: 2, discovery_frequency: 2 },
  logger: pino({ level: 'silent' }),
});
const api = `${system.url}/v2`;
const json = { 'content-type': 'application/json' };

async function call(method: string, url: string, body?: unknown): Promise<unknown> {
  const res = await fetch(url, { method, headers: json, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${url}: HTTP ${res.status}: ${text.slice(0, 300)}`);
  return text ? JSON.parse(text) : null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

try {
  // wait for discovery
  const t0 = performance.now();
  for (;;) {
    const comps = (await call('GET', `${api}/components`)) as unknown[];
    if (comps.length >= NODES) break;
    if (performance.now() - t0 > 120_000) throw new Error(`discovery found only ${comps.length} of ${NODES} nodes in 120 s`);
    await sleep(200);
  }
  const discoveryMs = performance.now() - t0;
  const images = (await call('GET', `${system.url}/apis/ims/v3/images`)) as { name: string; link: { path: string } }[];
  const image = images.find((i) => i.name === 'compute-cos-x86_64') ?? images[0]!;
  await call('PUT', `${api}/sessiontemplates/bench`, {
    enable_cfs: true,
    cfs: { configuration: 'cos-config' },
    boot_sets: { compute: { path: image.link.path, type: 's3', node_roles_groups: ['Compute'], rootfs_provider: 'sbps', kernel_parameters: 'console=ttyS0' } },
  });
  const t1 = performance.now();
  await call('POST', `${api}/sessions`, { name: 'bench', template_name: 'bench', operation: 'reboot' });
  let status: { managed_components_count: number; percent_successful: number; percent_failed: number; status?: string };
  for (;;) {
    status = (await call('GET', `${api}/sessions/bench/status`)) as typeof status;
    if (status.status === 'complete') break;
    if (performance.now() - t1 > 600_000) throw new Error(`session not complete after 600 s: ${JSON.stringify(status)}`);
    await sleep(250);
  }
  const rebootMs = performance.now() - t1;

  // Status passes over the whole system with the loops stopped: every node is enabled again before
  // each pass (the pass decides each one is stable and disables it: one PATCH entry per node).
  await system.operators!.stop();
  const ids = ((await call('GET', `${api}/components`)) as { id: string }[]).map((c) => c.id);
  const status0 = system.operators!.operators.get('status')!;
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) {
    for (let j = 0; j < ids.length; j += 2000) {
      await call('PATCH', `${api}/components`, ids.slice(j, j + 2000).map((id) => ({ id, enabled: true })));
    }
    const t = performance.now();
    const r = await status0.runOnce();
    samples.push(Math.round(performance.now() - t));
    if (!r.ok || r.selected !== ids.length) throw new Error(`status pass did not see every node: ${JSON.stringify(r)}`);
  }
  samples.sort((a, b) => a - b);

  let commit = 'unknown';
  try {
    commit = execSync('git rev-parse --short HEAD', { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    // not a git checkout
  }
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  console.log(`machine: ${cpu}, ${os.cpus().length} cores, Node ${process.version}; commit ${commit}`);
  console.log(`nodes: ${NODES}; discovery of every node: ${discoveryMs.toFixed(0)} ms`);
  console.log(
    `reboot session of ${status.managed_components_count} compute nodes: complete in ${rebootMs.toFixed(0)} ms ` +
      `(${status.percent_successful}% successful, ${status.percent_failed}% failed)`,
  );
  console.log(`status pass over ${ids.length} enabled components (BOS list, PCS, CFS, one bulk PATCH disabling each): median ${samples[2]} ms, max ${samples[4]} ms`);
} finally {
  await system.close();
}
