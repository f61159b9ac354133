/**
 * The web view's server side and its client of the API, in Node against a real API: the static files
 * (built by scripts/build-ui.mjs) under each prefix, open without a token while /v2 is not; the
 * client's credentials and the problems it reports; the pager's entity tags (a quiet room costs
 * 304s only, a change reads only its page).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveServeOptions } from '../../src/cli/serve.js';
import { DevIssuer } from '../../src/server/auth/dev-issuer.js';
import { startServer, type RunningServer } from '../../src/server/app.js';
import { MemoryStore } from '../../src/server/store/memory.js';
import { uiRoutes } from '../../src/server/ui.js';
import { ApiProblem, problemText, UiApi, type Credentials } from '../../src/ui/api.js';
import { ComponentPager } from '../../src/ui/pager.js';
import { freePort } from '../helpers/net.js';

const ROOT = join(import.meta.dirname, '..', '..');
let open: RunningServer;
let guarded: RunningServer;
let issuer: DevIssuer;

beforeAll(async () => {
  const built = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build-ui.mjs')], { encoding: 'utf8' });
  expect(built.status, built.stderr).toBe(0);
  open = await startServer({ store: new MemoryStore(), logger: false, ui: true, prefixes: ['', '/apis/bos'] });
  issuer = await DevIssuer.create();
  guarded = await startServer({ store: new MemoryStore(), logger: false, ui: true, auth: issuer.verifier() });
  const ids = Array.from({ length: 2500 }, (_, i) => ({ id: `x${1000 + (i >> 8)}c${(i >> 5) & 7}s${(i >> 2) & 7}b${(i >> 1) & 1}n${i & 1}`, enabled: false }));
  const put = await fetch(`${open.url}/v2/components`, { method: 'PUT', headers: { 'content-type': 'application/json', prefer: 'return=minimal' }, body: JSON.stringify(ids) });
  expect(put.status).toBeLessThan(300);
}, 60_000);
afterAll(async () => {
  await open?.close();
  await guarded?.close();
});

describe('the static files', () => {
  it('serves the page, its script and style sheet under each prefix, revalidated and with a strict policy', async () => {
    for (const prefix of ['', '/apis/bos']) {
      const page = await fetch(`${open.url}${prefix}/ui/`);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
      expect(page.headers.get('cache-control')).toBe('no-cache');
      const html = await page.text();
      expect(html).toContain('<canvas id="grid"');
      expect(html).toContain('src="app.js"');
      const js = await fetch(`${open.url}${prefix}/ui/app.js`);
      expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
      const css = await fetch(`${open.url}${prefix}/ui/style.css`);
      expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
      const again = await fetch(`${open.url}${prefix}/ui/app.js`, { headers: { 'if-none-match': js.headers.get('etag')! } });
      expect(again.status).toBe(304);
    }
    // Nothing else under /ui/: no directory listing, no way out of the folder.
    expect((await fetch(`${open.url}/ui/../package.json`)).status).toBe(404);
    expect((await fetch(`${open.url}/ui/index.html`)).status).toBe(404);
    expect((await fetch(`${open.url}/ui/public`)).status).toBe(404);
  });

  it('redirects /ui to /ui/ relatively, so it holds behind a proxy', async () => {
    const r = await fetch(`${open.url}/apis/bos/ui`, { redirect: 'manual' });
    expect(r.status).toBe(301);
    expect(r.headers.get('location')).toBe('ui/');
  });

  it('says how to build the view when it was not built', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'bos-ui-'));
    const app = Fastify();
    uiRoutes(app, [''], empty);
    try {
      const r = await app.inject({ url: '/ui/' });
      expect(r.statusCode).toBe(503);
      expect(r.body).toContain('npm run build:ui');
    } finally {
      await app.close();
      rmSync(empty, { recursive: true });
    }
  });

  it('is not served unless asked for', async () => {
    const plain = await startServer({ store: new MemoryStore(), logger: false });
    try {
      expect((await fetch(`${plain.url}/ui/`)).status).toBe(404);
    } finally {
      await plain.close();
    }
  });

  it('is served by bos serve with --ui or BOS_UI=true, not by default', () => {
    expect(resolveServeOptions({}, {}).ui).toBe(false);
    expect(resolveServeOptions({ ui: true }, {}).ui).toBe(true);
    expect(resolveServeOptions({}, { BOS_UI: 'true' }).ui).toBe(true);
    expect(() => resolveServeOptions({}, { BOS_UI: 'maybe' })).toThrow('BOS_UI="maybe" is not valid: expected true or false');
  });

  it('needs no token while the API does', async () => {
    expect((await fetch(`${guarded.url}/ui/`)).status).toBe(200);
    expect((await fetch(`${guarded.url}/ui/app.js`)).status).toBe(200);
    expect((await fetch(`${guarded.url}/v2/components`)).status).toBe(401);
  });
});

describe('the build of the view', () => {
  it('runs on npm ci (prepare) and npm start (prestart), and skips where the sources are not (a container’s dependency layer)', () => {
    const scripts = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    expect(scripts.prepare).toBe('node scripts/build-ui.mjs');
    expect(scripts.prestart).toBe('node scripts/build-ui.mjs');
    expect(scripts['build:ui']).toBe('node scripts/build-ui.mjs');
    const bare = mkdtempSync(join(tmpdir(), 'bos-ui-bare-'));
    try {
      mkdirSync(join(bare, 'scripts'));
      copyFileSync(join(ROOT, 'scripts', 'build-ui.mjs'), join(bare, 'scripts', 'build-ui.mjs'));
      const r = spawnSync(process.execPath, [join(bare, 'scripts', 'build-ui.mjs')], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toBe('build-ui: no src/ui/browser/main.ts here; nothing to bundle\n');
    } finally {
      rmSync(bare, { recursive: true });
    }
  });
});

describe('the view’s API client', () => {
  it('sends the caller’s token and tenant, and says what to do about 401, 403 and a refused tenant', async () => {
    let creds: Credentials = { token: '', tenant: '' };
    const api = new UiApi(`${guarded.url}/v2`, () => creds);
    const problem = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e as ApiProblem);

    const anonymous = await problem(api.get('/components'));
    expect(anonymous).toBeInstanceOf(ApiProblem);
    expect(anonymous!.kind).toBe('unauthorized');
    expect(problemText(anonymous!, api.base)).toMatch(/^The API wants a valid bearer token \(401: Unauthorized: this request needs a bearer token.*Paste one in Token above: bos up --auth prints one/);

    creds = { token: await issuer.mint('someone', {}, 600), tenant: '' };
    const nobody = await problem(api.get('/components'));
    expect(nobody!.kind).toBe('forbidden');
    expect(problemText(nobody!, api.base)).toMatch(/^The token may not read this \(403: Forbidden: the token grants neither the admin nor the monitor role.*Use a token with the admin or monitor role/);

    creds = { token: await issuer.mint('watcher', { realm_access: { roles: ['monitor'] } }, 600), tenant: '' };
    const read = await api.get<unknown[]>('/components');
    expect(read.status).toBe(200);

    creds = { ...creds, tenant: 'nobody-knows' };
    const tenant = await problem(api.get('/components'));
    expect(tenant!.kind).toBe('tenant');
    expect(problemText(tenant!, api.base)).toMatch(/^The tenant was refused \(400: .*Clear Tenant above/);
  });

  it('says the API does not answer when nothing listens', async () => {
    const port = await freePort();
    const api = new UiApi(`http://127.0.0.1:${port}/v2`, () => ({ token: '', tenant: '' }));
    const p = await api.get('/sessions').then(() => undefined, (e: unknown) => e as ApiProblem);
    expect(p!.kind).toBe('unreachable');
    expect(problemText(p!, api.base)).toMatch(new RegExp(`^The BOS API at http://127.0.0.1:${port}/v2 does not answer \\(.+\\)\\. Is it running \\(npm start, bos up or bos serve\\)\\?`));
  });

  it('reads the room page by page, then only the pages that changed', async () => {
    const api = new UiApi(`${open.url}/v2`, () => ({ token: '', tenant: '' }));
    const pager = new ComponentPager(api, {}, 1000);
    const first = await pager.refresh();
    expect(first.components).toHaveLength(2500);
    expect(first).toMatchObject({ changed: true, read: 3, unchanged: 0 });
    // Status views: no boot artifacts, the facts instead.
    expect(first.components[0]).toHaveProperty('status_facts');
    expect(first.components[0]).not.toHaveProperty('actual_state');

    const quiet = await pager.refresh();
    expect(quiet).toMatchObject({ changed: false, read: 0, unchanged: 3 });
    expect(quiet.components).toBe(first.components);

    const id = first.components[1500]!.id;
    const patch = await fetch(`${open.url}/v2/components/${id}`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ error: 'pcs: power on refused' }) });
    expect(patch.status).toBe(200);
    const changed = await pager.refresh();
    expect(changed).toMatchObject({ changed: true, read: 1, unchanged: 2 });
    expect(changed.components.find((c) => c.id === id)!.error).toBe('pcs: power on refused');

    const session = new ComponentPager(api, { session: 'no-such-session' });
    expect((await session.refresh()).components).toEqual([]);
  });
});
