/**
 * The administrator commands end to end: `bin/bos.js` spawned against a real BOS API on loopback.
 * One or more tests per command group; finer cases run in-process in admin.test.ts.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Component, Session } from '../../src/common/types.js';
import { runBos, sessionComponents, startApi, type Api } from './helpers.js';

// Each test spawns `bos` a few times; on a busy two-core machine one start-up can take seconds.
vi.setConfig({ testTimeout: 120_000 });

let api: Api;
let dir: string;
let env: Record<string, string>;

beforeAll(async () => {
  api = await startApi(['', '/apis/bos']);
  dir = mkdtempSync(join(tmpdir(), 'bos-cli-'));
  // The API base as administrators give it: the gateway path, no /v2.
  env = { BOS_URL: `${api.url}/apis/bos` };
});

afterAll(async () => {
  await api.close();
  rmSync(dir, { recursive: true, force: true });
});

function session(name: string, extra: Partial<Session> = {}): Session {
  return {
    name,
    tenant: null,
    operation: 'reboot',
    template_name: 'compute',
    limit: '',
    stage: false,
    components: '',
    include_disabled: false,
    status: { status: 'running', start_time: '2026-01-01T00:00:00', end_time: null, error: null },
    ...extra,
  };
}

describe('bos sessiontemplates (spawned)', () => {
  it('creates from YAML and from standard input, lists as a table, describes as JSON, reports a missing one', async () => {
    const file = join(dir, 'compute.yaml');
    writeFileSync(
      file,
      [
        'description: compute nodes',
        'enable_cfs: true',
        'cfs: {configuration: compute-config}',
        'boot_sets:',
        '  compute:',
        '    type: s3',
        '    path: s3://boot-images/abc/manifest.json',
        '    etag: e1',
        '    kernel_parameters: console=ttyS0',
        '    node_roles_groups: [Compute]',
      ].join('\n'),
    );
    const created = await runBos(['sessiontemplates', 'create', 'compute', '--file', file], { env });
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/^boot_sets\.compute\.arch\s+X86$/m);

    const list = await runBos(['sessiontemplates', 'list'], { env });
    expect(list.code).toBe(0);
    const lines = list.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+TENANT\s+BOOT SETS\s+CFS\s+DESCRIPTION$/);
    expect(lines[1]).toMatch(/^compute\s+-\s+compute\s+compute-config\s+compute nodes$/);

    const described = await runBos(['sessiontemplates', 'describe', 'compute', '--format', 'json'], { env });
    expect(JSON.parse(described.stdout)).toMatchObject({ name: 'compute', cfs: { configuration: 'compute-config' } });

    const fromStdin = await runBos(['sessiontemplates', 'create', 'piped', '--file', '-', '--format', 'json'], {
      env,
      stdin: JSON.stringify({ boot_sets: { b: { type: 's3', path: 's3://boot-images/i/manifest.json', node_list: ['x3000c0s1b0n0'] } } }),
    });
    expect(fromStdin.stderr).toBe('');
    expect(JSON.parse(fromStdin.stdout)).toMatchObject({ name: 'piped', boot_sets: { b: { arch: 'X86', node_list: ['x3000c0s1b0n0'] } } });

    const missing = await runBos(['sessiontemplates', 'describe', 'nope'], { env });
    expect(missing.code).toBe(1);
    expect(missing.stdout).toBe('');
    expect(missing.stderr).toBe(
      "bos: The resource was not found: Session template 'nope' does not exist (HTTP 404 from GET /apis/bos/v2/sessiontemplates/nope)\n",
    );
  });
});

describe('bos sessions (spawned)', () => {
  it('creates a session, refuses a duplicate with one line and lists it as JSON', async () => {
    await api.store.templates.put('', 'off', {
      name: 'off',
      tenant: null,
      boot_sets: { b: { name: 'b', type: 's3', path: 's3://boot-images/x/manifest.json', node_list: ['x3000c0s1b0n0'] } },
    });
    const args = ['sessions', 'create', '--template-name', 'off', '--operation', 'shutdown', '--name', 'down1', '--limit', 'x3000c0s1b0n0'];
    const first = await runBos([...args, '--format', 'json'], { env });
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ name: 'down1', operation: 'shutdown', limit: 'x3000c0s1b0n0', status: { status: 'pending' } });

    const again = await runBos(args, { env });
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(
      "bos: The resource to be created already exists: Session 'down1' already exists (HTTP 409 from POST /apis/bos/v2/sessions)\n",
    );

    const listed = await runBos(['sessions', 'list', '--status', 'pending', '--format', 'json'], { env });
    expect((JSON.parse(listed.stdout) as Session[]).map((s) => s.name)).toContain('down1');
  });

  it('watch without a terminal: plain lines while running, then a summary and exit 2 when a node failed', async () => {
    await api.store.sessions.put('', 'w1', session('w1'));
    const comps: Component[] = sessionComponents(4, 'w1').map((c) => ({ ...c, status: { phase: 'powering_on', status_override: '' } }));
    await api.store.components.putMany(comps);
    let driven = false;
    const res = await runBos(['sessions', 'status', 'w1', '--watch', '--interval', '0.05'], {
      env,
      onStdout: (all) => {
        if (driven || !all.includes('session=w1')) return;
        driven = true;
        void (async () => {
          await api.store.components.putMany(
            comps.map((c, i) =>
              i === 0
                ? { ...c, enabled: false, error: 'PCS: power on failed', status: { phase: '', status_override: 'failed' } }
                : { ...c, enabled: false, status: { phase: '', status_override: '' } },
            ),
          );
          await api.store.sessions.put('', 'w1', session('w1', { status: { status: 'complete', start_time: '2026-01-01T00:00:00', end_time: '2026-01-01T00:05:07', error: null } }));
        })();
      },
    });
    expect(res.stderr).toBe('');
    const lines = res.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ session=w1 status=running elapsed=\S+ nodes=4 done=0 failed=0 in_progress=4 powering_on=4$/);
    expect(lines).toContain('Session w1 complete in 0:05:07: 4 nodes, 3 succeeded, 1 failed');
    expect(lines[lines.length - 1]).toMatch(/^\s+1 {2}PCS: power on failed {2}\(x3000c0s001b0n0\)$/);
    expect(res.stdout).not.toContain('\x1b[');
    expect(res.code).toBe(2);
  });
});

describe('bos components (spawned)', () => {
  it('lists every component across pages as a table and filters by status', async () => {
    const ids = Array.from({ length: 23 }, (_, i) => `x1000c0s${String(i).padStart(2, '0')}b0n0`);
    await api.store.components.putMany(
      ids.map((id, i) => ({
        id,
        enabled: i !== 5,
        session: 'paged',
        error: i === 5 ? 'x'.repeat(100) : '',
        status: i === 5 ? { phase: '', status_override: 'failed' } : { phase: 'configuring', status_override: '' },
        last_action: { action: 'powering_on', failed: false },
        event_stats: { power_on_attempts: 2, power_off_graceful_attempts: 1, power_off_forceful_attempts: 0 },
      })),
    );
    const res = await runBos(['components', 'list', '--session', 'paged', '--page-size', '5'], { env });
    expect(res.code).toBe(0);
    const lines = res.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+ENABLED\s+PHASE\s+STATUS\s+LAST ACTION\s+ATTEMPTS\s+SESSION\s+ERROR$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/)[0])).toEqual(ids);
    expect(lines[1]).toMatch(/^x1000c0s00b0n0\s+true\s+configuring\s+configuring\s+powering_on\s+2\/1\/0\s+paged\s+-$/);
    // The long error is cut to one readable cell.
    expect(lines[6]).toMatch(/^x1000c0s05b0n0\s+false\s+-\s+failed\s+.*x{59}…$/);

    const failed = await runBos(['components', 'list', '--status', 'failed', '--session', 'paged', '--format', 'json'], { env });
    expect((JSON.parse(failed.stdout) as Component[]).map((c) => c.id)).toEqual(['x1000c0s05b0n0']);
  });

  it('updates a component and reports an unknown one with one line', async () => {
    const ok = await runBos(['components', 'update', 'x1000c0s05b0n0', '--enabled', 'true', '--clear-error', '--retry-policy', '7'], { env });
    expect(ok.stdout).toBe('updated 1 component: x1000c0s05b0n0\n');
    const stored = await api.store.components.get('x1000c0s05b0n0');
    expect(stored).toMatchObject({ enabled: true, error: '', retry_policy: 7 });

    const bad = await runBos(['components', 'describe', 'x9'], { env });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe("bos: The resource was not found: Component 'x9' does not exist (HTTP 404 from GET /apis/bos/v2/components/x9)\n");
  });
});

describe('bos applystaged (spawned)', () => {
  it('is quiet with exit 0 when every node applied, one line and exit 1 when one did not', async () => {
    await api.store.sessions.put('', 'stage1', session('stage1', { operation: 'shutdown', stage: true }));
    const staged = { session: 'stage1', configuration: '', boot_artifacts: { kernel: '', kernel_parameters: '', initrd: '' } };
    await api.store.components.putMany([
      { id: 'x5000c0s1b0n0', enabled: false, staged_state: staged, last_action: { action: 'session_setup' } },
      { id: 'x5000c0s2b0n0', enabled: false, staged_state: staged, last_action: { action: 'session_setup' } },
      { id: 'x5000c0s3b0n0', enabled: false, staged_state: { ...staged, session: 'gone' }, last_action: { action: 'session_setup' } },
    ]);
    const ok = await runBos(['applystaged', 'x5000c0s1b0n0', 'x5000c0s2b0n0'], { env });
    expect(ok).toEqual({ code: 0, stdout: '', stderr: '' });
    expect((await api.store.components.get('x5000c0s1b0n0'))?.enabled).toBe(true);

    const bad = await runBos(['applystaged', 'x5000c0s3b0n0'], { env });
    expect(bad.code).toBe(1);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toBe('bos: applystaged failed for x5000c0s3b0n0: Staged session no longer exists (session: gone, tenant: )\n');
  });
});

describe('bos options (spawned)', () => {
  it('updates typed options and lists them', async () => {
    const up = await runBos(['options', 'update', '--polling-frequency', '33', '--clear-stage', 'true', '--logging-level', 'debug'], { env });
    expect(up.stderr).toBe('');
    expect(up.stdout).toBe('clear_stage = true\nlogging_level = DEBUG\npolling_frequency = 33\n');
    const list = await runBos(['options', 'list'], { env });
    expect(list.stdout).toMatch(/^polling_frequency\s+33$/m);
    expect(list.stdout).toMatch(/^clear_stage\s+true$/m);

    const bad = await runBos(['options', 'update', '--polling-frequency', 'often'], { env });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('"often" is not a whole number');
  });
});

describe('connection problems (spawned)', () => {
  let refused: Server;
  let port: number;
  beforeAll(async () => {
    // A port that was free a moment ago: listen, note it, close.
    refused = createServer();
    await new Promise<void>((r) => refused.listen(0, '127.0.0.1', () => r()));
    port = (refused.address() as { port: number }).port;
    await new Promise<void>((r) => refused.close(() => r()));
  });

  it('says which URL could not be reached and suggests bos up / --url', async () => {
    const res = await runBos(['sessions', 'list', '--url', `http://127.0.0.1:${port}/apis/bos/v2/`]);
    expect(res.code).toBe(1);
    expect(res.stderr).toBe(
      `bos: cannot reach BOS at http://127.0.0.1:${port}/apis/bos/v2 (ECONNREFUSED); is BOS running there? Start one with \`bos up\`, or point --url (or BOS_URL) at the API\n`,
    );
  });
});
