/**
 * Runs the benchmarks one after another: every bench/*.bench.ts, or only those named on the command
 * line (`npm run bench -- store` or `npm run bench -- bench/store.bench.ts`). Arguments after `--`
 * are passed to each benchmark. Exits non-zero when any benchmark fails.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const benchDir = dirname(fileURLToPath(import.meta.url));
const root = resolve(benchDir, '..');

function available(): string[] {
  return readdirSync(benchDir)
    .filter((f) => f.endsWith('.bench.ts'))
    .sort()
    .map((f) => join(benchDir, f));
}

function pick(names: string[]): string[] {
  const all = available();
  if (names.length === 0) return all;
  return names.map((name) => {
    const direct = resolve(name);
    if (existsSync(direct) && direct.endsWith('.bench.ts')) return direct;
    const short = basename(name).replace(/\.bench\.ts$/, '').replace(/\.ts$/, '');
    const found = all.find((f) => basename(f) === `${short}.bench.ts`);
    if (!found) {
      const known = all.map((f) => basename(f).replace(/\.bench\.ts$/, '')).join(', ');
      throw new Error(`no benchmark called '${name}' in bench/ (available: ${known || 'none'})`);
    }
    return found;
  });
}

function runOne(file: string, args: string[]): Promise<number> {
  return new Promise((resolveRun) => {
    // The young-generation size the image sets (Dockerfile: NODE_OPTIONS=--max-semi-space-size=64).
    const child = spawn(process.execPath, ['--max-semi-space-size=64', '--import', 'tsx', file, ...args], { cwd: root, stdio: 'inherit' });
    child.on('exit', (code, signal) => resolveRun(code ?? (signal ? 1 : 0)));
    child.on('error', (err) => {
      console.error(`bench: could not start ${basename(file)}: ${err.message}`);
      resolveRun(1);
    });
  });
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const dash = argv.indexOf('--');
  const names = dash >= 0 ? argv.slice(0, dash) : argv;
  const passthrough = dash >= 0 ? argv.slice(dash + 1) : [];
  let files: string[];
  try {
    files = pick(names);
  } catch (err) {
    console.error(`bench: ${(err as Error).message}`);
    process.exit(2);
  }
  if (files.length === 0) {
    console.error('bench: no bench/*.bench.ts files found');
    process.exit(2);
  }
  const failed: string[] = [];
  for (const file of files) {
    console.log(`\n=== ${basename(file)} ===`);
    const started = Date.now();
    const code = await runOne(file, passthrough);
    console.log(`=== ${basename(file)}: ${code === 0 ? 'done' : `FAILED (exit ${code})`} in ${((Date.now() - started) / 1000).toFixed(1)} s ===`);
    if (code !== 0) failed.push(basename(file));
  }
  if (failed.length) {
    console.error(`bench: failed: ${failed.join(', ')}`);
    process.exit(1);
  }
}

await main();
