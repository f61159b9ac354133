#!/usr/bin/env node
// Builds the web view (docs/ui.md): bundles src/ui/browser/main.ts and what it imports into one small
// script with esbuild, and puts it beside the page and its style sheet in src/ui/public/, which the
// API serves at /ui/. Run by `npm ci` (prepare), `npm start` (prestart), `npm run build` and the
// browser tests, so the served files always match the sources. Exits non-zero with one line on failure.
import { copyFileSync, existsSync, mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'src', 'ui', 'browser');
const out = join(root, 'src', 'ui', 'public');

// An install without the sources (a container's dependency layer) has nothing to bundle.
if (!existsSync(join(source, 'main.ts'))) {
  process.stdout.write('build-ui: no src/ui/browser/main.ts here; nothing to bundle\n');
  process.exit(0);
}

const { build } = await import('esbuild');
mkdirSync(out, { recursive: true });
let result;
try {
  result = await build({
    entryPoints: [join(source, 'main.ts')],
    bundle: true,
    write: false,
    format: 'esm',
    minify: true,
    // Browsers of the last few years; nothing is fetched at run time, so the bundle is all there is.
    target: ['chrome109', 'firefox115', 'safari16'],
    legalComments: 'none',
    logLevel: 'silent',
  });
} catch (err) {
  process.stderr.write(`build-ui: esbuild failed: ${err.message}\n`);
  process.exit(1);
}

/** Write through a temporary file, so a server reading the folder never sees half a file. */
function put(name, content) {
  const tmp = join(out, `.${name}.${process.pid}`);
  if (typeof content === 'string' || content instanceof Uint8Array) writeFileSync(tmp, content);
  else copyFileSync(content.from, tmp);
  renameSync(tmp, join(out, name));
}

put('app.js', result.outputFiles[0].contents);
put('index.html', { from: join(source, 'index.html') });
put('style.css', { from: join(source, 'style.css') });
const kb = (f) => (statSync(join(out, f)).size / 1024).toFixed(1);
process.stdout.write(`build-ui: src/ui/public/ is ready (app.js ${kb('app.js')} KB, style.css ${kb('style.css')} KB, index.html ${kb('index.html')} KB)\n`);
