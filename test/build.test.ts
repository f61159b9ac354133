/**
 * The build: `npm run build` (scripts/build.mjs, also the Dockerfile's) produces a dist/ that runs on
 * its own, and bin/bos.js never runs a dist/ older than the sources. Built in a copy of the project
 * (tests running beside this one keep using the sources).
 */
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './helpers/net.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
let copy: string;

beforeAll(() => {
  copy = mkdtempSync(join(tmpdir(), 'bos-build-'));
  for (const f of ['package.json', 'tsconfig.json', 'tsconfig.build.json']) cpSync(join(ROOT, f), join(copy, f));
  for (const d of ['bin', 'src', 'scripts']) cpSync(join(ROOT, d), join(copy, d), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(copy, 'node_modules'));
});
afterAll(() => {
  if (copy) rmSync(copy, { recursive: true, force: true });
});

describe('npm run build', () => {
  it('builds a dist/ from which `bos serve` runs, with the OpenAPI contract and the web view beside the code', async () => {
    const build = spawnSync('npm', ['run', 'build'], { cwd: copy, encoding: 'utf8' });
    expect(build.status, build.stderr + build.stdout).toBe(0);
    expect(build.stdout).toContain('build: dist/ is ready');
    // The sources gone: what runs is dist/ alone.
    rmSync(join(copy, 'src'), { recursive: true });
    const port = await freePort();
    const serve = spawn(process.execPath, [join(copy, 'bin', 'bos.js'), 'serve', '--port', String(port), '--ui'], { cwd: copy, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    serve.stdout.on('data', (d) => (out += String(d)));
    serve.stderr.on('data', (d) => (out += String(d)));
    try {
      let answer: { apiStatus?: string } | undefined;
      for (let i = 0; i < 100 && !answer; i++) {
        await new Promise((r) => setTimeout(r, 100));
        answer = await fetch(`http://127.0.0.1:${port}/v2/healthz`).then((r) => r.json() as Promise<{ apiStatus?: string }>, () => undefined);
      }
      expect(answer, out).toEqual({ dbStatus: 'ok', apiStatus: 'ok' });
      // Request validation reads the contract from dist/.
      const bad = await fetch(`http://127.0.0.1:${port}/v2/components/x1`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: '{"enabled":"yes"}' });
      expect(bad.status).toBe(400);
      // The web view was bundled into dist/ too.
      const page = await fetch(`http://127.0.0.1:${port}/ui/app.js`);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    } finally {
      serve.kill('SIGTERM');
      await new Promise((r) => serve.once('exit', r));
    }
    expect(out).not.toMatch(/ENOENT|Error/);
  }, 90_000);

  it('runs the sources, saying so, when a source file is newer than dist/', () => {
    cpSync(join(ROOT, 'src'), join(copy, 'src'), { recursive: true });
    const later = new Date(Date.now() + 60_000);
    utimesSync(join(copy, 'src', 'cli', 'main.ts'), later, later);
    const r = spawnSync(process.execPath, [join(copy, 'bin', 'bos.js'), '--version'], { cwd: copy, encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    expect(r.stderr).toContain('bos: dist/ is older than src/ (or was not built by `npm run build`): running the sources instead; `npm run build` refreshes dist/');
  }, 60_000);

  it('--out builds elsewhere in the project (as the RSS bench does) and leaves dist/ as it was', () => {
    const stamp = readFileSync(join(copy, 'dist', 'BUILT'), 'utf8');
    const build = spawnSync(process.execPath, [join(copy, 'scripts', 'build.mjs'), '--out', '.other'], { cwd: copy, encoding: 'utf8' });
    expect(build.status, build.stderr + build.stdout).toBe(0);
    expect(build.stdout).toContain(`build: ${join(copy, '.other')} is ready`);
    expect(readFileSync(join(copy, 'dist', 'BUILT'), 'utf8')).toBe(stamp);
    const r = spawnSync(process.execPath, [join(copy, '.other', 'src', 'cli', 'main.js'), '--version'], { cwd: copy, encoding: 'utf8' });
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    const bad = spawnSync(process.execPath, [join(copy, 'scripts', 'build.mjs'), '--out'], { cwd: copy, encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toBe('build: --out needs a directory inside the project, e.g. --out .bench-dist\n');
    expect(existsSync(join(copy, 'dist', 'src', 'cli', 'main.js'))).toBe(true);
  }, 60_000);
});
