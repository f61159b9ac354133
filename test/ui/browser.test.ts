/**
 * The web view in a real browser: Chromium (the Debian package) driven by playwright-core against
 * `bos up --auth` with the demo's room of 64 nodes, two of which fail their configuration. The page
 * asks for a token, then draws every node; colours change as a boot session runs; the failed nodes
 * show their error on hover and their record on a click; the page only ever sends GETs; an API that
 * stops answering is said so.
 *
 * The canvas cannot be read as DOM: the page writes what it drew on it (`data-drawn`, `data-counts`:
 * nodes per colour) and says where a node is (`window.bosMachineRoom.pointOf(id)`).
 *
 * It also takes the README's screenshot, in a second tab on the whole room, of the moment of the boot
 * with the most colours on screen: into docs/images/machine-room.png when BOS_UI_SCREENSHOT=1, else
 * into the temporary folder.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImsImage } from '../../src/clients/types.js';
import { demoTemplate, faultyNodes, pickImages, DEMO_TEMPLATE } from '../../src/cli/demo.js';
import type { RunningSystem } from '../../src/system.js';
import { findChromium, launchChromium, NO_CHROMIUM, type PageGlobals } from '../helpers/browser.js';

const ROOT = join(import.meta.dirname, '..', '..');
const NODES = 64;
const CHROMIUM = findChromium();
if (!CHROMIUM) console.warn(`test/ui/browser.test.ts: skipped: ${NO_CHROMIUM}`);

type Counts = Record<string, number>;

let sys: RunningSystem | undefined;
let browser: Browser | undefined;
let page: Page;
/** A second tab on the whole room, for the README's screenshot. */
let roomPage: Page;
let token = '';
const methods = new Set<string>();
const pageErrors: string[] = [];

async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${sys!.url}/v2${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status}: ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

async function counts(): Promise<Counts> {
  return JSON.parse((await page.locator('#grid').getAttribute('data-counts')) ?? '{}') as Counts;
}

/** Wait (bounded) until `cond` holds, checking every 100 ms. */
async function until<T>(what: string, cond: () => Promise<T | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  if (!CHROMIUM) return;
  const built = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build-ui.mjs')], { encoding: 'utf8' });
  expect(built.status, built.stderr).toBe(0);
  const { up } = await import('../../src/cli/up.js');
  let printed = '';
  const write = process.stdout.write;
  process.stdout.write = ((chunk: string) => ((printed += chunk), true)) as typeof process.stdout.write;
  try {
    // The demo's room and machine delays (as `npm start`); two nodes fail their configuration.
    sys = await up({ nodes: NODES, port: 0, host: '127.0.0.1', seed: 1, logLevel: 'silent', auth: true, cfsFailNodes: faultyNodes(NODES).join(',') });
  } finally {
    process.stdout.write = write;
  }
  token = /export BOS_TOKEN=(\S+)/.exec(printed)![1]!;
  expect(printed).toContain(`web view     ${sys.url}/ui/`);
  browser = await launchChromium(CHROMIUM);
  page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  page.setDefaultTimeout(10_000);
  page.on('request', (r) => {
    if (r.url().startsWith(sys!.url)) methods.add(r.method());
  });
  page.on('pageerror', (e) => pageErrors.push(e.message));
  roomPage = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  roomPage.on('pageerror', (e) => pageErrors.push(e.message));
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await sys?.close();
});

describe.skipIf(!CHROMIUM)('the web view in Chromium', () => {
  it('asks for a token, then draws every node of the room', async () => {
    await page.goto(`${sys!.url}/ui/?interval=0.25`);
    const problem = page.locator('#problem');
    await problem.waitFor({ state: 'visible' });
    expect(await problem.textContent()).toMatch(/The API wants a valid bearer token \(401: .*Paste one in Token above: bos up --auth prints one/);
    await page.locator('#token').fill(token);
    await page.getByRole('button', { name: 'Use' }).click();
    await until('every node drawn', async () => (await page.locator('#grid').getAttribute('data-drawn')) === String(NODES));
    await problem.waitFor({ state: 'hidden' });
    expect(await page.locator('body').getAttribute('data-state')).toBe('live');
    const c = await counts();
    expect(Object.values(c).reduce((a, b) => a + b, 0)).toBe(NODES);
    expect(c.disabled).toBe(NODES); // discovered, in no session yet
    expect(await page.locator('#legend li[data-class="disabled"]').textContent()).toContain(String(NODES));

    await roomPage.goto(`${sys!.url}/ui/?interval=0.25`);
    await roomPage.locator('#token').fill(token);
    await roomPage.getByRole('button', { name: 'Use' }).click();
    await until('the second tab', async () => (await roomPage.locator('#grid').getAttribute('data-drawn')) === String(NODES));
  }, 30_000);

  it('follows a boot session: colours change as it runs, and the failed nodes end red', async () => {
    const images = (await (await fetch(`${sys!.url}/apis/ims/v3/images`)).json()) as ImsImage[];
    const { x86, arm } = pickImages(images);
    await api('PUT', `/sessiontemplates/${DEMO_TEMPLATE}`, demoTemplate(x86!, arm));
    const session = await api<{ name: string }>('POST', '/sessions', { name: 'ui-boot', template_name: DEMO_TEMPLATE, operation: 'boot' });
    // Pick it in the list: the grid then shows its nodes only (the compute nodes).
    await page.locator(`#session-list li[data-session="${session.name}"] button`).click();
    expect(new URL(page.url()).hash).toBe(`#session=${session.name}`);
    const compute = sys!.room.nodes().filter((n) => n.role === 'Compute').length;

    const seen = new Set<string>();
    let best = { score: 0, shot: undefined as Buffer | undefined };
    let complete = false;
    await until(
      'the session to complete and the page to show it',
      async () => {
        const c = await counts();
        for (const [k, n] of Object.entries(c)) if (n > 0) seen.add(k);
        complete ||= (await api<{ status: { status: string } }>('GET', `/sessions/${session.name}`)).status.status === 'complete';
        // The README's picture, of the whole room while the session runs: the first moment with the
        // most colours at once, failures counting double.
        const room = JSON.parse((await roomPage.locator('#grid').getAttribute('data-counts')) ?? '{}') as Counts;
        const score = Object.values(room).filter((n) => n > 0).length + (room.failed ? 1 : 0);
        if (!complete && score > best.score) best = { score, shot: await roomPage.screenshot() };
        // The page polls every 2 s: it shows the session complete a moment after the API says so.
        const summary = (await page.locator('#summary').textContent()) ?? '';
        return complete && c.stable === compute - 2 && c.failed === 2 && /·\s*complete/.test(summary);
      },
      50_000,
    );
    // Every node went through the boot on screen: held, powered on or configured, then stable or failed.
    expect([...seen]).toEqual(expect.arrayContaining(['configuring', 'stable', 'failed']));
    expect(seen.has('powering_on') || seen.has('on_hold')).toBe(true);
    expect(await page.locator('#summary').textContent()).toMatch(new RegExp(`Session ui-boot.*boot of template ${DEMO_TEMPLATE}.*complete.*${compute} nodes: ${compute - 2} done · 2 failed`));

    const dir = process.env.BOS_UI_SCREENSHOT === '1' ? join(ROOT, 'docs', 'images') : join(tmpdir(), 'bos-ui-screenshots');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'machine-room.png'), best.shot!);
  }, 60_000);

  it('shows a failed node’s error on hover and its record on a click', async () => {
    const [failed] = faultyNodes(NODES);
    const record = await api<{ error: string }>('GET', `/components/${failed}`);
    expect(record.error).not.toBe('');
    const at = (await page.evaluate((id) => (globalThis as unknown as PageGlobals).bosMachineRoom.pointOf(id), failed!))!;
    await page.mouse.move(at.x, at.y);
    const tooltip = page.locator('#tooltip');
    await tooltip.waitFor({ state: 'visible' });
    expect(await tooltip.locator('.t-id').textContent()).toBe(failed);
    expect(await tooltip.textContent()).toContain('failed · status failed');
    expect(await tooltip.locator('.t-error').textContent()).toBe(record.error.slice(0, 600));
    // The errors list groups them: one error text, two nodes.
    expect(await page.locator('#errors li').first().textContent()).toBe(`2 × ${record.error}`);

    await page.mouse.click(at.x, at.y);
    await page.locator('#record').waitFor({ state: 'visible' });
    expect(await page.locator('#record-title').textContent()).toBe(failed);
    await until('the record', async () => (await page.locator('#record-body').textContent())?.includes(`"id": "${failed}"`));
    expect(await page.locator('#record-body').textContent()).toContain('"event_stats"'); // the whole record, not the view
    expect(await page.locator('#record-command').textContent()).toBe(`bos components describe ${failed}`);
    await page.keyboard.press('Escape');
    await page.locator('#record').waitFor({ state: 'hidden' });
  }, 30_000);

  it('goes back to the whole room, and never wrote anything', async () => {
    await page.locator('#session-list li').first().locator('button').click();
    await until('the whole room', async () => {
      const c = await counts();
      return (await page.locator('#grid').getAttribute('data-drawn')) === String(NODES) && c.disabled === NODES - (c.stable ?? 0) - (c.failed ?? 0) && c.failed === 2;
    });
    expect([...methods]).toEqual(['GET']);
    expect(pageErrors).toEqual([]);
  }, 30_000);

  it('says so when the API stops answering, keeping the last picture', async () => {
    await sys!.close();
    const problem = page.locator('#problem');
    await problem.waitFor({ state: 'visible' });
    expect(await problem.textContent()).toMatch(new RegExp(`^The BOS API at ${sys!.url}/v2 does not answer \\(.+\\)\\. Is it running \\(npm start, bos up or bos serve\\)\\? The view keeps trying\\.$`));
    expect(await page.locator('body').getAttribute('data-state')).toBe('problem');
    expect(await page.locator('#grid').getAttribute('data-drawn')).toBe(String(NODES));
  }, 30_000);
});
