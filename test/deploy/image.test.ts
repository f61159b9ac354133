/**
 * The runtime image installs production dependencies only (`npm ci --omit=dev`): every package the
 * code under src/ loads at run time must be a production dependency, and the files it reads beside
 * its modules must be copied into the image by the Dockerfile's build stage.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}

/** Packages a module loads at run time (type-only imports are erased by the compiler). */
export function runtimeImports(source: string): string[] {
  const out: string[] = [];
  const stat = /(?:^|\n)\s*(?:import|export)\s+(?!type\s)([^;'"]*?\s+from\s+)?['"]([^'"]+)['"]/g;
  const dyn = /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;
  for (const m of source.matchAll(stat)) out.push(m[2]!);
  for (const m of source.matchAll(dyn)) out.push(m[1]!);
  return out.filter((s) => !s.startsWith('.') && !s.startsWith('node:') && !builtinModules.includes(s.split('/')[0]!));
}

function packageName(spec: string): string {
  const parts = spec.split('/');
  return spec.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
}

describe('runtime image contents', () => {
  it('finds imports the way the compiler sees them', () => {
    expect(runtimeImports("import { a,\n  b } from 'pino';\nimport type { X } from 'vitest';\nconst m = await import('ioredis');\nexport { c } from '@aws-sdk/client-s3/sub';")).toEqual([
      'pino',
      '@aws-sdk/client-s3/sub',
      'ioredis',
    ]);
  });

  it('every package src/ loads is a production dependency', () => {
    const missing: string[] = [];
    for (const f of files(join(ROOT, 'src')).filter((x) => x.endsWith('.ts'))) {
      for (const spec of runtimeImports(readFileSync(f, 'utf8'))) {
        const name = packageName(spec);
        if (!(name in pkg.dependencies)) missing.push(`${relative(ROOT, f)} loads ${name}${name in pkg.devDependencies ? ' (a dev dependency)' : ''}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('copies the non-TypeScript files under src/ (read at run time) into the image', () => {
    const docker = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    const assets = files(join(ROOT, 'src')).filter((x) => !x.endsWith('.ts'));
    expect(assets.map((a) => relative(ROOT, a))).toContain('src/server/bos-v2-openapi.yaml');
    // The build stage runs the build `npm run build` runs (scripts/build.mjs copies every non-.ts file
    // of src/ beside the compiled modules; test/build.test.ts runs it), and the runtime stage takes its output.
    expect(docker).toMatch(/^RUN node scripts\/build\.mjs$/m);
    expect(docker).toMatch(/COPY --from=build \/app\/dist\/src \.\/dist\/src/);
    expect(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts.build).toBe('node scripts/build.mjs');
    const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
    for (const needed of ['src', 'bin', 'scripts', 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json']) expect(ignore).not.toContain(needed);
  });
});
