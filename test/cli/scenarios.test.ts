/**
 * Administrator scenarios end to end, driven the way an administrator drives them: `bos up` spawned
 * (API, simulated machine room and operators in one process, instant hardware, knob flags for the
 * faulty nodes, `--option` for the operator tuning), and every step a spawned `bos` command —
 * `sessiontemplates create`, `sessions create`, `sessions status --watch`, `components list`,
 * `applystaged` — with its real output and exit code asserted.
 *
 * One `bos up` serves the scenarios that do not interfere: each works on its own compute nodes
 * (limits), so they run concurrently. Session clean-up (a short TTL with machine time sped up), the
 * clean Ctrl-C and the restart on Redis each have their own `bos up`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeXname } from '../../src/sim/layout.js';
import { manifestPath, SIM_IMAGES } from '../../src/sim/images.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { BOS_BIN, cleanEnv, runBos, type Spawned } from './helpers.js';

/** A spawned `bos up`. */
interface Up {
  /** API base for `--url` (`<base>/apis/bos`). */
  url: string;
  child: ChildProcess;
  stdout(): string;
  /** Send a signal and resolve with the exit code (SIGKILL after 15 s). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

const started = new Set<Up>();

async function startUp(args: string[]): Promise<Up> {
  const child = spawn(process.execPath, [BOS_BIN, 'up', '--port', '0', '--log-level', 'silent', ...args], {
    env: cleanEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const up: Up = {
    url: '',
    child,
    stdout: () => out,
    async stop(signal = 'SIGTERM') {
      started.delete(up);
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
  started.add(up);
  const deadline = Date.now() + 20_000;
  for (;;) {
    const m = /BOS v2 API\s+(http:\/\/127\.0\.0\.1:\d+)\/apis\/bos\/v2/.exec(out);
    if (m) {
      up.url = `${m[1]}/apis/bos`;
      return up;
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      await up.stop('SIGKILL');
      throw new Error(`bos up did not start (exit ${child.exitCode}):\n${out}\n${err}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

afterAll(async () => {
  await Promise.all([...started].map((u) => u.stop('SIGKILL')));
});
// Should the test process end without its hooks, no bos up is left behind.
process.on('exit', () => {
  for (const u of started) u.child.kill('SIGKILL');
});

const x = (i: number) => computeXname(i);

function bosAt(up: Up) {
  return (args: string[], opts: { stdin?: string; timeoutMs?: number } = {}): Promise<Spawned> =>
    runBos([...args, '--url', up.url], { timeoutMs: opts.timeoutMs ?? 40_000, stdin: opts.stdin });
}

/** Run and require exit 0 (the output is shown when it is not). */
async function ok(run: Promise<Spawned>): Promise<string> {
  const r = await run;
  expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
  return r.stdout;
}

const X86 = manifestPath(SIM_IMAGES.computeX86);
const ARM = manifestPath(SIM_IMAGES.computeArm);

/** Boot sets over every compute node, X86 and ARM. */
function computeTemplate(configuration: string, archs: ('X86' | 'ARM')[] = ['X86', 'ARM']): string {
  const boot_sets: Record<string, unknown> = {};
  for (const arch of archs) {
    boot_sets[`compute-${arch.toLowerCase()}`] = {
      path: arch === 'ARM' ? ARM : X86,
      type: 's3',
      node_roles_groups: ['Compute'],
      arch,
      kernel_parameters: 'console=ttyS0',
      rootfs_provider: 'sbps',
    };
  }
  return JSON.stringify({ enable_cfs: true, cfs: { configuration }, boot_sets });
}

interface Comp {
  id: string;
  session?: string;
  enabled?: boolean;
  error?: string;
  desired_state?: { boot_artifacts?: { kernel?: string }; configuration?: string };
  staged_state?: { session?: string };
  actual_state?: { boot_artifacts?: { kernel?: string } };
  status?: { phase?: string; status?: string };
  last_action?: { action?: string };
}

async function components(bos: ReturnType<typeof bosAt>, ids: string[]): Promise<Map<string, Comp>> {
  const list = JSON.parse(await ok(bos(['components', 'list', '--ids', ids.join(','), '--format', 'json']))) as Comp[];
  return new Map(list.map((c) => [c.id, c]));
}

/** `sessions status NAME --watch` until complete: exit code and the summary line. */
async function watch(bos: ReturnType<typeof bosAt>, name: string): Promise<{ code: number | null; summary: string; out: string }> {
  const r = await bos(['sessions', 'status', name, '--watch', '--interval', '0.5'], { timeoutMs: 60_000 });
  const summary = r.stdout.split('\n').find((l) => l.startsWith(`Session ${name} complete`)) ?? '';
  expect(summary, `${r.stdout}\n${r.stderr}`).not.toBe('');
  return { code: r.code, summary, out: r.stdout };
}

async function createSession(bos: ReturnType<typeof bosAt>, name: string, template: string, operation: string, ...more: string[]): Promise<void> {
  await ok(bos(['sessions', 'create', '--name', name, '--template-name', template, '--operation', operation, ...more]));
}

describe('administrator scenarios on one bos up', { timeout: 80_000 }, () => {
  // 64 nodes: 60 compute (compute i is ARM when i % 8 == 7; blue i < 30, green i ≥ 30, gpu i % 4 == 3).
  const neverBoots = x(20);
  const stubborn = 24; // ignores a graceful power-off
  const locked = x(8);
  const disabled = x(9);
  let up: Up;
  let bos: ReturnType<typeof bosAt>;

  beforeAll(async () => {
    up = await startUp([
      '--nodes', '64', '--instant',
      '--never-boot', neverBoots,
      '--ignore-soft-off', x(stubborn),
      '--locked', locked,
      '--disabled', disabled,
      '--failing-config', 'broken-config',
      '--option', 'default_retry_policy=1',
      '--option', 'max_power_on_wait_time=3',
      '--option', 'max_boot_wait_time=3',
      '--option', 'polling_frequency=1',
      // applystaged clears what it applied, so the staged session can complete.
      '--option', 'clear_stage=true',
    ]);
    bos = bosAt(up);
    await ok(bos(['sessiontemplates', 'create', 'compute', '--file', '-'], { stdin: computeTemplate('compute-config') }));
    await ok(bos(['sessiontemplates', 'create', 'arm-only', '--file', '-'], { stdin: computeTemplate('arm-config', ['ARM']) }));
    await ok(bos(['sessiontemplates', 'create', 'broken', '--file', '-'], { stdin: computeTemplate('broken-config') }));
    // Discovery has put every node in BOS.
    const deadline = Date.now() + 20_000;
    for (;;) {
      const all = JSON.parse(await ok(bos(['components', 'list', '--format', 'json']))) as Comp[];
      if (all.length >= 64) break;
      if (Date.now() > deadline) throw new Error(`discovery found ${all.length} of 64 nodes`);
      await new Promise((r) => setTimeout(r, 300));
    }
  }, 40_000);

  describe.concurrent('scenarios', () => {
    it('boot, reboot and shutdown of four nodes', async () => {
      const nodes = [0, 1, 2, 3].map(x);
      await createSession(bos, 'boot-4', 'compute', 'boot', '--limit', nodes.join(','));
      const boot = await watch(bos, 'boot-4');
      expect(boot.code).toBe(0);
      expect(boot.summary).toMatch(/: 4 nodes, 4 succeeded, 0 failed/);
      let comps = await components(bos, nodes);
      for (const id of nodes) {
        const c = comps.get(id)!;
        expect(c.status?.status, id).toBe('stable');
        expect(c.session).toBe('boot-4');
        expect(c.desired_state?.configuration).toBe('compute-config');
        expect(c.actual_state?.boot_artifacts?.kernel).toBe(c.desired_state?.boot_artifacts?.kernel);
      }

      await createSession(bos, 'reboot-4', 'compute', 'reboot', '--limit', nodes.join(','));
      const reboot = await watch(bos, 'reboot-4');
      expect(reboot.code).toBe(0);
      expect(reboot.summary).toMatch(/: 4 nodes, 4 succeeded, 0 failed/);
      comps = await components(bos, nodes);
      for (const id of nodes) {
        expect(comps.get(id)!.session).toBe('reboot-4');
        expect(comps.get(id)!.status?.status).toBe('stable');
      }

      await createSession(bos, 'shutdown-4', 'compute', 'shutdown', '--limit', nodes.join(','));
      const shutdown = await watch(bos, 'shutdown-4');
      expect(shutdown.code).toBe(0);
      comps = await components(bos, nodes);
      for (const id of nodes) {
        const c = comps.get(id)!;
        expect(c.session).toBe('shutdown-4');
        expect(c.status?.status).toBe('stable');
        expect(c.desired_state?.boot_artifacts?.kernel ?? '').toBe('');
        expect(c.actual_state?.boot_artifacts?.kernel ?? '').toBe('');
      }
      // The table shows them too, done (disabled) and stable.
      const table = await ok(bos(['components', 'list', '--session', 'shutdown-4']));
      expect(table.split('\n')[0]).toMatch(/^ID\s+ENABLED\s+PHASE\s+STATUS/);
      for (const id of nodes) expect(table).toMatch(new RegExp(`^${id}\\s+false\\s+\\S+\\s+stable\\s.*shutdown-4`, 'm'));
    });

    it('a staged session changes nothing until bos applystaged', async () => {
      const nodes = [4, 5, 6].map(x);
      await createSession(bos, 'staged-3', 'compute', 'boot', '--stage', '--limit', nodes.join(','));
      let comps = await components(bos, nodes);
      for (const id of nodes) {
        expect(comps.get(id)!.staged_state?.session).toBe('staged-3');
        expect(comps.get(id)!.desired_state?.boot_artifacts?.kernel ?? '').toBe('');
      }
      // applystaged is quiet on success.
      const r = await bos(['applystaged', ...nodes]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout + r.stderr).toBe('');
      const w = await watch(bos, 'staged-3');
      expect(w.code).toBe(0);
      expect(w.summary).toMatch(/: 3 nodes, 3 succeeded, 0 failed/);
      comps = await components(bos, nodes);
      for (const id of nodes) {
        const c = comps.get(id)!;
        expect(c.session).toBe('staged-3');
        expect(c.staged_state?.session ?? '').toBe('');
        expect(c.status?.status).toBe('stable');
        expect(c.actual_state?.boot_artifacts?.kernel).toBeTruthy();
        expect(c.actual_state?.boot_artifacts?.kernel).toBe(c.desired_state?.boot_artifacts?.kernel);
      }
      // Nothing staged any more: applystaged says so and fails.
      const again = await bos(['applystaged', nodes[0]!]);
      expect(again.code).toBe(1);
      expect(again.stderr).toMatch(/nothing staged/);
    });

    it('a limit of a role, groups, & and ! boots exactly those nodes', async () => {
      // Compute ∩ gpu ∩ green = compute 31, 35, ..., 59 (ARM ones among them); one excluded.
      const chosen = [31, 35, 39, 43, 47, 51, 55, 59].map(x);
      const excluded = x(43);
      await createSession(bos, 'limited', 'compute', 'boot', '--limit', `Compute,&gpu,&green,!${excluded}`);
      const w = await watch(bos, 'limited');
      expect(w.code).toBe(0);
      expect(w.summary).toMatch(/: 7 nodes, 7 succeeded, 0 failed/);
      const all = JSON.parse(await ok(bos(['components', 'list', '--session', 'limited', '--format', 'json']))) as Comp[];
      expect(all.map((c) => c.id).sort()).toEqual(chosen.filter((id) => id !== excluded).sort());
      const near = await components(bos, [excluded, x(30), x(33), x(34)]);
      for (const c of near.values()) {
        expect(c.session ?? '', c.id).toBe('');
        expect(c.desired_state?.boot_artifacts?.kernel ?? '').toBe('');
      }
    });

    it('HSM-locked and HSM-disabled nodes are left alone; --include-disabled takes the disabled one', async () => {
      const normal = x(10);
      await createSession(bos, 'lockdis', 'compute', 'boot', '--limit', [locked, disabled, normal].join(','));
      const w = await watch(bos, 'lockdis');
      expect(w.code).toBe(0);
      expect(w.summary).toMatch(/: 1 nodes?, 1 succeeded, 0 failed/);
      let comps = await components(bos, [locked, disabled, normal]);
      expect(comps.get(normal)!.session).toBe('lockdis');
      expect(comps.get(normal)!.status?.status).toBe('stable');
      for (const id of [locked, disabled]) {
        expect(comps.get(id)!.session ?? '', id).toBe('');
        expect(comps.get(id)!.desired_state?.boot_artifacts?.kernel ?? '', id).toBe('');
      }

      await createSession(bos, 'with-disabled', 'compute', 'boot', '--include-disabled', '--limit', [locked, disabled].join(','));
      const w2 = await watch(bos, 'with-disabled');
      expect(w2.code).toBe(0);
      expect(w2.summary).toMatch(/: 1 nodes?, 1 succeeded, 0 failed/);
      comps = await components(bos, [locked, disabled]);
      expect(comps.get(disabled)!.session).toBe('with-disabled');
      expect(comps.get(disabled)!.status?.status).toBe('stable');
      expect(comps.get(locked)!.session ?? '').toBe('');
    });

    it('an ARM boot set touches only the ARM nodes of the limit', async () => {
      const nodes = [12, 13, 14, 15].map(x); // compute 15 is ARM
      await createSession(bos, 'arm', 'arm-only', 'boot', '--limit', nodes.join(','));
      const w = await watch(bos, 'arm');
      expect(w.code).toBe(0);
      expect(w.summary).toMatch(/: 1 nodes?, 1 succeeded, 0 failed/);
      const comps = await components(bos, nodes);
      expect(comps.get(x(15))!.session).toBe('arm');
      expect(comps.get(x(15))!.desired_state?.configuration).toBe('arm-config');
      expect(comps.get(x(15))!.actual_state?.boot_artifacts?.kernel).toContain(SIM_IMAGES.computeArm);
      for (const i of [12, 13, 14]) expect(comps.get(x(i))!.session ?? '', x(i)).toBe('');
    });

    it('a second session over the same nodes takes them over from the first', async () => {
      const nodes = [16, 17, stubborn].map(x);
      await createSession(bos, 'warm', 'compute', 'boot', '--limit', nodes.join(','));
      expect((await watch(bos, 'warm')).code).toBe(0);
      // The first session shuts them down; the stubborn node ignores the graceful power-off, so the
      // session is still at work on it (max_power_off_wait_time 15 s before a forced power-off).
      await createSession(bos, 'first', 'compute', 'shutdown', '--limit', nodes.join(','));
      const deadline = Date.now() + 10_000;
      for (;;) {
        const c = (await components(bos, [x(stubborn)])).get(x(stubborn))!;
        if (c.session === 'first' && c.last_action?.action === 'powering_off_gracefully') break;
        if (Date.now() > deadline) throw new Error(`the first session did not start powering off: ${JSON.stringify(c)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      const running = JSON.parse(await ok(bos(['sessions', 'describe', 'first', '--format', 'json']))) as { status: { status: string } };
      expect(running.status.status).toBe('running');

      await createSession(bos, 'second', 'compute', 'boot', '--limit', nodes.join(','));
      const [w1, w2] = await Promise.all([watch(bos, 'first'), watch(bos, 'second')]);
      expect(w2.code).toBe(0);
      expect(w2.summary).toMatch(/: 3 nodes, 3 succeeded, 0 failed/);
      expect(w1.code).toBe(0);
      const comps = await components(bos, nodes);
      for (const id of nodes) {
        const c = comps.get(id)!;
        expect(c.session, id).toBe('second');
        expect(c.status?.status).toBe('stable');
        expect(c.desired_state?.boot_artifacts?.kernel, id).toContain(SIM_IMAGES.computeX86);
      }
      // The two that went off were booted again by the second session.
      for (const id of [16, 17].map(x)) {
        expect(comps.get(id)!.actual_state?.boot_artifacts?.kernel).toBe(comps.get(id)!.desired_state?.boot_artifacts?.kernel);
      }
      // The stubborn one never went off and still runs the image the second session wants: leaving
      // the powering_off phase empties its recorded actual state (docs/operators.md, "What the status operator writes") until its next
      // report, and HSM shows it booted.
      const hsm = (await (await fetch(`${up.url.replace(/\/apis\/bos$/, '')}/apis/smd/hsm/v2/State/Components/${x(stubborn)}`)).json()) as { State: string };
      expect(hsm.State).toBe('Ready');
      const first = JSON.parse(await ok(bos(['sessions', 'describe', 'first', '--format', 'json']))) as { status: { status: string } };
      expect(first.status.status).toBe('complete');
      const owned = JSON.parse(await ok(bos(['components', 'list', '--session', 'first', '--format', 'json']))) as Comp[];
      expect(owned).toEqual([]);
    });

    it('a node that never boots ends failed after the retry limit; watch exits 2', async () => {
      const good = x(21);
      await createSession(bos, 'neverboot', 'compute', 'boot', '--limit', `${neverBoots},${good}`);
      const w = await watch(bos, 'neverboot');
      expect(w.code).toBe(2);
      expect(w.summary).toMatch(/: 2 nodes, 1 succeeded, 1 failed/);
      expect(w.out).toContain(neverBoots);
      const comps = await components(bos, [neverBoots, good]);
      expect(comps.get(neverBoots)!.status?.status).toBe('failed');
      expect(comps.get(good)!.status?.status).toBe('stable');
      const failed = JSON.parse(await ok(bos(['components', 'list', '--status', 'failed', '--format', 'json']))) as Comp[];
      expect(failed.map((c) => c.id)).toContain(neverBoots);
    });

    it('a failing CFS configuration ends its nodes failed; watch exits 2', async () => {
      const nodes = [22, 23].map(x);
      await createSession(bos, 'cfsfail', 'broken', 'boot', '--limit', nodes.join(','));
      const w = await watch(bos, 'cfsfail');
      expect(w.code).toBe(2);
      expect(w.summary).toMatch(/: 2 nodes, 0 succeeded, 2 failed/);
      const comps = await components(bos, nodes);
      for (const id of nodes) {
        expect(comps.get(id)!.status?.status, id).toBe('failed');
        // Booted to the image; only configuration failed.
        expect(comps.get(id)!.actual_state?.boot_artifacts?.kernel).toBe(comps.get(id)!.desired_state?.boot_artifacts?.kernel);
      }
    });

    it('--dry-run shows the nodes a session would act on and those it would leave out, creating nothing', async () => {
      const nodes = [40, 41, 42].map(x);
      const limit = [...nodes, locked, disabled].join(',');
      const out = await ok(bos(['sessions', 'create', '--name', 'dry', '--template-name', 'compute', '--operation', 'reboot', '--limit', limit, '--dry-run']));
      expect(out).toMatch(/^Preview of a reboot session of template compute, limit .* \(nothing was created\)$/m);
      expect(out).toContain(`boot set compute-x86: 3 node(s): ${nodes.join(',')}`);
      expect(out).toContain(`left out, locked in HSM: 1: ${locked}`);
      expect(out).toContain(`left out, disabled in HSM (--include-disabled takes them): 1: ${disabled}`);
      expect(out).toMatch(/^ {2}kernel {13}s3:\/\/.*\/kernel$/m);
      expect(out).toContain('The session would act on 3 node(s).');
      const json = JSON.parse(await ok(bos(['sessions', 'create', '--template-name', 'compute', '--operation', 'reboot', '--limit', limit, '--dry-run', '--format', 'json'])));
      expect(json.nodes).toEqual(nodes);
      const describe = await bos(['sessions', 'describe', 'dry']);
      expect(describe.code).toBe(1);
      expect(describe.stderr).toMatch(/not found|could not be found/i);
    });

    it('a rolling reboot starts nodes a few at a time; a stopped rollout is resumed with bos sessions resume', async () => {
      const nodes = [25, 26, 27, 28, 29, 36].map(x);
      await createSession(bos, 'rolling', 'compute', 'reboot', '--limit', nodes.join(','), '--max-in-flight', '2');
      const w = await watch(bos, 'rolling');
      expect(w.code).toBe(0);
      expect(w.summary).toMatch(/: 6 nodes, 6 succeeded, 0 failed/);
      expect(w.out).toMatch(/ waiting=[1-9]/); // nodes were seen waiting their turn
      const status = await ok(bos(['sessions', 'status', 'rolling']));
      expect(status).toMatch(/^rollout +0 waiting, 0 in flight of at most 2, 6 done, 0 failed/m);

      // A rollout whose nodes fail: it stops at its budget, the watch says how to go on.
      const failing = [37, 38].map(x);
      await createSession(bos, 'rolling-bad', 'broken', 'boot', '--limit', failing.join(','), '--max-in-flight', '1', '--max-failed', '0');
      const stopped = await bos(['sessions', 'status', 'rolling-bad', '--watch', '--interval', '0.5'], { timeoutMs: 60_000 });
      expect(stopped.code).toBe(2);
      expect(stopped.stdout).toContain('Session rolling-bad: rollout stopped: failure budget exceeded: 1 node(s) failed, max_failed is 0; 1 node(s) not started.');
      expect(stopped.stdout).toContain('bos sessions resume rolling-bad');
      const resumed = await ok(bos(['sessions', 'resume', 'rolling-bad']));
      expect(resumed).toMatch(/^resumed session rolling-bad \(it had stopped: failure budget exceeded: .*\); 1 failure\(s\) forgiven, 1 node\(s\) waiting$/m);
      const end = await watch(bos, 'rolling-bad');
      expect(end.code).toBe(2);
      expect(end.summary).toMatch(/: 2 nodes, 0 succeeded, 2 failed/);
      const notRolling = await bos(['sessions', 'resume', 'rolling']);
      expect(notRolling.code).toBe(1);
      expect(notRolling.stderr).toMatch(/rolling is complete: there is nothing to resume/);
    });
  });

  afterAll(async () => {
    await up?.stop('SIGKILL');
  });
});

describe('bos up lifecycle', { timeout: 60_000 }, () => {
  it('deletes completed sessions after cleanup_completed_session_ttl, and stops cleanly on Ctrl-C', async () => {
    // Machine time ×60: the 5-minute TTL passes in about five seconds of real time, long enough for
    // the watch below to see the session complete before it is deleted, even on a busy machine.
    const up = await startUp(['--nodes', '4', '--instant', '--speed', '60', '--option', 'cleanup_completed_session_ttl=5m', '--option', 'polling_frequency=10']);
    expect(up.stdout()).toMatch(/machine time ×60/);
    const bos = bosAt(up);
    const options = JSON.parse(await ok(bos(['options', 'list', '--format', 'json']))) as Record<string, unknown>;
    expect(options.cleanup_completed_session_ttl).toBe('5m');
    await ok(bos(['sessiontemplates', 'create', 'compute', '--file', '-'], { stdin: computeTemplate('compute-config') }));
    await createSession(bos, 'short-lived', 'compute', 'boot', '--limit', x(0));
    const w = await watch(bos, 'short-lived');
    expect(w.code).toBe(0);
    const deadline = Date.now() + 20_000;
    let listed = '';
    for (;;) {
      listed = await ok(bos(['sessions', 'list', '--format', 'json']));
      if ((JSON.parse(listed) as unknown[]).length === 0) break;
      if (Date.now() > deadline) throw new Error(`the complete session is still there: ${listed}`);
      await new Promise((r) => setTimeout(r, 300));
    }
    const gone = await bos(['sessions', 'describe', 'short-lived']);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/does not exist/);

    const code = await up.stop('SIGINT');
    expect(code).toBe(0);
    expect(up.stdout()).toMatch(/stopping: .*\nstopped\n$/);
  });

  it('refuses a bad --option with one line', async () => {
    const r = await runBos(['up', '--port', '0', '--option', 'max_boot_wait_time=soon'], { timeoutMs: 20_000 });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.split('\n')[0]).toMatch(/max_boot_wait_time: "soon" is not a whole number/);
  });
});

describe('bos up --redis survives a restart', { timeout: 60_000 }, () => {
  let redis: TestRedis | undefined;
  afterAll(async () => {
    await redis?.stop();
  });

  it('finds the template, the complete session and the booted components again', async () => {
    redis = await startRedis({ appendonly: true });
    const nodes = [0, 1, 2].map(x);
    let up = await startUp(['--nodes', '8', '--instant', '--redis', redis.url]);
    expect(up.stdout()).toMatch(/on Redis/);
    let bos = bosAt(up);
    await ok(bos(['sessiontemplates', 'create', 'compute', '--file', '-'], { stdin: computeTemplate('compute-config') }));
    await createSession(bos, 'kept', 'compute', 'boot', '--limit', nodes.join(','));
    const w = await watch(bos, 'kept');
    expect(w.code).toBe(0);
    expect(w.summary).toMatch(/: 3 nodes, 3 succeeded, 0 failed/);
    const before = await components(bos, nodes);
    // An option the administrator changed is kept too (not reset to the start-up tuning).
    await ok(bos(['options', 'update', '--polling-frequency', '7']));
    expect(await up.stop('SIGTERM')).toBe(0);

    up = await startUp(['--nodes', '8', '--instant', '--redis', redis.url]);
    bos = bosAt(up);
    const templates = await ok(bos(['sessiontemplates', 'list']));
    expect(templates).toMatch(/^compute\b/m);
    const sessions = JSON.parse(await ok(bos(['sessions', 'list', '--format', 'json']))) as { name: string; status: { status: string } }[];
    expect(sessions.map((s) => [s.name, s.status.status])).toEqual([['kept', 'complete']]);
    const table = await ok(bos(['sessions', 'list']));
    expect(table).toMatch(/^kept\b.*complete/m);
    const after = await components(bos, nodes);
    for (const id of nodes) {
      expect(after.get(id)!.session).toBe('kept');
      expect(after.get(id)!.status?.status).toBe('stable');
      expect(after.get(id)!.desired_state?.boot_artifacts?.kernel).toBe(before.get(id)!.desired_state?.boot_artifacts?.kernel);
    }
    const all = JSON.parse(await ok(bos(['components', 'list', '--format', 'json']))) as Comp[];
    expect(all).toHaveLength(8);
    const options = JSON.parse(await ok(bos(['options', 'list', '--format', 'json']))) as Record<string, unknown>;
    expect(options.polling_frequency).toBe(7);
    expect(await up.stop('SIGTERM')).toBe(0);
  });
});
