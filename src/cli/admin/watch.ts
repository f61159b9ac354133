/**
 * `bos sessions status NAME --watch`: follow a session until it is complete.
 *
 * On a terminal the view redraws in place (cursor movement only, no full-screen mode): a progress
 * bar of nodes done / failed / in progress, counts per phase and per status, elapsed time and the
 * most common errors. Elsewhere (a pipe, a log file) it writes one plain line whenever the counts
 * change. Either way it ends with a summary; the exit code is 0 when no node failed, 2 otherwise. A
 * rolling session whose rollout stopped (nothing left in flight) ends the watch too, with exit code 2.
 */
import type { Component, ExtendedStatus, RolloutStatus, Session } from '../../common/types.js';
import { CliError, seg, type BosApi } from './http.js';
import type { Io } from './common.js';
import { listComponents } from './components.js';
import { formatSeconds } from '../../common/duration.js';

const EXIT_NODES_FAILED = 2;

export interface Progress {
  session: string;
  /** `reboot of template compute` when the session record was read. */
  about?: string;
  sessionStatus: string;
  /** managed_components_count of the extended status (session nodes + staged nodes). */
  managed: number;
  /** Nodes whose `session` is this session, as listed. */
  nodes: number;
  done: number;
  failed: number;
  inProgress: number;
  staged: number;
  phases: Record<string, number>;
  statuses: Record<string, number>;
  /** [error text, node count], most common first. */
  errors: [string, number][];
  elapsed: string;
  /** A rolling session's counts (docs/rollouts.md). */
  rollout?: RolloutStatus;
}

/** `1:02:03.123456` → `1:02:03`; `2 days, 1:02:03.5` → `2 days, 1:02:03`. */
export function trimDuration(d: string | undefined): string {
  return (d ?? '').replace(/\.\d+$/, '') || '0:00:00';
}

/** Counts of one poll: the extended status plus the session's components. */
export function progressOf(session: string, ext: ExtendedStatus, components: readonly Component[], localElapsed: string): Progress {
  const phases: Record<string, number> = {};
  const statuses: Record<string, number> = {};
  let done = 0;
  let failed = 0;
  for (const c of components) {
    const st = c.status?.status || 'stable';
    statuses[st] = (statuses[st] ?? 0) + 1;
    const phase = c.status?.phase || '';
    if (phase) phases[phase] = (phases[phase] ?? 0) + 1;
    if (st === 'stable') done++;
    else if (st === 'failed') failed++;
  }
  const errors = Object.entries(ext.error_summary ?? {})
    .map(([text, v]) => [text, v.count] as [string, number])
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const managed = ext.managed_components_count ?? 0;
  return {
    session,
    sessionStatus: ext.status ?? 'pending',
    managed,
    nodes: components.length,
    done,
    failed,
    inProgress: components.length - done - failed,
    staged: Math.round(((ext.percent_staged ?? 0) * managed) / 100),
    phases,
    statuses,
    errors,
    elapsed: ext.timing?.start_time ? trimDuration(ext.timing.duration) : localElapsed,
    ...(ext.rollout ? { rollout: ext.rollout } : {}),
  };
}

/** The rollout line of the views: waiting, in flight (of at most), done, failed, ETA. */
export function rolloutLine(r: RolloutStatus): string {
  const limit = r.max_in_flight === null ? '' : ` of at most ${r.max_in_flight}`;
  const budget = r.max_failed === null ? '' : ` (budget ${r.max_failed}${r.failures_forgiven ? ` + ${r.failures_forgiven} forgiven` : ''})`;
  const eta = r.eta_seconds === null ? '' : `  ETA ${formatSeconds(r.eta_seconds)}`;
  return `Rollout:  ${r.waiting} waiting, ${r.in_flight} in flight${limit}, ${r.done} done, ${r.failed} failed${budget}${r.canary ? `, canary ${r.canary}` : ''}${eta}`;
}

/** `[====xx....      ]`: done `=`, failed `x`, in progress `.`, scaled to `width`. */
export function bar(p: Pick<Progress, 'done' | 'failed' | 'inProgress'>, width = 40): string {
  const total = p.done + p.failed + p.inProgress;
  if (total === 0) return `[${' '.repeat(width)}]`;
  const d = Math.round((p.done / total) * width);
  const f = Math.min(width - d, Math.round((p.failed / total) * width));
  const i = Math.min(width - d - f, Math.round((p.inProgress / total) * width));
  return `[${'='.repeat(d)}${'x'.repeat(f)}${'.'.repeat(i)}${' '.repeat(width - d - f - i)}]`;
}

function pct(n: number, total: number): string {
  return total ? `${Math.floor((n * 100) / total)}%` : '0%';
}

function counts(rec: Record<string, number>): string {
  const e = Object.entries(rec).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  return e.length ? e.map(([k, v]) => `${k} ${v}`).join('  ') : '-';
}

/** Lines of the live view. */
function viewLines(p: Progress, maxErrors = 5): string[] {
  const settled = p.done + p.failed;
  const lines = [
    `Session ${p.session}${p.about ? ` (${p.about})` : ''}: ${p.sessionStatus}   elapsed ${p.elapsed}`,
    `${bar(p)} ${pct(settled, p.nodes)}  ${p.nodes} nodes: ${p.done} done, ${p.failed} failed, ${p.inProgress} in progress` +
      (p.staged ? `, ${p.staged} staged` : ''),
    `Phases:   ${counts(p.phases)}`,
    `Statuses: ${counts(p.statuses)}`,
  ];
  if (p.rollout) {
    lines.push(rolloutLine(p.rollout));
    if (p.rollout.stopped) lines.push(`Stopped:  ${p.rollout.stopped}`);
  }
  if (p.errors.length) {
    lines.push('Errors:');
    for (const [text, n] of p.errors.slice(0, maxErrors)) lines.push(`  ${String(n).padStart(6)}  ${text.replace(/\s+/g, ' ')}`);
    if (p.errors.length > maxErrors) lines.push(`  (${p.errors.length - maxErrors} more distinct errors)`);
  } else if (p.nodes === 0 && p.sessionStatus === 'pending') {
    lines.push('Waiting for the session to be set up...');
  }
  return lines;
}

/** One plain line (non-terminal output). */
function plainLine(p: Progress): string {
  const phases = Object.entries(p.phases).map(([k, v]) => ` ${k}=${v}`).join('');
  return (
    `session=${p.session} status=${p.sessionStatus} elapsed=${p.elapsed.replace(/ days?, /, 'd')} nodes=${p.nodes} done=${p.done} ` +
    `failed=${p.failed} in_progress=${p.inProgress}${p.staged ? ` staged=${p.staged}` : ''}${phases}` +
    (p.rollout ? ` waiting=${p.rollout.waiting}${p.rollout.stopped ? ' stopped=1' : ''}` : '')
  );
}

/** The summary printed once the session is complete. */
function summaryLines(session: string, ext: ExtendedStatus, maxErrors = 10): { lines: string[]; failed: number } {
  const n = ext.managed_components_count ?? 0;
  const ok = Math.round(((ext.percent_successful ?? 0) * n) / 100);
  const failed = Math.round(((ext.percent_failed ?? 0) * n) / 100);
  const staged = Math.round(((ext.percent_staged ?? 0) * n) / 100);
  const lines = [
    `Session ${session} complete in ${trimDuration(ext.timing?.duration)}: ${n} nodes, ${ok} succeeded, ${failed} failed` +
      (staged ? `, ${staged} staged` : ''),
  ];
  const errors = Object.entries(ext.error_summary ?? {}).sort((a, b) => b[1].count - a[1].count);
  for (const [text, v] of errors.slice(0, maxErrors)) {
    lines.push(`  ${String(v.count).padStart(6)}  ${text.replace(/\s+/g, ' ')}  (${v.list})`);
  }
  if (errors.length > maxErrors) lines.push(`  (${errors.length - maxErrors} more distinct errors)`);
  return { lines, failed };
}

export interface WatchOptions {
  intervalMs: number;
  /** Draw the live view (default: io.out.isTTY). */
  tty?: boolean;
  /** Without a terminal: JSON lines (one object per change, then the final extended status) instead of plain lines. */
  json?: boolean;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  /** Consecutive failed polls tolerated before giving up (default 5). */
  maxPollFailures?: number;
}

const sleepMs = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Follow the session until complete; answers the exit code. */
export async function watchSession(api: BosApi, session: string, io: Io, opts: WatchOptions): Promise<number> {
  const tty = opts.tty ?? Boolean(io.out.isTTY);
  const jsonLines = !tty && opts.json === true;
  const sleep = opts.sleep ?? sleepMs;
  const now = opts.now ?? Date.now;
  const started = now();
  const maxFailures = opts.maxPollFailures ?? 5;
  let drawn = 0;
  let lastPlain = '';
  let lastPlainAt = 0;
  let failures = 0;
  let about: string | undefined;
  for (;;) {
    let ext: ExtendedStatus;
    let components: Component[] = [];
    try {
      if (about === undefined && tty) {
        const s = await api.get<Session>(`/sessions/${seg(session)}`);
        about = `${s.operation}${s.stage ? ' (staged)' : ''} of template ${s.template_name}${s.limit ? `, limit ${s.limit}` : ''}`;
      }
      ext = await api.get<ExtendedStatus>(`/sessions/${seg(session)}/status`);
      if (ext.status !== 'complete') components = await listComponents(api, { session });
      failures = 0;
    } catch (err) {
      // A session that does not exist (or was deleted) ends the watch; a flaky connection does not, at first.
      if (!(err instanceof CliError) || ('status' in err && (err as { status: number }).status < 500) || ++failures > maxFailures) throw err;
      io.err.write(`bos: ${err.message} (retrying, ${failures} of ${maxFailures})\n`);
      await sleep(opts.intervalMs);
      continue;
    }
    if (ext.status === 'complete') {
      const { lines, failed } = summaryLines(session, ext);
      if (tty && drawn) io.out.write(`\x1b[${drawn}F\x1b[J`);
      io.out.write(jsonLines ? JSON.stringify({ session, complete: true, failed, status: ext }) + '\n' : lines.join('\n') + '\n');
      return failed > 0 ? EXIT_NODES_FAILED : 0;
    }
    const p = { ...progressOf(session, ext, components, formatSeconds((now() - started) / 1000)), about };
    if (p.rollout?.stopped && p.rollout.in_flight === 0) {
      // Nothing moves until someone resumes or deletes the session: say so and end the watch.
      if (tty && drawn) io.out.write(`\x1b[${drawn}F\x1b[J`);
      const text = `Session ${session}: rollout stopped: ${p.rollout.stopped.replace(/ \(resume or delete the session\)$/, '')}. ` +
        `Resume it with \`bos sessions resume ${session}\`, or delete it with \`bos sessions delete ${session}\`.`;
      io.out.write(jsonLines ? JSON.stringify({ session, stopped: true, status: ext }) + '\n' : `${viewLines(p).slice(1).join('\n')}\n${text}\n`);
      return EXIT_NODES_FAILED;
    }
    if (tty) {
      const width = Math.max(20, (io.out.columns || 120) - 1);
      const lines = viewLines(p).map((l) => (l.length > width ? l.slice(0, width - 1) + '…' : l));
      let s = drawn ? `\x1b[${drawn}F` : '';
      for (const l of lines) s += `${l}\x1b[K\n`;
      s += '\x1b[J';
      io.out.write(s);
      drawn = lines.length;
    } else {
      const line = plainLine(p);
      const key = plainLine({ ...p, elapsed: '' });
      if (key !== lastPlain || now() - lastPlainAt >= 60_000) {
        const time = new Date(now()).toISOString().replace(/\.\d+Z$/, 'Z');
        io.out.write(jsonLines ? JSON.stringify({ time, ...p, about: undefined }) + '\n' : `${time} ${line}\n`);
        lastPlain = key;
        lastPlainAt = now();
      }
    }
    await sleep(opts.intervalMs);
  }
}
