/**
 * Chromium for the web view's browser tests and benchmark: the Debian package's browser, driven by
 * playwright-core (which downloads nothing). Flags keep a headless browser on a closed network quiet:
 * no background connections, no component updates, no sync.
 */
import { existsSync } from 'node:fs';
import type { Browser } from 'playwright-core';

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable'];

const ARGS = ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** The browser to run: `BOS_CHROMIUM` when set, else the first one installed; undefined when none is. */
export function findChromium(): string | undefined {
  const given = process.env.BOS_CHROMIUM;
  if (given) return existsSync(given) ? given : undefined;
  return CANDIDATES.find((p) => existsSync(p));
}

/** Why the browser tests skip, naming the package that brings the browser. */
export const NO_CHROMIUM =
  'no Chromium found (looked for BOS_CHROMIUM, then ' + CANDIDATES.join(', ') + '): install the Debian package `chromium` (bash scripts/setup.sh does) to run them';

export async function launchChromium(executablePath: string): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath, args: ARGS, timeout: 30_000 });
}

/** What the page tells its tests and the benchmark (`window.bosMachineRoom`, src/ui/browser/main.ts). */
interface MachineRoomHook {
  /** The centre of a node's square, in viewport coordinates. */
  pointOf(id: string): { x: number; y: number } | undefined;
  drawMs(): number[];
  pollMs(): number[];
  resetTimes(): void;
  frameTimes(ms: number): Promise<{ frames: number[]; longTasks: number[] }>;
}

/** The page's hook, inside `page.evaluate(() => ...)` (the Node side has no window type). */
export type PageGlobals = { bosMachineRoom: MachineRoomHook; document: { getElementById(id: string): { dataset: Record<string, string | undefined> } | null } };
