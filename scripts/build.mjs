#!/usr/bin/env node
// Builds dist/ (what `npm run build` and the Dockerfile run): compiles src/ with tsc, bundles the web
// view (scripts/build-ui.mjs), then copies every other file under src/ (the OpenAPI contract the API
// validates with, the web view's files) beside the compiled modules, so `node bin/bos.js` runs from
// dist/ alone. Exits non-zero with one line on failure. `--out <dir>` builds into <dir> instead
// (inside the project, so the compiled modules find node_modules): the RSS bench runs a build of
// its own there, leaving dist/ as it was.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outAt = process.argv.indexOf('--out');
const dist = outAt >= 0 ? join(root, process.argv[outAt + 1] ?? '') : join(root, 'dist');
if (outAt >= 0 && (!process.argv[outAt + 1] || dist === root)) fail('--out needs a directory inside the project, e.g. --out .bench-dist');

function fail(message) {
  process.stderr.write(`build: ${message}\n`);
  process.exit(1);
}

rmSync(dist, { recursive: true, force: true });
const tsc = spawnSync(process.execPath, [join(root, 'node_modules', '@typescript', 'native', 'bin', 'tsc'), '-p', join(root, 'tsconfig.build.json'), '--outDir', dist], { stdio: 'inherit' });
if (tsc.status !== 0) fail('tsc failed (see above); nothing was built');
const ui = spawnSync(process.execPath, [join(root, 'scripts', 'build-ui.mjs')], { stdio: 'inherit' });
if (ui.status !== 0) fail('the web view could not be bundled (see above)');
cpSync(join(root, 'src'), join(dist, 'src'), { recursive: true, filter: (from) => !from.endsWith('.ts') });
for (const needed of ['src/cli/main.js', 'src/server/bos-v2-openapi.yaml', 'src/ui/public/app.js']) {
  if (!existsSync(join(dist, needed))) fail(`${join(dist, needed)} is missing after the build`);
}
// bin/bos.js compares this stamp with the sources: a dist/ older than src/ is not run.
writeFileSync(join(dist, 'BUILT'), `${new Date().toISOString()}\n`);
process.stdout.write(outAt >= 0 ? `build: ${dist} is ready\n` : 'build: dist/ is ready (node bin/bos.js runs it)\n');
