/**
 * Administrator commands benchmark: the plain column layout against cli-table3 for large component
 * lists, and wall time of spawned `bos` commands against a loopback API holding 10,000 components
 * (full table listing, JSON listing, applystaged of one node, and the bare start-up of `bos`).
 *
 * Prints a table and writes it into bench/RESULTS.md under `## Administrator commands` (other
 * sections are left as they are). Run: `npm run bench -- cli`.
 */
import { median, writeResultsSection } from './scale-common.js';
import { spawn } from 'node:child_process';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Table from 'cli-table3';
import { COMPONENT_COLUMNS } from '../src/cli/admin/components.js';
import { table } from '../src/cli/admin/output.js';
import type { Component } from '../src/common/types.js';
import { startServer } from '../src/server/app.js';
import { MemoryStore } from '../src/server/store/memory.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(root, 'bin', 'bos.js');

function components(n: number, session = 'a0b1c2d3-1234-4567-89ab-0123456789ab'): Component[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `x${3000 + Math.floor(i / 512)}c${(i >> 6) % 8}s${(i >> 3) % 8}b${(i >> 1) % 4}n${i % 2}`,
    enabled: true,
    session,
    status: { phase: i % 3 ? 'powering_on' : '', status_override: '' },
    last_action: { action: 'powering_on', failed: false },
    event_stats: { power_on_attempts: 1, power_off_graceful_attempts: 0, power_off_forceful_attempts: 0 },
    error: i % 10 ? '' : 'PCS: power on failed for this node because the controller answered 503 Service Unavailable',
  }));
}


function timeIt(fn: () => unknown, runs: number): number {
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    fn();
    ms.push(performance.now() - t);
  }
  return median(ms);
}

function cliTable3(rows: Component[]): string {
  const t = new Table({ head: COMPONENT_COLUMNS.map((c) => c.header), style: { head: [], border: [] } });
  for (const r of rows) t.push(COMPONENT_COLUMNS.map((c) => c.get(r)));
  return t.toString();
}

function run(args: string[], env: Record<string, string>): Promise<{ ms: number; code: number | null; bytes: number }> {
  return new Promise((res, rej) => {
    const t = performance.now();
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    let bytes = 0;
    child.stdout.on('data', (d: Buffer) => (bytes += d.length));
    child.on('error', rej);
    child.on('close', (code) => res({ ms: performance.now() - t, code, bytes }));
  });
}

async function spawned(args: string[], env: Record<string, string>, runs = 3): Promise<{ ms: number; bytes: number }> {
  const out: number[] = [];
  let bytes = 0;
  for (let i = 0; i < runs; i++) {
    const r = await run(args, env);
    if (r.code !== 0) throw new Error(`bos ${args.join(' ')} exited ${r.code}`);
    out.push(r.ms);
    bytes = r.bytes;
  }
  return { ms: median(out), bytes };
}


async function main(): Promise<void> {
  const rows: string[] = [];
  for (const n of [1_000, 10_000, 100_000]) {
    const data = components(n);
    const plain = timeIt(() => table(COMPONENT_COLUMNS, data), 5);
    const ct = n <= 10_000 ? timeIt(() => cliTable3(data), n > 1_000 ? 1 : 3) : NaN;
    rows.push(`| ${n.toLocaleString('en-US')} | ${plain.toFixed(1)} ms | ${Number.isNaN(ct) ? 'not run' : `${ct.toFixed(1)} ms`} |`);
    console.log(rows[rows.length - 1]);
  }

  const store = new MemoryStore();
  await store.components.putMany(components(10_000));
  // A node staged by a shutdown session: applystaged succeeds (and can be repeated; clear_stage is off).
  await store.sessions.put('', 'staged', {
    name: 'staged',
    tenant: null,
    operation: 'shutdown',
    template_name: 't',
    limit: '',
    stage: true,
    components: 'x9000c0s0b0n0',
    include_disabled: false,
    status: { status: 'running', start_time: '2026-01-01T00:00:00', end_time: null, error: null },
  });
  await store.components.putMany([
    {
      id: 'x9000c0s0b0n0',
      enabled: false,
      last_action: { action: 'session_setup' },
      staged_state: { session: 'staged', configuration: '', boot_artifacts: { kernel: '', kernel_parameters: '', initrd: '' } },
    },
  ]);
  const srv = await startServer({ store, port: 0, logger: false });
  const env = { BOS_URL: srv.url };
  const cmds: [string, string[]][] = [
    ['`bos --version` (start-up only)', ['--version']],
    ['`bos components list` (10,001 rows, table)', ['components', 'list']],
    ['`bos components list --format json`', ['components', 'list', '--format', 'json']],
    ['`bos components list --page-size 0`', ['components', 'list', '--page-size', '0']],
    ['`bos applystaged <one node>`', ['applystaged', 'x9000c0s0b0n0']],
  ];
  const wall: string[] = [];
  try {
    for (const [what, args] of cmds) {
      const r = await spawned(args, env);
      wall.push(`| ${what} | ${r.ms.toFixed(0)} ms | ${(r.bytes / 1024).toFixed(0)} KiB |`);
      console.log(wall[wall.length - 1]);
    }
  } finally {
    await srv.close();
  }

  const section = [
    '## Administrator commands',
    '',
    `Measured ${new Date().toISOString().slice(0, 10)} on ${cpus().length} CPU(s) (${cpus()[0]?.model ?? 'unknown'}), Node ${process.version}, shared machine; medians. \`npm run bench -- cli\`.`,
    '',
    'Component table layout (the ID/ENABLED/PHASE/STATUS/LAST ACTION/ATTEMPTS/SESSION/ERROR columns), in-process:',
    '',
    '| rows | plain column layout (`table()`) | cli-table3 |',
    '|---|---|---|',
    ...rows,
    '',
    'Spawned `bin/bos.js` (through tsx, no build) against a loopback API on the memory store holding 10,001 components (applystaged: one staged node, succeeding):',
    '',
    '| command | wall time | output |',
    '|---|---|---|',
    ...wall,
    '',
    'The plain layout is what `bos` uses for every list. Most of the wall time of a command is the',
    'start-up of `bos` itself (TypeScript through tsx, and the modules of every sub-command); a',
    'built tree (`npm run build`, dist/) starts faster.',
    '',
  ].join('\n');
  writeResultsSection('Administrator commands', section);
}

await main();
