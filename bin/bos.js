#!/usr/bin/env node
// The `bos` command. Runs the compiled CLI (dist/, `npm run build`) when it is at least as new as
// the sources, else the TypeScript sources through tsx: a dist/ older than src/ is never run.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const built = join(root, 'dist', 'src', 'cli', 'main.js');
const stamp = join(root, 'dist', 'BUILT');
const sources = join(root, 'src');

/** The newest modification time of a file under `dir` (0 when there is none: an image without sources). */
function newest(dir) {
  let latest = 0;
  if (!existsSync(dir)) return latest;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    latest = Math.max(latest, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return latest;
}

let useBuilt = existsSync(built);
if (useBuilt && existsSync(sources)) {
  const builtAt = existsSync(stamp) ? statSync(stamp).mtimeMs : 0;
  if (newest(sources) > builtAt) {
    useBuilt = false;
    process.stderr.write('bos: dist/ is older than src/ (or was not built by `npm run build`): running the sources instead; `npm run build` refreshes dist/\n');
  }
}
if (useBuilt) {
  await import(pathToFileURL(built).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(pathToFileURL(join(sources, 'cli', 'main.ts')).href);
}
