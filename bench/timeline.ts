/**
 * The timeline of a boot session in a deployment-shaped run (bench/rss.bench.ts): when each phase
 * started and ended, and the CPU time each process used in it, so the next lever is read off the
 * figures. Sampled every 250 ms from what the processes already expose: the session record, the
 * simulator's counts (boots, reports) and /proc (CPU time per process). The last interval (every
 * node reported → session complete) is the status operator's passes and session completion.
 */
import { readFileSync } from 'node:fs';
import { sleep } from './scale-common.js';

/** CPU time (user + system) of a process so far, in seconds (Linux /proc; clock ticks of 10 ms). */
function cpuSecondsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

/** What one sample saw. */
interface Seen {
  sessionStatus: string;
  boots: number;
  reports: number;
  cpu: Record<string, number>;
}

interface Milestone {
  name: string;
  at: number;
  cpu: Record<string, number>;
}

export interface TimelineSources {
  /** Session record URL (GET answers `{ status: { status } }`). */
  sessionUrl: string;
  /** The simulator's control counts URL (boots, reports). */
  simCountsUrl: string;
  /** Process ids by name (api, sim, operators, redis). */
  pids: Record<string, number>;
  /** Nodes the session boots. */
  nodes: number;
}

/**
 * Watch a boot session from its creation (`t0`, `cpu0`: time and CPU then) until it completes or
 * `limitMs` passes; returns the milestones in the order they were reached.
 */
export async function watchBoot(
  src: TimelineSources,
  t0: number,
  cpu0: Record<string, number>,
  limitMs: number,
  onTick: () => void = () => {},
): Promise<{ milestones: Milestone[]; complete: boolean }> {
  const milestones: Milestone[] = [{ name: 'session created', at: t0, cpu: cpu0 }];
  const reached = new Set<string>();
  const mark = (name: string, cpu: Record<string, number>) => {
    if (reached.has(name)) return;
    reached.add(name);
    milestones.push({ name, at: Date.now(), cpu });
  };
  for (;;) {
    const seen = await look(src);
    if (seen.sessionStatus === 'running' || seen.sessionStatus === 'complete') mark('set up (running)', seen.cpu);
    if (seen.boots > 0) mark('first node booted', seen.cpu);
    if (seen.reports > 0) mark('first node report', seen.cpu);
    if (seen.boots >= src.nodes) mark('every node booted', seen.cpu);
    if (seen.reports >= src.nodes) mark('every node reported', seen.cpu);
    if (seen.sessionStatus === 'complete') {
      mark('session complete', seen.cpu);
      return { milestones: milestones.sort((a, b) => a.at - b.at), complete: true };
    }
    if (Date.now() - t0 > limitMs) return { milestones: milestones.sort((a, b) => a.at - b.at), complete: false };
    onTick();
    await sleep(250);
  }
}

async function look(src: TimelineSources): Promise<Seen> {
  const cpu = Object.fromEntries(Object.entries(src.pids).map(([k, pid]) => [k, cpuSecondsOf(pid)]));
  const [session, summary] = await Promise.all([
    fetch(src.sessionUrl).then((r) => (r.ok ? (r.json() as Promise<{ status?: { status?: string } }>) : {})).catch(() => ({})),
    fetch(src.simCountsUrl).then((r) => r.json() as Promise<{ boots?: number; reports?: number }>).catch(() => ({})),
  ]);
  return {
    sessionStatus: (session as { status?: { status?: string } }).status?.status ?? '',
    boots: (summary as { boots?: number }).boots ?? 0,
    reports: (summary as { reports?: number }).reports ?? 0,
    cpu,
  };
}

/** CPU seconds of each process right now. */
export function cpuNow(pids: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuSecondsOf(pid)]));
}

/** The milestones as a markdown table: each interval, its length, and CPU seconds per process in it. */
export function timelineTable(milestones: readonly Milestone[]): string {
  const names = Object.keys(milestones[0]?.cpu ?? {});
  const t0 = milestones[0]?.at ?? 0;
  const lines = [
    `| from → to | at (s) | length (s) | ${names.map((n) => `CPU ${n} (s)`).join(' | ')} |`,
    `|---|---|---|${names.map(() => '---').join('|')}|`,
  ];
  for (let i = 1; i < milestones.length; i++) {
    const a = milestones[i - 1]!;
    const b = milestones[i]!;
    const cpu = names.map((n) => ((b.cpu[n] ?? NaN) - (a.cpu[n] ?? NaN)).toFixed(1));
    lines.push(`| ${a.name} → ${b.name} | ${((a.at - t0) / 1000).toFixed(1)}–${((b.at - t0) / 1000).toFixed(1)} | ${((b.at - a.at) / 1000).toFixed(1)} | ${cpu.join(' | ')} |`);
  }
  const first = milestones[0];
  const last = milestones[milestones.length - 1];
  if (first && last && last !== first) {
    const total = names.map((n) => ((last.cpu[n] ?? NaN) - (first.cpu[n] ?? NaN)).toFixed(1));
    lines.push(`| **whole boot** | 0–${((last.at - t0) / 1000).toFixed(1)} | ${((last.at - t0) / 1000).toFixed(1)} | ${total.join(' | ')} |`);
  }
  return lines.join('\n');
}
