import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BOS_BIN = fileURLToPath(new URL('../../bin/bos.js', import.meta.url));

/** A `bos` command run as a process of its own, as an administrator or a pod would run it. */
export interface BosProcess {
  proc: ChildProcess;
  /** What it wrote to stdout and stderr so far. */
  output(): string;
  /** Resolves with the exit code and the time it exited. */
  exited: Promise<{ code: number | null; at: number }>;
  /** SIGKILL unless it has exited (for clean-ups). */
  kill(): void;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

/** Start `bos <args>` with `env` added to this process's environment. */
export function spawnBos(args: string[], env: Record<string, string> = {}): BosProcess {
  const proc = spawn(process.execPath, [BOS_BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(proc);
  let out = '';
  proc.stdout!.on('data', (d) => (out += String(d)));
  proc.stderr!.on('data', (d) => (out += String(d)));
  const exited = new Promise<{ code: number | null; at: number }>((resolve) =>
    proc.once('exit', (code) => {
      running.delete(proc);
      resolve({ code, at: Date.now() });
    }),
  );
  return {
    proc,
    output: () => out,
    exited,
    kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    },
  };
}

/** Wait until `url` answers 200 (the process is up), or fail with what the process printed. */
export async function waitAnswers(p: BosProcess, url: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (p.proc.exitCode !== null || p.proc.signalCode !== null) throw new Error(`bos exited at start-up: ${p.output().slice(-2000)}`);
    try {
      if ((await fetch(url, { signal: AbortSignal.timeout(2_000) })).ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer within ${ms / 1000} s: ${p.output().slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
