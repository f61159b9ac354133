/**
 * The documentation holds together: the README stays a short front door, every relative link in
 * README.md, docs/ and bench/ names a file (and heading) that exists, and nothing in the project
 * points at material outside the repository.
 */
import { readdirSync, readFileSync, existsSync, statSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(dirname(new URL(import.meta.url).pathname), '..');

function filesUnder(dir: string, keep: (f: string) => boolean): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .map((f) => join(dir, f))
    .filter((f) => statSync(join(ROOT, f)).isFile() && keep(f));
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\- ]/gu, '')
    .replace(/ /g, '-');
}

function anchors(file: string): Set<string> {
  const text = readFileSync(join(ROOT, file), 'utf8');
  return new Set([...text.matchAll(/^#+ (.*)$/gm)].map((m) => slug(m[1]!)));
}

const MARKDOWN = ['README.md', ...filesUnder('docs', (f) => f.endsWith('.md')), ...filesUnder('bench', (f) => f.endsWith('.md'))];

describe('documentation', () => {
  it('the README is at most 200 lines', () => {
    expect(readFileSync(join(ROOT, 'README.md'), 'utf8').split('\n').length).toBeLessThanOrEqual(200);
  });

  it.each(MARKDOWN)('every relative link of %s resolves', (file) => {
    const text = readFileSync(join(ROOT, file), 'utf8');
    const broken: string[] = [];
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const link = m[1]!;
      if (/^[a-z]+:/.test(link)) continue;
      const [path, anchor] = link.split('#') as [string, string | undefined];
      const target = path ? normalize(join(dirname(file), path)) : file;
      if (!existsSync(join(ROOT, target))) broken.push(link);
      else if (anchor && target.endsWith('.md') && !anchors(target).has(anchor)) broken.push(link);
    }
    expect(broken).toEqual([]);
  });

  it('nothing in the code, tests or docs points outside the repository', () => {
    const files = [...MARKDOWN, ...filesUnder('src', (f) => f.endsWith('.ts')), ...filesUnder('test', (f) => f.endsWith('.ts') && !f.endsWith('docs.test.ts'))];
    const outside = files.filter((f) => /\.\.\/shared\/|§|\bspec\/[\w-]+\.md\b/.test(readFileSync(join(ROOT, f), 'utf8')));
    expect(outside).toEqual([]);
  });
});
