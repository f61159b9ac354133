/**
 * `bos demo` and `bos sessions status --watch` on real boots: the `bos` command spawned as an
 * administrator runs it, against the whole system (API, simulator, operators) on instant hardware.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/common/clock.js';
import type { Component, Session, SessionTemplate } from '../../src/common/types.js';
import { INSTANT_KNOBS } from '../../src/sim/knobs.js';
import { manifestPath, SIM_IMAGES } from '../../src/sim/images.js';
import { startServer } from '../../src/server/app.js';
import { MemoryStore } from '../../src/server/store/memory.js';
import { startSystem, type RunningSystem } from '../../src/system.js';
import { freePort } from '../helpers/net.js';
import { DEMO_CONFIGURATION, DEMO_TEMPLATE, demoTemplate, faultyNodes, pickImages } from '../../src/cli/demo.js';

const BOS_BIN = fileURLToPath(new URL('../../bin/bos.js', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function bos(args: string[], timeoutMs = 45_000, onStdout?: (all: string, child: ChildProcess) => void): Promise<Run> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('BOS_') && k !== 'NODE_OPTIONS') env[k] = v;
    const child = spawn(process.execPath, [BOS_BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      onStdout?.(stdout, child);
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function api<T>(sys: RunningSystem, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${sys.bosUrl}/v2${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

describe('demo template', () => {
  it('boots X86 and ARM compute nodes on their own images with a CFS configuration', () => {
    const images = [
      { id: 'u', name: 'uan-x86_64', arch: 'x86_64', link: { path: 's3://b/u/manifest.json', etag: 'e1' } },
      { id: 'c', name: 'compute-cos-x86_64', arch: 'x86_64', link: { path: 's3://b/c/manifest.json', etag: 'e2' } },
      { id: 'a', name: 'compute-cos-aarch64', arch: 'aarch64', link: { path: 's3://b/a/manifest.json' } },
      { id: 'gone', name: 'compute-old', arch: 'aarch64', link: null },
    ];
    const { x86, arm } = pickImages(images);
    expect(x86?.id).toBe('c');
    expect(arm?.id).toBe('a');
    const t = demoTemplate(x86!, arm) as unknown as SessionTemplate;
    expect(t.cfs?.configuration).toBe(DEMO_CONFIGURATION);
    expect(t.enable_cfs).toBe(true);
    expect(t.boot_sets['compute-x86']).toMatchObject({ path: 's3://b/c/manifest.json', etag: 'e2', arch: 'X86', node_roles_groups: ['Compute'] });
    expect(t.boot_sets['compute-arm']).toMatchObject({ path: 's3://b/a/manifest.json', arch: 'ARM', node_roles_groups: ['Compute'] });
    expect(t.boot_sets['compute-arm']).not.toHaveProperty('etag');
  });
});

describe('bos demo (spawned)', () => {
  it('starts BOS in-process when nothing answers, boots every compute node, prints the summary with the failed node, exit 2', async () => {
    const port = await freePort();
    const res = await bos(['demo', '--url', `http://127.0.0.1:${port}/apis/bos`, '--nodes', '10', '--instant', '--faults', '--interval', '0.2']);
    expect(res.stderr).toBe('');
    const out = res.stdout;
    expect(out).toContain(`No BOS API answers at http://127.0.0.1:${port}/apis/bos/v2: starting one in this process\n             10 simulated nodes, instant hardware\n`);
    expect(out).toContain('Discovery    10 components\n');
    expect(out).toContain(
      `Template     ${DEMO_TEMPLATE}: boot sets compute-x86 (X86) and compute-arm (ARM) of role Compute\n             CFS configuration ${DEMO_CONFIGURATION}\n`,
    );
    // Where to watch it in a browser: the web view of the BOS it started.
    expect(out).toMatch(new RegExp(`\\(in a browser: http://127\\.0\\.0\\.1:${port}/apis/bos/ui/#session=demo-boot-\\w+\\)\\n`));
    // Not a terminal: one plain line per change, then the summary.
    expect(out).toMatch(/^\S+Z session=\S+ status=\w+ elapsed=\S+ nodes=\d+ done=\d+ failed=\d+ in_progress=\d+/m);
    const [faulty] = faultyNodes(10);
    expect(out).toContain(`             configuration will fail on ${faulty}\n`);
    const summary = /^Session \S+ complete in \d+:\d\d:\d\d: (\d+) nodes, (\d+) succeeded, 1 failed$/m.exec(out);
    expect(summary).not.toBeNull();
    expect(Number(summary![2])).toBe(Number(summary![1]) - 1);
    expect(out).toMatch(new RegExp(`^ +1  cfs configuration failed  \\(${faulty}\\)$`, 'm'));
    expect(out).not.toContain('\x1b[');
    expect(out.trimEnd().split('\n').at(-1)).toBe('Stopping the demo system...');
    expect(res.code).toBe(2);
  });

  it('--keep leaves the in-process BOS answering until Ctrl-C, then stops it; exit 0', async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}/apis/bos/v2`;
    let listed: number | undefined;
    let asked = false;
    const res = await bos(['demo', '--url', base, '--nodes', '8', '--instant', '--keep', '--interval', '0.2'], 45_000, (all, child) => {
      if (asked || !all.includes('BOS keeps running')) return;
      asked = true;
      void fetch(`${base}/components`)
        .then((r) => r.json() as Promise<Component[]>)
        .then((list) => (listed = list.length))
        .finally(() => child.kill('SIGINT'));
    });
    expect(res.stderr).toBe('');
    expect(listed).toBe(8);
    expect(res.stdout).toContain(`BOS keeps running; look around with \`bos components list --url http://127.0.0.1:${port}/apis/bos\`. Ctrl-C stops it.\n`);
    expect(res.stdout.trimEnd().split('\n').at(-1)).toBe('Stopping the demo system...');
    expect(res.code).toBe(0);
    await expect(fetch(`${base}/components`)).rejects.toThrow();
  });

  it('against a BOS API without the simulated IMS beside it: one line naming the image list URL, exit 1', async () => {
    const store = new MemoryStore();
    const srv = await startServer({ store, port: 0, logger: false });
    try {
      await store.components.putMany([{ id: 'x3000c0s19b1n0', enabled: true } as Component]);
      const res = await bos(['demo', '--url', srv.url, '--interval', '0.2']);
      const origin = new URL(srv.url).origin;
      expect(res.stdout).toContain(`BOS v2 API   ${origin}/v2 (already running)\nDiscovery    1 components\n`);
      expect(res.stderr).toBe(
        `bos: the image list at ${origin}/apis/ims/v3/images answered HTTP 404: the demo needs the simulated IMS beside BOS (run \`bos up\`)\n`,
      );
      expect(res.code).toBe(1);
      expect(await store.sessions.list()).toEqual([]);
    } finally {
      await srv.close();
    }
  });

  describe('against a running system', () => {
    let sys: RunningSystem;
    beforeAll(async () => {
      sys = await startSystem({
        nodes: 12,
        knobs: INSTANT_KNOBS,
        options: { polling_frequency: 1, discovery_frequency: 2 },
        logger: pino({ level: 'silent' }),
      });
    });
    afterAll(async () => {
      await sys?.close();
    });

    it('uses it: writes the template from the IMS images, boots the compute nodes and exits 0', async () => {
      const res = await bos(['demo', '--url', `${sys.bosUrl}/v2`, '--interval', '0.2']);
      expect(res.stderr).toBe('');
      expect(res.stdout).toContain(`BOS v2 API   ${sys.bosUrl}/v2 (already running)\n`);
      expect(res.stdout).not.toContain('starting one');
      expect(res.code).toBe(0);

      const t = await api<SessionTemplate>(sys, 'GET', `/sessiontemplates/${DEMO_TEMPLATE}`);
      expect(t.boot_sets['compute-x86']?.path).toBe(manifestPath(SIM_IMAGES.computeX86));
      expect(t.boot_sets['compute-arm']?.path).toBe(manifestPath(SIM_IMAGES.computeArm));
      const [session] = await api<Session[]>(sys, 'GET', '/sessions');
      expect(session).toMatchObject({ template_name: DEMO_TEMPLATE, operation: 'boot' });
      expect(session!.status.status).toBe('complete');
      const booted = await api<Component[]>(sys, 'GET', `/components?session=${session!.name}`);
      expect(booted.length).toBeGreaterThan(0);
      expect(booted.every((c) => c.status?.status === 'stable')).toBe(true);
      expect(res.stdout).toContain(`complete in `);
      expect(res.stdout).toContain(`: ${booted.length} nodes, ${booted.length} succeeded, 0 failed\n`);
    });
  });
});

describe('bos sessions status --watch on a real boot (spawned)', () => {
  // Machine time stands still until the watch has printed a line for the running session, so the
  // watch is sure to see it running; then machine time runs fast until the boot completes.
  let sys: RunningSystem;
  let clock: FakeClock;
  let run: NodeJS.Timeout | undefined;
  beforeAll(async () => {
    clock = new FakeClock();
    sys = await startSystem({
      nodes: 10,
      clock,
      knobs: { powerOnDelayMs: 60_000, powerOffDelayMs: 1_000, forceOffDelayMs: 1_000, bootDelayMs: 5_000, cfsConfigureDelayMs: 5_000 },
      options: { polling_frequency: 1, discovery_frequency: 1 },
      logger: pino({ level: 'silent' }),
    });
  });
  afterAll(async () => {
    if (run) clearInterval(run);
    await sys?.close();
  });

  /** Advance machine time 100 ms at a time (at most `maxMs`) until `cond` holds. */
  async function stepUntil(what: string, cond: () => Promise<boolean>, maxMs: number): Promise<void> {
    for (let t = 0; t <= maxMs; t += 100) {
      if (await cond()) return;
      clock.advance(100);
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`${what}: not after ${maxMs} ms of machine time`);
  }

  it('prints one plain line per change while running, then the summary; exit 0', async () => {
    await stepUntil('discovery', async () => (await api<Component[]>(sys, 'GET', '/components')).length === 10, 20_000);
    const { x86, arm } = pickImages(await sys.services.ims.listImages());
    await api(sys, 'PUT', '/sessiontemplates/t1', demoTemplate(x86!, arm));
    await api(sys, 'POST', '/sessions', { template_name: 't1', operation: 'boot', name: 'watched' });
    // Set up and powering on, but far from powered on (60 s of machine time per power-on).
    await stepUntil(
      'session setup',
      async () => (await api<Component[]>(sys, 'GET', '/components?session=watched')).some((c) => c.status?.phase === 'powering_on'),
      20_000,
    );

    const res = await bos(['sessions', 'status', 'watched', '--watch', '--interval', '0.1', '--url', sys.bosUrl], 45_000, (all) => {
      if (!run && /status=running/.test(all)) run = setInterval(() => clock.advance(1_000), 5);
    });
    expect(res.stderr).toBe('');
    const lines = res.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^\S+Z session=watched status=running elapsed=\S+ nodes=(\d+) done=0 failed=0 in_progress=\1 powering_on=\1$/);
    for (const l of lines.slice(0, -1)) expect(l).toMatch(/^\S+Z session=watched status=running /);
    const nodes = (await api<Component[]>(sys, 'GET', '/components?session=watched')).length;
    expect(nodes).toBeGreaterThan(0);
    expect(lines.at(-1)).toMatch(new RegExp(`^Session watched complete in \\d+:\\d\\d:\\d\\d: ${nodes} nodes, ${nodes} succeeded, 0 failed$`));
    expect(res.stdout).not.toContain('\x1b[');
    expect(res.code).toBe(0);
  });
});
